"""The Slack front (`makersbot/slack_front.py`): Slack's requests reach the Bolt app from the
event loop, and are answered exactly as the Flask route answers them.

The app under test is the one the Procfile's `web` line and `makersbot serve` run,
`server.bot_asgi(app)`, called as an ASGI server calls it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from slack_bolt import BoltResponse
from sqlalchemy.exc import OperationalError

from makersbot import server
from makersbot.app import Bot
from makersbot.intake import IntakeUnavailable
from makersbot.slack_front import SlackFront
from makersbot.store.models import Project
from makersbot.web import create_web_app
from tests.asgi_helpers import Recording, call
from tests.conftest import SIGNING_SECRET
from tests.fakes.signing import interactivity_body, slack_headers, slash_command_body
from tests.test_commands import project

__all__ = ["project"]  # the fixture, shared with test_commands

Case = tuple[bytes, dict[str, str]]


def slash(text: str, n: int, *, secret: str = SIGNING_SECRET, **headers: str) -> Case:
    body = slash_command_body(
        command="/makers",
        text=text,
        user_id="U0ALICE",
        user_name="alice",
        channel_id="C0GENERAL",
        trigger_id=f"t-front-{n}-{time.monotonic_ns()}",
        response_url="http://127.0.0.1:9/nowhere",
    ).encode()
    return body, {**slack_headers(secret, body), **headers}


def signed_json(payload: dict[str, Any]) -> Case:
    body = json.dumps(payload).encode()
    return body, slack_headers(SIGNING_SECRET, body, content_type="application/json")


def cases() -> dict[str, Case]:
    now = str(int(time.time()))
    unsigned_json = json.dumps({"type": "event_callback"}).encode()
    garbage = b"\xff\xfe not a form"
    return {
        "list": slash("list", 1),
        "list with words": slash("list bin", 2),
        "info": slash("info bin-day-reminders", 3),
        "help": slash("help", 4),
        "unknown subcommand": slash("lsit", 5),
        "usage line": slash("phase", 6),
        "the word payload (Bolt's bug)": slash("list payload-team", 7),
        "wrong secret": slash("list", 8, secret="not-the-secret"),
        "stale timestamp": slash("list", 9, **{"X-Slack-Request-Timestamp": "1000000000"}),
        "malformed timestamp": slash("list", 10, **{"X-Slack-Request-Timestamp": "12.5"}),
        "malformed signature": slash("list", 11, **{"X-Slack-Signature": "v0=zz"}),
        "unsigned JSON": (unsigned_json, {"Content-Type": "application/json"}),
        "signed, not a form": (
            garbage,
            {**slack_headers(SIGNING_SECRET, garbage), "X-Slack-Request-Timestamp": now},
        ),
        "url verification": signed_json(
            {"type": "url_verification", "token": "x", "challenge": "c-123"}
        ),
        "unknown event": signed_json(
            {
                "type": "event_callback",
                "event_id": "Ev-front-1",
                "team_id": "T0001",
                "api_app_id": "A1",
                "event": {"type": "reaction_added", "user": "U1"},
            }
        ),
        "unknown action": (
            body := interactivity_body(
                {
                    "type": "block_actions",
                    "trigger_id": "t-unknown",
                    "user": {"id": "U1"},
                    "actions": [{"action_id": "something_else", "value": "x"}],
                    "team": {"id": "T0001"},
                    "api_app_id": "A1",
                }
            ).encode(),
            slack_headers(SIGNING_SECRET, body),
        ),
    }


def test_slack_requests_are_answered_as_the_flask_route_answers(bot: Bot, project: Project) -> None:
    flask = create_web_app(bot)
    front = server.bot_asgi(flask)
    client = flask.test_client()
    # Each server gets its own copy (new trigger_ids: a repeated one is answered empty).
    for name, (body, headers) in cases().items():
        status, answer_headers, answer = call(front, "POST", "/slack/events", body, headers)
        body, headers = cases()[name]
        expected = client.post("/slack/events", data=body, headers=headers)
        assert (status, answer) == (expected.status_code, expected.data), name
        assert answer_headers["content-type"] == expected.headers["Content-Type"], name
        assert answer_headers["content-length"] == str(len(answer)), name
    # And what they say: the cases above are not all alike.
    status, headers, answer = call(front, "POST", "/slack/events", *slash("list", 20))
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert json.loads(answer)["response_type"] == "ephemeral"
    assert "1 project" in json.loads(answer)["text"]
    assert call(front, "POST", "/slack/events", *slash("list", 21, secret="x"))[0] == 401
    challenge = call(front, "POST", "/slack/events", *cases()["url verification"])
    assert json.loads(challenge[2]) == {"challenge": "c-123"}


def test_other_methods_and_paths_go_to_the_wsgi_app(bot: Bot) -> None:
    flask = create_web_app(bot)
    front = server.bot_asgi(flask)
    client = flask.test_client()
    for method, path in [("GET", "/slack/events"), ("POST", "/slack/events/x"), ("GET", "/")]:
        expected = client.open(path, method=method)
        assert call(front, method, path)[::2] == (expected.status_code, expected.data)
    assert call(front, "GET", "/healthz")[0] in (200, 503)  # the WSGI app's health check


class Endpoint:
    """A SlackEndpoint that answers with `answer` or raises `error`, recording its calls."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.given: list[tuple[dict[str, str], str, bytes]] = []

    def handle(self, headers: dict[str, str], query: str, body: bytes) -> BoltResponse:
        self.given.append((headers, query, body))
        if self.error is not None:
            raise self.error
        return BoltResponse(status=200, body={"text": "ok"}, headers={"x-extra": ["a", "b"]})


