"""What a console session is built from: its settings, its clock, its Slack, GitHub and
Trello stand-ins, and the bot wired to them through the ordinary composition root."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from makersbot.app import Bot, ProofTransport, build
from makersbot.console import accounts
from makersbot.console.accounts import ConsoleAccounts
from makersbot.console.github import ConsoleGitHub
from makersbot.console.slack import ConsoleSlack, Printer
from makersbot.console.trello import ConsoleTrello
from makersbot.loops import DeliveryLoop, OutboxLoop
from makersbot.services.delivery_sources import callback_token
from makersbot.settings import Settings
from makersbot.store import projects as project_store
from makersbot.store.models import utcnow

# Where the console "is served": the URL its webhooks are registered for. Nothing listens
# there; the stand-ins hand their deliveries to the bot's intake in-process.
CONSOLE_URL = "https://makersbot.console.invalid"
HUB = "makers"
CHARTS_DIR = Path(tempfile.gettempdir()) / "makersbot-console"


class ConsoleClock:
    """The time the bot sees: now (or a fixed `start`) plus however long `:wait` has waited."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return (self.start or utcnow()) + self.offset

    def wait(self, delta: timedelta) -> None:
        self.offset += delta


def session_settings(settings: Settings) -> Settings:
    """The settings with what the console plays filled in: webhook secrets the stand-ins
    sign with, a public URL to register hooks for, a hub channel, no pace limit, and a
    GitHub OAuth app and Trello key, so that accounts are proven as in production."""
    return settings.model_copy(
        update={
            "github_webhook_secret": SecretStr(secrets.token_hex(16)),
            "trello_api_secret": SecretStr(secrets.token_hex(16)),
            "public_url": CONSOLE_URL,
            "digest_channel": settings.digest_channel or HUB,
            "slack_channel_pace": 0.0,
            "github_oauth_client_id": accounts.CLIENT_ID,
            "github_oauth_url": accounts.GITHUB_URL,
            "github_api_url": accounts.GITHUB_API_URL,
            "trello_api_key": SecretStr(accounts.TRELLO_KEY),
            "trello_api_url": accounts.TRELLO_API_URL,
        }
    )


class Session:
    """The bot and everything it talks to, in one process, settled after each line."""

    def __init__(
        self, settings: Settings, out: Printer, *, clock: ConsoleClock, charts_dir: Path
    ) -> None:
        self.settings = session_settings(settings)
        self.clock = clock
        self.slack = ConsoleSlack(out, charts_dir=charts_dir)
        trello_secret = self.settings.secret("trello_api_secret") or ""
        # Late-bound: the intake belongs to the bot, which is built with the stand-ins.
        self.github = ConsoleGitHub(
            lambda h, b: self.bot.deliveries.accept_github(h, b), clock, clock.wait
        )
        self.trello = ConsoleTrello(
            lambda h, b, url: self.bot.deliveries.accept_trello(h, b, callback_token(url)),
            trello_secret,
            clock,
            clock.wait,
        )
        self.accounts = ConsoleAccounts()
        # A proof's poll waits for the line that started it to finish (the person enters
        # GitHub's code first), then runs in this thread; its waits move the console's clock.
        self._proofs_waiting: list[Callable[[], None]] = []
        self.bot: Bot = build(
            self.settings,
            client=self.slack,
            clock=clock,
            per_channel_interval=0,
            github_gateway=self.github,
            trello_gateway=self.trello,
            proof_transport=ProofTransport(
                http=self.accounts.http(),
                background=self._proofs_waiting.append,
                sleep=lambda seconds: clock.wait(timedelta(seconds=seconds)),
            ),
        )
        if self.bot.db.is_sqlite:
            self.bot.db.upgrade()
        # The loops' rounds run in this thread after each line, so what the bot does prints
        # before the next prompt; no background thread is started.
        self.outbox = OutboxLoop(self.bot.sender, self.bot.outbox_published)
        self.deliveries = DeliveryLoop(self.bot.deliveries, self.bot.deliveries_stored)
        self._known_channels()

    def _known_channels(self) -> None:
        with self.bot.db.session(read_only=True) as session:
            for project in project_store.search_projects(session, words=[], limit=10_000)[0]:
                if project.channel_id and project.channel_name:
                    self.slack.add_channel(project.channel_id, project.channel_name)
        hub = str(self.settings.digest_channel).lstrip("#")
        if hub.startswith(("C", "G")) and hub.isupper():
            self.slack.add_channel(hub, "makers-hub")
        else:
            self.slack.add_channel(self.slack.channel_id(hub), hub)

    @property
    def hub_name(self) -> str:
        hub = str(self.settings.digest_channel).lstrip("#")
        return self.slack.name_of(hub) if hub in self.slack.channels else hub

    def set_admins(self, admins: frozenset[str]) -> None:
        """Who may use admin commands, for this session (MAKERS_ADMINS plus `:admin`)."""
        self.bot.commands.admins = admins
        self.bot.digest.admins = admins

    def settle(self) -> None:
        """Let the bot finish what the last line started: finish proving an account, process
        webhook deliveries, send the outbox, upload a digest's chart; until nothing is left."""
        while self._proofs_waiting:
            self._proofs_waiting.pop(0)()
        for _ in range(10):
            done = self.deliveries.run_once()
            done += self.outbox.run_once()
            done += self.bot.digest.upload_pending_charts()
            if not done:
                return

    def stop(self) -> None:
        self.bot.stop()
