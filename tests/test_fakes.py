"""Self-tests of the fake Slack server (tests/fakes/slack.py) and the signing helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import Clock, SignatureVerifier

from tests.fakes.signing import (
    github_headers,
    interactivity_body,
    slack_headers,
    slash_command_body,
    trello_headers,
)
from tests.fakes.slack import FakeSlack, fake_slack

FIXTURES = Path(__file__).parent / "fixtures"
SIGNATURE_EXAMPLE = FIXTURES / "slack" / "slash_command_signature_example.json"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    yield from fake_slack()


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(base_url=fake.base_url, token="xoxb-test")


def _error(exc: pytest.ExceptionInfo[SlackApiError]) -> Any:
    return exc.value.response["error"]


def _post_json(url: str, payload: dict[str, Any]) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(response.status), bytes(response.read())


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


# -- signing -----------------------------------------------------------------


def test_slack_headers_reproduce_documented_test_vector() -> None:
    example = json.loads(SIGNATURE_EXAMPLE.read_text())
    timestamp = int(example["headers"]["X-Slack-Request-Timestamp"])

    headers = slack_headers(example["signing_secret"], example["raw_body"], timestamp=timestamp)

    assert headers == example["headers"]
    assert headers["X-Slack-Signature"] == example["expected_signature"]
    assert (
        slack_headers(example["signing_secret"], example["raw_body"].encode(), timestamp)
        == (example["headers"])
    )


def test_slash_command_body_encodes_like_slack() -> None:
    example = json.loads(SIGNATURE_EXAMPLE.read_text())
    fields = {k: v[0] if v else "" for k, v in parse_qs(example["raw_body"], True).items()}

    body = slash_command_body(**fields, api_app_id=None, is_enterprise_install=None)

    assert body == example["raw_body"]


def test_slash_command_body_defaults_and_overrides() -> None:
    fields = parse_qs(slash_command_body(text="join robots", user_id="U999"))

    assert fields["text"] == ["join robots"]
    assert fields["user_id"] == ["U999"]
    assert fields["command"] == ["/makers"]
    for name in ("token", "team_id", "channel_id", "response_url", "trigger_id", "api_app_id"):
        assert fields[name][0]


def test_signature_verifier_accepts_slack_headers() -> None:
    body = slash_command_body(text="hello")
    headers = slack_headers("s3cret", body, timestamp=1_700_000_000)

    assert SignatureVerifier("s3cret", FixedClock(1_700_000_030)).is_valid_request(body, headers)
    assert not SignatureVerifier("other", FixedClock(1_700_000_030)).is_valid_request(body, headers)
    stale = SignatureVerifier("s3cret", FixedClock(1_700_000_000 + 301))
    assert not stale.is_valid_request(body, headers)


def test_interactivity_body_is_a_payload_field() -> None:
    payload = {"type": "block_actions", "actions": [{"action_id": "join", "value": "ü 1"}]}
    body = interactivity_body(payload)

    assert body.startswith("payload=")
    assert json.loads(parse_qs(body)["payload"][0]) == payload
    headers = slack_headers("s3cret", body, timestamp=1_700_000_000)
    assert SignatureVerifier("s3cret", FixedClock(1_700_000_000)).is_valid_request(body, headers)


def test_github_headers_match_documented_vector() -> None:
    # Example from GitHub's "Validating webhook deliveries" documentation.
    headers = github_headers("It's a Secret to Everybody", b"Hello, World!", "ping", "d-1")

    assert headers["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    assert headers["X-GitHub-Event"] == "ping"
    assert headers["X-GitHub-Delivery"] == "d-1"
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert headers["Content-Type"] == "application/json"


def test_trello_headers_sign_body_then_callback_url() -> None:
    body, url = b'{"action":{"type":"createCard"}}', "https://bot.example/trello/webhook"
    expected = hmac.new(b"app-secret", body + url.encode(), hashlib.sha1).digest()

    headers = trello_headers("app-secret", body, url)

    assert base64.b64decode(headers["X-Trello-Webhook"]) == expected


# -- fake Slack: recording and world state -------------------------------------


def test_webclient_creates_posts_updates(fake: FakeSlack, client: WebClient) -> None:
    auth = client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("UBOT", "BBOT", "T0001")

    channel = client.conversations_create(name="robots")["channel"]
    assert channel["id"].startswith("C") and channel["is_member"]
    posted = client.chat_postMessage(channel=channel["id"], text="hello", blocks=BLOCKS)
    updated = client.chat_update(channel=channel["id"], ts=posted["ts"], text="bye")

    assert posted["ts"] == "1700000000.000100"
    assert posted["message"]["blocks"] == BLOCKS
    assert updated["ts"] == posted["ts"] and updated["message"]["text"] == "bye"
    [message] = fake.messages(channel["id"])
    assert (message["text"], message["blocks"]) == ("bye", BLOCKS)
    assert fake.channel_by_name("robots") == fake.channel(channel["id"])
    [call] = fake.calls("chat.postMessage")
    assert call.args == {"channel": channel["id"], "text": "hello", "blocks": BLOCKS}
    assert call.headers["authorization"] == "Bearer xoxb-test"
    assert not call.failed


def test_slack_errors(fake: FakeSlack, client: WebClient) -> None:
    client.conversations_create(name="robots")
    cases: dict[str, Callable[[], object]] = {
        "name_taken": lambda: client.conversations_create(name="robots"),
        "invalid_name_specials": lambda: client.conversations_create(name="Robots Club"),
        "invalid_name_maxlength": lambda: client.conversations_create(name="a" * 81),
        "channel_not_found": lambda: client.chat_postMessage(channel="C404", text="x"),
        "message_not_found": lambda: client.chat_update(
            channel=fake.add_channel("x"), ts="1.000001", text="x"
        ),
        "user_not_found": lambda: client.users_info(user="U404"),
        "unknown_method": lambda: client.api_call("nope.nothing"),
    }
    for code, call in cases.items():
        with pytest.raises(SlackApiError) as exc:
            call()
        assert _error(exc) == code
    assert fake.calls("nope.nothing")
    with pytest.raises(SlackApiError) as exc:
        WebClient(base_url=fake.base_url).auth_test()
    assert _error(exc) == "not_authed"


def test_known_channels_accept_posts() -> None:
    with FakeSlack(known_channels=["C0KNOWN"]) as fake:
        client = WebClient(base_url=fake.base_url, token="xoxb-test")
        client.chat_postMessage(channel="C0KNOWN", text="hi")
        assert [m["text"] for m in fake.messages("C0KNOWN")] == ["hi"]


def test_conversations_list_paginates(fake: FakeSlack, client: WebClient) -> None:
    ids = [fake.add_channel(f"team-{i}") for i in range(5)]
    fake.add_channel("secret", is_member=False, is_private=True)

    seen, cursor, pages = [], None, 0
    while True:
        response = client.conversations_list(limit=2, cursor=cursor, types="public_channel")
        seen += [c["id"] for c in response["channels"]]
        pages += 1
        cursor = response["response_metadata"]["next_cursor"]
        if not cursor:
            break

    assert (seen, pages) == (ids, 3)
    assert len(fake.calls("conversations.list")) == 3
    with pytest.raises(SlackApiError) as exc:
        client.conversations_list(cursor="garbage")
    assert _error(exc) == "invalid_cursor"


def test_membership_and_pins(fake: FakeSlack, client: WebClient) -> None:
    joined = fake.add_channel("joined")
    outside = fake.add_channel("outside", is_member=False)
    archived = fake.add_channel("old", is_member=False, is_archived=True)

    assert client.conversations_invite(channel=joined, users="U1,U2")["ok"]
    assert fake.channel(joined)["members"] == ["UBOT", "U1", "U2"]
    errors: dict[str, Callable[[], object]] = {
        "already_in_channel": lambda: client.conversations_invite(channel=joined, users="U1"),
        "cant_invite_self": lambda: client.conversations_invite(channel=joined, users="UBOT"),
        "not_in_channel": lambda: client.conversations_invite(channel=outside, users="U1"),
        "is_archived": lambda: client.conversations_join(channel=archived),
    }
    for code, call in errors.items():
        with pytest.raises(SlackApiError) as exc:
            call()
        assert _error(exc) == code
    assert client.conversations_join(channel=outside)["channel"]["is_member"]
    assert client.conversations_members(channel=joined)["members"] == ["UBOT", "U1", "U2"]

    ts = client.chat_postMessage(channel=joined, text="rules")["ts"]
    client.pins_add(channel=joined, timestamp=ts)
    with pytest.raises(SlackApiError) as exc:
        client.pins_add(channel=joined, timestamp=ts)
    assert _error(exc) == "already_pinned"
    [item] = client.pins_list(channel=joined)["items"]
    assert item["message"]["ts"] == ts and fake.channel(joined)["pins"] == [ts]


def test_views_users_ephemeral_permalink(fake: FakeSlack, client: WebClient) -> None:
    fake.add_user("U1", "ada", real_name="Ada Lovelace")
    channel = fake.add_channel("general")
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": BLOCKS}

    view = client.views_open(trigger_id="t1", view=modal)["view"]
    updated = client.views_update(view_id=view["id"], view={**modal, "blocks": []})["view"]
    home = client.views_publish(user_id="U1", view={"type": "home", "blocks": BLOCKS})["view"]
    ts = client.chat_postMessage(channel=channel, text="x")["ts"]

    assert updated["id"] == view["id"] and fake.view(view["id"])["blocks"] == []
    assert fake.home_view("U1") == home
    assert client.users_info(user="U1")["user"]["real_name"] == "Ada Lovelace"
    assert client.chat_postEphemeral(channel=channel, user="U1", text="psst")["message_ts"]
    permalink = client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
    assert permalink.endswith(f"/archives/{channel}/p{ts.replace('.', '')}")


def test_history_topic_archive_delete_lookup(fake: FakeSlack, client: WebClient) -> None:
    fake.add_user("U1", "ada", email="ada@example.org")
    channel = fake.add_channel("general")
    first = client.chat_postMessage(channel="#general", text="one")["ts"]
    client.chat_postMessage(channel=channel, text="reply", thread_ts=first)
    second = client.chat_postMessage(channel=channel, text="two")["ts"]

    history = client.conversations_history(channel=channel)
    assert [m["ts"] for m in history["messages"]] == [second, first]
    assert history["messages"][1]["reply_count"] == 1
    client.chat_delete(channel=channel, ts=second)
    assert [m["text"] for m in fake.messages(channel)] == ["one", "reply"]
    client.conversations_setTopic(channel=channel, topic="Robots")
    assert fake.channel(channel)["topic"]["value"] == "Robots"
    assert client.users_lookupByEmail(email="ada@example.org")["user"]["id"] == "U1"
    with pytest.raises(SlackApiError) as exc:
        client.users_lookupByEmail(email="nobody@example.org")
    assert _error(exc) == "users_not_found"
    client.conversations_archive(channel=channel)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=channel, text="late")
    assert _error(exc) == "is_archived"


def test_form_encoded_json_args_are_decoded(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("general")
    metadata = {"event_type": "council", "event_payload": {"id": 7}}

    client.api_call(
        "chat.postMessage",
        params={"channel": channel, "blocks": json.dumps(BLOCKS), "metadata": json.dumps(metadata)},
    )

    [call] = fake.calls("chat.postMessage")
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert (call.args["blocks"], call.args["metadata"]) == (BLOCKS, metadata)
    assert fake.messages(channel)[0]["blocks"] == BLOCKS


def test_file_upload_round_trip(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("general")

    client.files_upload_v2(channel=channel, content=b"hello world", filename="a.txt", title="A")

    [upload] = fake.calls("file_upload")
    assert upload.args == {"length": 11} and upload.body == b"hello world"
    [url_call] = fake.calls("files.getUploadURLExternal")
    assert url_call.args["length"] == "11"
    [complete] = fake.calls("files.completeUploadExternal")
    [entry] = complete.args["files"]
    assert fake.file_content(entry["id"]) == b"hello world"
    assert fake.messages(channel)[0]["files"][0]["title"] == "A"


def test_response_url_records_posts(fake: FakeSlack) -> None:
    status, body = _post_json(fake.response_url("r7"), {"text": "done", "replace_original": True})

    assert (status, json.loads(body)) == (200, {"ok": True})
    [call] = fake.calls("response_url")
    assert call.path == "/respond/r7" and call.args["text"] == "done"


# -- failure injection and waiting ------------------------------------------------


def test_rate_limit_is_retried(fake: FakeSlack) -> None:
    channel = fake.add_channel("general")
    fake.fail_next("chat.postMessage", 429, retry_after=1)
    client = WebClient(
        base_url=fake.base_url,
        token="xoxb-test",
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )

    assert client.chat_postMessage(channel=channel, text="hi")["ok"]

    assert [c.failed for c in fake.calls("chat.postMessage")] == [True, False]
    assert len(fake.messages(channel)) == 1


def test_injected_failures_without_retry(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("auth.test", 429, retry_after=7)
    fake.fail_next("auth.test", 503)
    fake.fail_next("auth.test", 200, error="invalid_auth", times=2)

    responses = []
    for _ in range(4):
        with pytest.raises(SlackApiError) as exc:
            client.auth_test()
        responses.append((exc.value.response.status_code, _error(exc)))

    assert responses == [
        (429, "ratelimited"),
        (503, "service_unavailable"),
        (200, "invalid_auth"),
        (200, "invalid_auth"),
    ]
    assert client.auth_test()["ok"]
    assert [c.failed for c in fake.calls("auth.test")] == [True, True, True, True, False]


def test_wait_for_calls_reports_recorded_methods(fake: FakeSlack, client: WebClient) -> None:
    client.auth_test()

    assert fake.wait_for_calls("auth.test", 1)[0].method == "auth.test"
    assert not fake.wait_for(lambda f: bool(f.calls("chat.update")), timeout=0.05)
    with pytest.raises(AssertionError, match=r"recorded: \['auth.test'\]"):
        fake.wait_for_calls("chat.postMessage", 1, timeout=0.05)
    fake.clear()
    assert fake.calls() == []


def test_concurrent_posts_get_unique_timestamps(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("general")

    def post_ten() -> None:
        for i in range(10):
            client.chat_postMessage(channel=channel, text=str(i))

    threads = [threading.Thread(target=post_ten) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(fake.calls("chat.postMessage")) == 80
    assert len({m["ts"] for m in fake.messages(channel)}) == 80