def test_only_slack_posts_skip_the_wsgi_app() -> None:
    inner, endpoint = Recording(), Endpoint()
    front = SlackFront(inner, endpoint, threads=2)  # type: ignore[arg-type]
    status, headers, body = call(front, "POST", "/slack/events", b"a=1", {"X-Slack-Signature": "s"})
    assert (status, body) == (200, b'{"text": "ok"}')
    assert headers["content-type"] == "application/json;charset=utf-8"
    assert endpoint.given == [({"x-slack-signature": "s"}, "", b"a=1")]
    for method, path in [
        ("GET", "/slack/events"),
        ("HEAD", "/slack/events"),
        ("POST", "/slack/events/"),
        ("POST", "/slack/event"),
        ("POST", "/github/webhook"),
    ]:
        assert call(front, method, path)[0] == 204, (method, path)
    assert len(inner.paths) == 5 and len(endpoint.given) == 1


def test_every_value_of_a_repeated_bolt_header_is_sent() -> None:
    sent: list[MutableMapping[str, Any]] = []
    front = SlackFront(Recording(), Endpoint(), threads=1)  # type: ignore[arg-type]

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/slack/events", "headers": []}
    with ThreadPoolExecutor(1) as thread:  # see tests.asgi_helpers.call
        thread.submit(asyncio.run, front(scope, receive, send)).result()
    assert [v for k, v in sent[0]["headers"] if k == b"x-extra"] == [b"a", b"b"]


@pytest.mark.parametrize(
    "error",
    [IntakeUnavailable("x"), TimeoutError("x"), OperationalError("SELECT", {}, Exception("x"))],
    ids=["intake unavailable", "timeout", "database error"],
)
def test_a_store_failure_is_a_503_to_retry(
    error: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    front = SlackFront(Recording(), Endpoint(error), threads=1)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        status, headers, body = call(front, "POST", "/slack/events", b"text=secret-words")
    assert (status, headers["retry-after"]) == (503, "30")
    assert body == b"database unavailable; try again later\n"
    assert "database unavailable for POST /slack/events" in caplog.text
    assert "secret-words" not in caplog.text


def test_anything_else_is_a_400_with_one_line(caplog: pytest.LogCaptureFixture) -> None:
    front = SlackFront(Recording(), Endpoint(ValueError("unexpected")), threads=1)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        status, _, body = call(front, "POST", "/slack/events", b"text=secret-words")
    assert (status, body) == (400, b"could not process this request\n")
    assert "request failed: POST /slack/events" in caplog.text
    assert "secret-words" not in caplog.text
