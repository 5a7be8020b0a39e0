"""The composition root: builds every part of the bot from one Settings object."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

import handlers
from handlers.actions import Actions
from handlers.commands import Commands
from handlers.events import Events
from handlers.views import Views
from makersbot import store
from makersbot.councils import CouncilRegister, default_register
from makersbot.db import Database
from makersbot.models import utcnow
from makersbot.outbox import Outbox, SlackSender
from makersbot.publishing import Publisher
from makersbot.services.people import PeopleService
from makersbot.services.projects import ProjectService
from makersbot.settings import Settings
from makersbot.slack_gateway import SlackChannels

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def slack_client(settings: Settings, token: str | None = None) -> WebClient:
    """A WebClient for SLACK_API_URL that waits out 429s and retries 5xx and dropped links."""
    return WebClient(
        token=token or settings.secret("slack_bot_token"),
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


@dataclass
class Bot:
    """Every long-lived part of the bot, wired together."""

    settings: Settings
    db: Database
    register: CouncilRegister
    client: WebClient
    outbox: Outbox
    sender: SlackSender
    projects: ProjectService
    people: PeopleService
    commands: Commands
    actions: Actions
    views: Views
    events: Events
    clock: Clock
    _threads: list[threading.Thread] = field(default_factory=list)

    def claim(self, key: str) -> bool:
        """True the first time a request key is seen, across processes."""
        with self.db.session() as session:
            return store.claim_request(session, key=key)

    def bolt_app(self) -> App:
        """The Bolt app with every listener registered (HTTP or Socket Mode)."""
        app = App(
            client=self.client,
            signing_secret=self.settings.secret("slack_signing_secret") or "",
            token_verification_enabled=False,
            process_before_response=False,
            name="makersbot",
        )
        app.use(self._dedupe_events)
        handlers.register(
            app,
            commands=self.commands,
            actions=self.actions,
            views=self.views,
            events=self.events,
        )
        # Anything else Slack sends us is acknowledged and ignored, never answered 404.
        app.event(re.compile(".*"))(_ignore)
        app.action(re.compile(".*"))(_ignore)
        app.view(re.compile(".*"))(_ignore)
        app.shortcut(re.compile(".*"))(_ignore)
        app.error(_on_error)
        return app

    def _dedupe_events(self, body: dict[str, Any], next: Callable[[], None]) -> Any:
        # Events API retries (X-Slack-Retry-Num) carry the same event_id: act once.
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not self.claim(f"event:{event_id}"):
            log.info("ignoring a repeated event %s", event_id)
            return BoltResponse(status=200, body="")
        next()
        return None

    def start_background(self) -> None:
        """Start the outbox sender (and later the scheduler) in this process."""
        thread = threading.Thread(target=self.sender.run_forever, name="outbox", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self.sender.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self.db.dispose()


def _ignore(ack: Any, body: dict[str, Any], logger: logging.Logger) -> None:
    ack()
    logger.debug("ignored a Slack request of type %s", body.get("type"))


def _on_error(error: Exception, body: dict[str, Any], logger: logging.Logger) -> None:
    logger.error(
        "listener failed for a %s request: %r", body.get("type") or "command", error, exc_info=error
    )


def build(
    settings: Settings,
    *,
    client: WebClient | None = None,
    clock: Clock = utcnow,
    register: CouncilRegister | None = None,
    per_channel_interval: float = 1.0,
) -> Bot:
    """Wire the bot. Tests and the console pass their own Slack client and clock."""
    db = Database(settings.database_url)
    client = client or slack_client(settings)
    sender = SlackSender(db, client, clock=clock, per_channel_interval=per_channel_interval)
    outbox = Outbox(wake=sender.wake, clock=clock)
    publisher = Publisher(outbox)
    register = register or default_register()
    projects = ProjectService(db, SlackChannels(client), publisher, clock)
    people = PeopleService(db, register, publisher)

    def claim(key: str) -> bool:
        with db.session() as session:
            return store.claim_request(session, key=key)

    return Bot(
        settings=settings,
        db=db,
        register=register,
        client=client,
        outbox=outbox,
        sender=sender,
        projects=projects,
        people=people,
        commands=Commands(projects, people, admins=settings.admins, claim=claim),
        actions=Actions(projects, claim=claim),
        views=Views(projects, claim=claim),
        events=Events(projects, people),
        clock=clock,
    )
