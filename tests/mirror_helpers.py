"""Shared set-up for the mirror tests: a bot with GitHub and Trello pointed at fakes."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

from sqlalchemy import event
from sqlmodel import select

from makersbot.app import Bot, build
from makersbot.domain.requests import Actor
from makersbot.services.delivery_sources import github_source, trello_source
from makersbot.store.models import Link, Project
from tests.conftest import Clock, make_settings
from tests.fakes.github import FakeGitHub
from tests.fakes.signing import github_headers, trello_headers
from tests.fakes.slack import FakeSlack
from tests.fakes.trello import FakeTrello

FIXTURES = Path(__file__).parent / "fixtures"
GITHUB_SECRET = "github-webhook-secret"
TRELLO_SECRET = "trello-app-secret"
PUBLIC_URL = "https://makers.example.gov.uk"
TRELLO_CALLBACK = f"{PUBLIC_URL}/trello/webhook"
REPO = "Codertocat/Hello-World"
BOARD = "53582e2da0fac5676a714277"  # the board of Zulip's Trello fixtures
ALICE = Actor(slack_user_id="U0ALICE", display_name="alice", request_key="t-start")

# The fakes behind the bot built last: a delivery is signed as GitHub or Trello would sign
# it, with the secret or callback of the hook the bot registered (see `github_delivery`).
_WORLD: dict[str, Any] = {}


def fixture(path: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / path).read_text())
    assert isinstance(data, dict)
    return data


def mirror_bot(
    database_url: str,
    slack: FakeSlack,
    github: FakeGitHub,
    trello: FakeTrello,
    clock: Clock,
    *,
    public_url: str | None = PUBLIC_URL,
) -> Bot:
    settings = make_settings(
        database_url,
        slack,
        github_token="ghp_testtoken",
        github_webhook_secret=GITHUB_SECRET,
        github_api_url=github.base_url,
        trello_api_key=trello.api_key if hasattr(trello, "api_key") else "fake-trello-key",
        trello_token=trello.token if hasattr(trello, "token") else "fake-trello-token",
        trello_api_secret=TRELLO_SECRET,
        trello_api_url=trello.base_url,
        public_url=public_url,
    )
    bot = build(settings, clock=clock, per_channel_interval=0)
    bot.db.upgrade()
    _WORLD.update(github=github, trello=trello)
    return bot


def accept_webhooks(bot: Bot, *, github: str | None = None, trello: str | None = None) -> None:
    """Let `bot` accept GitHub / Trello webhooks signed with these secrets (a bot built
    without them refuses every delivery), Trello's for the callback URL of PUBLIC_URL."""
    if github is not None:
        bot.deliveries.sources["github"] = github_source(github)
    if trello is not None:
        bot.deliveries.sources["trello"] = trello_source(trello, TRELLO_CALLBACK)


def start_project(bot: Bot, name: str = "Hello world") -> Project:
    bot.people.set_council(ALICE, "Guildford")
    bot.projects.start(ALICE, name)
    with bot.db.session(read_only=True) as session:
        project = session.exec(select(Project).where(Project.name == name)).one()
    return project


def link(bot: Bot, text: str) -> str:
    return bot.links.link(ALICE, text).reply


def poll_again_since(bot: Bot, cursor: str) -> None:
    """Make the bot's only link read every change since `cursor` at its next poll (no
    ETag, so the fake answers in full)."""
    with bot.db.session() as session:
        linked = session.exec(select(Link)).one()
        linked.etag = None
        linked.cursor = cursor
        session.add(linked)


OTHER_REPO = "Codertocat/Other"


def two_linked_projects(bot: Bot, fake_github: Any) -> None:
    """ "Hello world" mirroring REPO and "Second" mirroring OTHER_REPO, each hook with its
    own secret: the setting of every test that one repo's key cannot reach the other."""
    fake_github.add_repo(OTHER_REPO)
    start_project(bot)
    start_project(bot, "Second")
    link(bot, f"hello-world github {REPO}")
    link(bot, f"second github {OTHER_REPO}")


