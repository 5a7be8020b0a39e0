"""Shared fixtures: a clean environment, databases (SQLite always, PostgreSQL when CI says so),
a fake Slack, a built bot and the real HTTP app on 127.0.0.1."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from werkzeug.serving import BaseWSGIServer, make_server

from makersbot.app import Bot, build
from makersbot.loops import Background
from makersbot.settings import Settings
from tests.fakes.signing import slack_headers, slash_command_body
from tests.fakes.slack import FakeSlack

POSTGRES_URL = os.environ.get("MAKERSBOT_TEST_POSTGRES_URL")
SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"

_ENV_PREFIXES = ("SLACK_", "GITHUB_", "TRELLO_", "DIGEST_", "MAKERS_", "LOG_")
_ENV_NAMES = ("DATABASE_URL", "PUBLIC_URL", "PORT", "POLL_INTERVAL")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's Slack credentials or .env file."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def _fresh_postgres(url: str) -> str:
    """A new, empty schema on the CI server, so tests never see each other's rows."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


def _drop_postgres(url: str) -> None:
    schema = url.rsplit("%3D", 1)[1]
    engine = create_engine(url.split("?")[0])
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


DATABASES = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database: SQLite always, PostgreSQL too when MAKERSBOT_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'makersbot.db'}"
        return
    assert POSTGRES_URL is not None
    url = _fresh_postgres(POSTGRES_URL)
    yield url
    _drop_postgres(url)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema on the PostgreSQL server, for what only PostgreSQL does (pooled
    connections the server drops); skipped, saying how to enable it, without a server."""
    if not POSTGRES_URL:
        pytest.skip("set MAKERSBOT_TEST_POSTGRES_URL to test pooled PostgreSQL connections")
    url = _fresh_postgres(POSTGRES_URL)
    yield url
    _drop_postgres(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'makersbot.db'}"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def make_settings(database_url: str, slack: FakeSlack | None = None, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.base_url if slack else "http://127.0.0.1:9/api/",
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bot(database_url: str, fake_slack: FakeSlack, clock: Clock) -> Iterator[Bot]:
    """The whole bot wired to the fake Slack, its database migrated."""
    bot = build(make_settings(database_url, fake_slack, slack_channel_pace=0), clock=clock)
    bot.db.upgrade()
    yield bot
    bot.stop()


class Server:
    """The real WSGI app served on 127.0.0.1, with the background loops running."""

    def __init__(self, bot: Bot, server: BaseWSGIServer) -> None:
        self.bot = bot
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_port}"
        self.http = requests.Session()
        self._triggers = 0

    def slash(
        self,
        text: str,
        *,
        user_id: str = "U0ALICE",
        user_name: str = "alice",
        channel_id: str = "C0GENERAL",
        trigger_id: str | None = None,
        response_url: str | None = None,
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
    ) -> requests.Response:
        """POST a signed `/makers <text>` as Slack would."""
        self._triggers += 1
        body = slash_command_body(
            command="/makers",
            text=text,
            user_id=user_id,
            user_name=user_name,
            channel_id=channel_id,
            trigger_id=trigger_id or f"trig.{self._triggers}.{uuid.uuid4()}",
            response_url=response_url or "http://127.0.0.1:9/nowhere",
        )
        return self.post("/slack/events", body, slack_headers(secret, body, timestamp))

    def post(self, path: str, body: str | bytes, headers: dict[str, str]) -> requests.Response:
        return self.http.post(self.url + path, data=body, headers=headers, timeout=10)


@pytest.fixture
def server(bot: Bot) -> Iterator[Server]:
    """The real WSGI app around `bot`, with its background loops (not the scheduler)."""
    background = Background.for_bot(bot, scheduler=False)
    with serving(bot) as served:
        background.start()
        yield served
    background.stop()


@contextmanager
def serving(bot: Bot) -> Iterator[Server]:
    """The real WSGI app around `bot` on 127.0.0.1, in a thread, until the block ends."""
    from makersbot.web import create_web_app

    httpd = make_server("127.0.0.1", 0, create_web_app(bot), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(bot, httpd)
    finally:
        httpd.shutdown()
        thread.join(timeout=5)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll a condition every 20 ms; True as soon as it holds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def fake_github() -> Iterator[Any]:
    from tests.fakes.github import FakeGitHub
    from tests.mirror_helpers import REPO

    with FakeGitHub() as fake:
        fake.add_repo(REPO)
        yield fake


@pytest.fixture
def fake_trello() -> Iterator[Any]:
    from tests.fakes.trello import FakeTrello
    from tests.mirror_helpers import BOARD

    with FakeTrello() as fake:
        fake.add_board(BOARD, "Welcome Board", "iqXXzYEj")
        yield fake


@pytest.fixture
def mbot(
    database_url: str, fake_slack: FakeSlack, fake_github: Any, fake_trello: Any, clock: Clock
) -> Iterator[Bot]:
    """A bot with GitHub and Trello pointed at fakes and webhooks configured."""
    from tests.mirror_helpers import mirror_bot

    bot = mirror_bot(database_url, fake_slack, fake_github, fake_trello, clock)
    yield bot
    bot.stop()


@pytest.fixture
def web(mbot: Bot) -> Iterator[Server]:
    """The real WSGI app around `mbot`, no background loops: deliveries stay stored."""
    with serving(mbot) as served:
        yield served
