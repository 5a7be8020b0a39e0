"""The webhook front (`makersbot/webhook_front.py`): deliveries reach the service from the
event loop, and are answered exactly as the Flask routes answer them.

The app under test is the one the Procfile's `web` line and `makersbot serve` run,
`server.asgi(app, webhooks=bot.deliveries)`, called as an ASGI server calls it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from makersbot import server
from makersbot.app import Bot
from makersbot.intake import IntakeUnavailable
from makersbot.store.models import Delivery
from makersbot.web import create_web_app
from makersbot.webhook_front import WebhookFront
from tests.asgi_helpers import Recording, call
from tests.fakes.github import FakeGitHub
from tests.mirror_helpers import (
    REPO,
    TRELLO_CALLBACK,
    fixture,
    github_delivery,
    issue_event,
    link,
    start_project,
    trello_delivery,
)

WHEN = "2026-11-26T10:00:00Z"


def stored_ids(bot: Bot) -> list[str]:
    with bot.db.session(read_only=True) as session:
        return sorted(d.delivery_id for d in session.exec(select(Delivery)).all())


def test_webhooks_answer_as_the_flask_routes_do(mbot: Bot, fake_github: FakeGitHub) -> None:
    """Every kind of answer the intake gives, through the front and through Flask."""
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    flask = create_web_app(mbot)
    front = server.asgi(flask, webhooks=mbot.deliveries)
    client = flask.test_client()
    unlinked = issue_event(2, "Elsewhere", updated=WHEN)
    unlinked["repository"]["full_name"] = "someone/else"
    body, headers = github_delivery("issues", issue_event(1, "Bins", updated=WHEN))
    trello_body, trello_headers = trello_delivery(fixture("trello/zulip/trello_creating_card.json"))
    cases: dict[str, tuple[str, bytes, dict[str, str]]] = {
        "bad signature": (
            "/github/webhook",
            body,
            {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64},
        ),
        "unsigned": ("/github/webhook", body, {"X-GitHub-Event": "issues"}),
        "not json": ("/github/webhook", b"\xff not json", {"X-GitHub-Event": "issues"}),
        "not linked": (
            "/github/webhook",
            *github_delivery("issues", unlinked),
        ),
        "trello, bad signature": (
            "/trello/webhook",
            trello_body,
            {**trello_headers, "X-Trello-Webhook": "AAAA"},
        ),
        "trello, unknown link token": (
            "/trello/webhook/no-such-token",
            trello_body,
            trello_headers,
        ),
    }
    for name, (path, sent_body, sent_headers) in cases.items():
        status, answer_headers, answer = call(front, "POST", path, sent_body, sent_headers)
        expected = client.post(path, data=sent_body, headers=sent_headers)
        assert (status, answer) == (expected.status_code, expected.data), name
        assert answer_headers["content-type"] == expected.headers["Content-Type"], name
    assert stored_ids(mbot) == []
    # Stored: once, then a copy.
    first = call(front, "POST", "/github/webhook", body, headers)
    again = call(front, "POST", "/github/webhook", body, headers)
    assert (first[0], first[2], again[0], again[2]) == (200, b"ok\n", 200, b"duplicate\n")
    assert stored_ids(mbot) == [headers["X-GitHub-Delivery"]]
    assert call(front, "POST", "/trello/webhook", trello_body, trello_headers)[:3:2] == (
        200,
        b"ignored: not linked\n",
    )
    assert TRELLO_CALLBACK  # the board is not linked: Trello's signature was good


def test_many_webhooks_at_once_are_all_stored_in_shared_commits(mbot: Bot) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    front = server.asgi(create_web_app(mbot), webhooks=mbot.deliveries)
    sent = [github_delivery("issues", issue_event(n, f"Item {n}", updated=WHEN)) for n in range(40)]
    before = mbot.db.writes

    async def all_at_once() -> list[tuple[int, bytes]]:
        loop = asyncio.get_running_loop()
        answers = await asyncio.gather(
            *(
                loop.run_in_executor(None, call, front, "POST", "/github/webhook", body, headers)
                for body, headers in sent
            )
        )
        return [(status, answer) for status, _, answer in answers]

    with ThreadPoolExecutor(1) as thread:  # see `call`
        answers = thread.submit(asyncio.run, all_at_once()).result()
    assert answers == [(200, b"ok\n")] * 40
    assert stored_ids(mbot) == sorted(headers["X-GitHub-Delivery"] for _, headers in sent)
    assert mbot.db.writes - before <= 40  # never more than one commit per delivery


class Failing:
    """A delivery service whose every `accept` raises `error`, recording what it was given."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.given: list[tuple[str, dict[str, str], bytes, str | None]] = []

    def accept(
        self, name: str, headers: Mapping[str, str], body: bytes, token: str | None = None
    ) -> tuple[int, str]:
        self.given.append((name, dict(headers), body, token))
        if self.error is not None:
            raise self.error
        return 202, "taken"


