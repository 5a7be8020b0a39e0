"""The composition root: builds every part of the bot from one Settings object."""

from __future__ import annotations

import logging
import re
import threading
import time
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
from integrations.github.gateway import GitHubGateway
from integrations.trello.gateway import TrelloGateway
from makersbot.councils import CouncilRegister, default_register
from makersbot.db import Database
from makersbot.outbox import Outbox, SlackSender
from makersbot.publishing import Publisher
from makersbot.scheduler import DigestSchedule, Scheduler
from makersbot.services.deliveries import DeliveryService
from makersbot.services.delivery_sources import github_source, trello_source
from makersbot.services.digest import DigestService
from makersbot.services.link_sources import GitHubApi, GitHubLinks, TrelloApi, TrelloLinks
from makersbot.services.links import LinkService
from makersbot.services.mirror import MirrorService
from makersbot.services.people import PeopleService
from makersbot.services.polling import LinkPoller
from makersbot.services.projects import ProjectService
from makersbot.settings import Settings
from makersbot.slack_gateway import SlackChannels
from makersbot.store import rows
from makersbot.store.models import utcnow

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
    mirror: MirrorService
    deliveries: DeliveryService
    links: LinkService
    digest: DigestService
    commands: Commands
    actions: Actions
    views: Views
    events: Events
    clock: Clock
    scheduler: Scheduler | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _deliveries: threading.Event = field(default_factory=threading.Event)

    def claim(self, key: str) -> bool:
        """True the first time a request key is seen, across processes."""
        with self.db.session() as session:
            return rows.claim_request(session, key=key)

    def bolt_app(self) -> App:
        """The Bolt app with every listener registered (HTTP or Socket Mode)."""
        app = App(
            client=self.client,
            signing_secret=self.settings.secret("slack_signing_secret") or "",
            token_verification_enabled=False,
            # Ack functions answer directly; slow work is registered as lazy listeners.
            # Without this Bolt polls for ack() every 10 ms, the floor of every request.
            process_before_response=True,
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
        """Start the outbox sender, delivery processor, poller and chart uploads here."""
        for name, target in (
            ("outbox", self.sender.run_forever),
            ("deliveries", self._process_forever),
            ("poller", self._poll_forever),
            ("charts", self._upload_charts_forever),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def recover_after_restart(self) -> None:
        """For a single process starting up: nobody else holds a claim, so free them now.

        Messages whose claim is freed are checked against the channel's history before they
        are posted, so a post made just before a crash is edited, not repeated.
        """
        from sqlalchemy import update

        from makersbot.store.models import Delivery

        released = self.sender.release_all_claims()
        with self.db.session() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.processed_at.is_(None))  # type: ignore[union-attr]
                .values(claimed_until=None)
            )
        if released:
            log.info("released %s message claim(s) left by an earlier run", released)

    def wake_processor(self) -> None:
        self._deliveries.set()

    def _process_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                self.deliveries.process_pending()
            except Exception:  # keep going: the rows keep their state for a retry
                log.exception("delivery processing round failed")
            if self._deliveries.wait(0.5):
                self._settle_burst()
            self._deliveries.clear()

    def _settle_burst(self, quiet: float = 0.05, longest: float = 1.0) -> None:
        """Let a burst of deliveries finish arriving before processing it.

        Answering GitHub and Trello quickly matters more than starting at once: Slack takes
        about one post a second per channel anyway, and a burst processed together makes
        fewer summary updates. Waits until deliveries pause for `quiet` seconds, at most
        `longest` seconds in all.
        """
        deadline = time.monotonic() + longest
        while time.monotonic() < deadline and not self._stopping.is_set():
            self._deliveries.clear()
            if not self._deliveries.wait(quiet):
                return

    def _poll_forever(self) -> None:
        # Checked often, polled per link only when POLL_INTERVAL has passed for it.
        while not self._stopping.wait(min(30.0, self.settings.poll_interval / 2)):
            try:
                self.links.poll_due()
            except Exception:
                log.exception("polling round failed")

    def _upload_charts_forever(self) -> None:
        # A digest's chart goes into its thread once Slack has the digest message.
        while not self._stopping.wait(5.0):
            try:
                self.digest.upload_pending_charts()
            except Exception:
                log.exception("chart upload round failed")

    def start_scheduler(self) -> None:
        """The digest schedule: only in `serve` or `worker`, never in every web worker."""
        self.scheduler = Scheduler(
            self.db, DigestSchedule.from_settings(self.settings), self.digest, clock=self.clock
        )
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        self._stopping.set()
        self._deliveries.set()
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
    github_gateway: GitHubApi | None = None,
    trello_gateway: TrelloApi | None = None,
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
    wake_deliveries = threading.Event()
    mirror = MirrorService(db, outbox, clock=clock)
    github_secret = settings.secret("github_webhook_secret")
    trello_secret = settings.secret("trello_api_secret")
    deliveries = DeliveryService(
        db,
        mirror,
        sources=(
            github_source(github_secret),
            trello_source(trello_secret, settings.trello_callback_url),
        ),
        clock=clock,
        wake=wake_deliveries.set,
    )
    digest = DigestService(
        db,
        outbox,
        client,
        schedule=DigestSchedule.from_settings(settings),
        hub_channel=settings.digest_channel,
        admins=settings.admins,
        clock=clock,
    )
    github_api = github_gateway or _github_gateway(settings)
    trello_api = trello_gateway or _trello_gateway(settings)
    poller = LinkPoller(
        db,
        mirror,
        github=github_api,
        trello=trello_api,
        poll_interval=settings.poll_interval,
        clock=clock,
    )
    links = LinkService(
        db,
        mirror,
        poller,
        sources=(GitHubLinks(github_api, github_secret), TrelloLinks(trello_api, trello_secret)),
        public_url=settings.public_url,
        clock=clock,
        resolve=projects.split_ref,
    )

    def claim(key: str) -> bool:
        with db.session() as session:
            return rows.claim_request(session, key=key)

    return Bot(
        settings=settings,
        db=db,
        register=register,
        client=client,
        outbox=outbox,
        sender=sender,
        projects=projects,
        people=people,
        mirror=mirror,
        deliveries=deliveries,
        links=links,
        digest=digest,
        commands=Commands(projects, people, links, digest, admins=settings.admins, claim=claim),
        actions=Actions(projects, claim=claim),
        views=Views(projects, claim=claim),
        events=Events(projects, people),
        clock=clock,
        _deliveries=wake_deliveries,
    )


def _github_gateway(settings: Settings) -> GitHubApi | None:
    token = settings.secret("github_token")
    return GitHubGateway(settings.github_api_url, token) if token else None


def _trello_gateway(settings: Settings) -> TrelloApi | None:
    key, token = settings.secret("trello_api_key"), settings.secret("trello_token")
    return TrelloGateway(settings.trello_api_url, key, token) if key and token else None