def github_delivery(
    event: str, payload: dict[str, Any], delivery: str | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    secret, hook_id = _github_hook(payload)
    headers = github_headers(secret, body, event, delivery or str(uuid.uuid4()))
    if hook_id is not None:
        headers["X-GitHub-Hook-ID"] = hook_id
    return body, headers


def _live(name: str) -> Any:
    """The fake of the current test (a fake of an earlier test has been stopped)."""
    fake = _WORLD.get(name)
    return fake if fake is not None and fake._thread is not None else None


def _github_hook(payload: dict[str, Any]) -> tuple[str, str | None]:
    """The secret and id of the hook the bot made on the payload's repository, if any;
    else GITHUB_WEBHOOK_SECRET (an older hook)."""
    fake = _live("github")
    repo = payload.get("repository")
    name = repo.get("full_name") if isinstance(repo, dict) else None
    if fake is None or not isinstance(name, str) or name.lower() not in fake._hooks:
        return GITHUB_SECRET, None
    hooks = fake.hooks(name)
    if not hooks:
        return GITHUB_SECRET, None
    return str(hooks[0]["config"]["secret"]), str(hooks[0]["id"])


def deliver_trello(bot: Bot, payload: dict[str, Any]) -> tuple[int, str]:
    """Deliver as Trello would: on the callback of the hook the bot made on the board."""
    fake = _live("trello")
    model = payload.get("model")
    board = model.get("id") if isinstance(model, dict) else None
    hooks = [h for h in fake.webhooks.values() if h["idModel"] == board] if fake else []
    url = hooks[0]["callbackURL"] if hooks else TRELLO_CALLBACK
    token = url.removeprefix(TRELLO_CALLBACK + "/") if url != TRELLO_CALLBACK else None
    body = json.dumps(payload).encode()
    headers = trello_headers(TRELLO_SECRET, body, url)
    return bot.deliveries.accept_trello(lower(headers), body, token)


def trello_delivery(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, trello_headers(TRELLO_SECRET, body, TRELLO_CALLBACK)


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def issue_event(
    number: int,
    title: str,
    *,
    action: str = "opened",
    updated: str,
    state: str = "open",
    labels: tuple[str, ...] = (),
    user: str = "octocat",
    sender: str = "octocat",
) -> dict[str, Any]:
    """An `issues` delivery built from the real octokit fixture, with our own values."""
    payload = copy.deepcopy(fixture("github/octokit/issues/opened.payload.json"))
    issue = payload["issue"]
    issue.update(
        number=number,
        title=title,
        state=state,
        updated_at=updated,
        html_url=f"https://github.com/{REPO}/issues/{number}",
        labels=[
            {
                "name": name,
                "color": "ededed",
                "id": i,
                "node_id": f"L{i}",
                "url": "",
                "default": False,
                "description": None,
            }
            for i, name in enumerate(labels)
        ],
    )
    issue["user"]["login"] = user
    payload["sender"]["login"] = sender
    payload["action"] = action
    if action == "closed":
        issue["state_reason"] = "completed"
        issue["closed_at"] = updated
    return payload


def messages_by_key(slack: FakeSlack) -> dict[str, list[Any]]:
    """chat.postMessage calls grouped by the outbox key carried in their metadata."""
    posts: dict[str, list[Any]] = {}
    for call in slack.calls("chat.postMessage"):
        if call.failed:
            continue
        key = (call.args.get("metadata") or {}).get("event_payload", {}).get("key", "")
        posts.setdefault(key, []).append(call)
    return posts


def use_shared_secrets(bot: Bot) -> None:
    """Make the Trello links older ones, on the plain `/trello/webhook` callback signed with
    the app secret: for tests about ordering, whose plans sign Trello that way. (GitHub
    deliveries are signed with the hook's own secret by `github_delivery`.)"""
    from sqlalchemy import update

    from makersbot.store.models import Link

    with bot.db.session() as session:
        session.execute(
            update(Link).where(Link.source == "trello").values(callback_token=None)  # type: ignore[arg-type]
        )


@contextmanager
def statements(bot: Bot) -> Iterator[list[str]]:
    """The SQL the bot sends to the database driver; on PostgreSQL each marked "(own
    commit)" when the driver ran it outside a transaction, where it commits by itself.

    On PostgreSQL this is watched at psycopg's cursor, because the intake's INSERT goes
    round SQLAlchemy (store/deliveries.py); on SQLite at the engine."""
    sent: list[str] = []

    def record(statement: Any, driver: Any) -> None:
        own = bool(getattr(driver, "autocommit", False))
        sent.append(" ".join(str(statement).split()) + (" (own commit)" if own else ""))

    if bot.db.is_postgres:
        import psycopg

        execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

        def on_execute(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            record(query, cursor.connection)
            return execute(cursor, query, *args, **kwargs)

        def on_executemany(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            record(query, cursor.connection)
            return executemany(cursor, query, *args, **kwargs)

        with (
            patch.object(psycopg.Cursor, "execute", on_execute),
            patch.object(psycopg.Cursor, "executemany", on_executemany),
        ):
            yield sent
        return

    def on_engine(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        record(statement, conn.connection.dbapi_connection)

    engine = bot.db.engine
    event.listen(engine, "before_cursor_execute", on_engine)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", on_engine)