def test_only_webhook_posts_skip_the_wsgi_app() -> None:
    inner, service = Recording(), Failing()
    front = WebhookFront(inner, service, threads=2)
    headers = {"X-GitHub-Event": "issues", "X-Multi": "a"}
    assert call(front, "POST", "/github/webhook", b"{}", headers)[::2] == (202, b"taken\n")
    assert call(front, "POST", "/trello/webhook", b"{}")[0] == 202
    assert call(front, "POST", "/trello/webhook/tok-1", b"{}")[0] == 202
    assert [(name, token) for name, _, _, token in service.given] == [
        ("github", None),
        ("trello", None),
        ("trello", "tok-1"),
    ]
    assert service.given[0][1] == {"x-github-event": "issues", "x-multi": "a"}
    for method, path in [
        ("HEAD", "/trello/webhook"),  # Trello's check while a webhook is created
        ("GET", "/github/webhook"),
        ("POST", "/github/webhook/"),
        ("POST", "/github/webhooks"),
        ("POST", "/trello/webhook/a/b"),
        ("POST", "/slack/events"),
    ]:
        assert call(front, method, path)[0] == 204, (method, path)
    assert len(inner.paths) == 6 and len(service.given) == 3


@pytest.mark.parametrize(
    "error",
    [IntakeUnavailable("x"), TimeoutError("x"), OperationalError("SELECT", {}, Exception("x"))],
    ids=["intake unavailable", "timeout", "database error"],
)
def test_a_store_failure_is_a_503_to_retry_without_the_token_in_the_log(
    error: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    front = WebhookFront(Recording(), Failing(error), threads=1)
    with caplog.at_level(logging.WARNING):
        status, headers, body = call(front, "POST", "/trello/webhook/secret-token-1", b"{}")
    assert (status, headers["retry-after"]) == (503, "30")
    assert body == b"database unavailable; try again later\n"
    assert "POST /trello/webhook/<token>" in caplog.text
    assert "secret-token-1" not in caplog.text


def test_anything_else_is_a_400_with_one_line(caplog: pytest.LogCaptureFixture) -> None:
    front = WebhookFront(Recording(), Failing(ValueError("unexpected")), threads=1)
    with caplog.at_level(logging.WARNING):
        status, _, body = call(front, "POST", "/github/webhook", b"{}")
    assert (status, body) == (400, b"could not process this request\n")
    assert "request failed: POST /github/webhook" in caplog.text


def test_the_flask_route_does_not_log_a_link_token_either(
    mbot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unavailable(*_: Any) -> tuple[int, str]:
        raise IntakeUnavailable("the delivery could not be stored")

    monkeypatch.setattr(mbot.deliveries, "accept_trello", unavailable)
    client = create_web_app(mbot).test_client()
    with caplog.at_level(logging.WARNING):
        answer = client.post("/trello/webhook/secret-token-2", data=b"{}")
    assert answer.status_code == 503
    assert "POST /trello/webhook/<token>" in caplog.text
    assert "secret-token-2" not in caplog.text
