"""The composition root: builds every part of the bot from one Settings object."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
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
from integrations.github.oauth import DeviceFlow, oauth_base_url
from integrations.trello.gateway import TrelloGateway
from integrations.trello.members import TrelloMembers
from makersbot.calendar import DigestSchedule
from makersbot.councils import CouncilRegister, default_register
from makersbot.db import Database
from makersbot.outbox import Outbox, SlackSender
from makersbot.publishing import Publisher
from makersbot.services.deliveries import DeliveryService
from makersbot.services.delivery_sources import github_source, trello_source
from makersbot.services.digest import DigestService
from makersbot.services.forgotten import ForgottenProjects
from makersbot.services.identity_admin import IdentityAdmin
from makersbot.services.identity_proof import IdentityProofs, start_thread
from makersbot.services.identity_slack import SlackDirectory
from makersbot.services.link_sources import GitHubApi, GitHubLinks, TrelloApi, TrelloLinks
from makersbot.services.links import LinkService
from makersbot.services.mirror import MirrorService
from makersbot.services.people import PeopleService
from makersbot.services.polling import LinkPoller
from makersbot.services.privacy import PrivacyService
from makersbot.services.projects import ProjectRules, ProjectService
from makersbot.settings import Settings
from makersbot.slack_gateway import SlackChannels, SlackGateway
from makersbot.store import rows
from makersbot.store.models import utcnow

log = logging.getLogger(__name__)
# Seconds `Bot.stop` waits for the slow halves of `/makers` requests under way.
STOP_WAIT = 10.0

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


@dataclass(frozen=True)
class ProofTransport:
    """How proving a GitHub or Trello account reaches them and waits for the person: in
    production, the network, a thread and real sleeps. The offline console answers over an
    in-process `http` session, runs the poll after the line and waits on its own clock."""

    http: requests.Session | None = None
    background: Callable[[Callable[[], None]], None] = start_thread
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Bot:
    """Every long-lived part of the bot, wired together. Nothing here runs by itself:
    `makersbot/loops.py` runs the background work, the web app serves the requests."""

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
    claim: Callable[[str], bool]
    # Set when a message is published or a delivery stored: the loops' nudges.
    outbox_published: threading.Event
    deliveries_stored: threading.Event

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
        handlers.register(
            app,
            commands=self.commands,
            actions=self.actions,
            views=self.views,
            events=self.events,
            event_middleware=[self._dedupe_events],
        )
        # Anything else Slack sends us is acknowledged and ignored, never answered 404.
        app.event(re.compile(".*"))(_ignore)
        app.action(re.compile(".*"))(_ignore)
        app.view(re.compile(".*"))(_ignore)
        app.shortcut(re.compile(".*"))(_ignore)
        app.error(_on_error)
        return app

    def _dedupe_events(self, body: dict[str, Any], next: Callable[[], None]) -> Any:
        # Events API retries (X-Slack-Retry-Num) carry the same event_id: act once. Events
        # that no listener acts on (the catch-all below) need no claim.
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not self.claim(f"event:{event_id}"):
            log.info("ignoring a repeated event %s", event_id)
            return BoltResponse(status=200, body="")
        next()
        return None

    def stop(self) -> None:
        """Close the database connections once the slow halves of `/makers` requests under
        way have finished (at most STOP_WAIT seconds): a reply someone is waiting for is
        not cut off. Stop any `Background` loops before this."""
        if not self.commands.wait_idle(STOP_WAIT):
            log.warning("stopping with /makers replies still being worked on")
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
    per_channel_interval: float | None = None,
    github_gateway: GitHubApi | None = None,
    trello_gateway: TrelloApi | None = None,
    proof_transport: ProofTransport | None = None,
) -> Bot:
    """Wire the bot; start nothing. Tests and the console pass their own Slack client and
    clock; `per_channel_interval` overrides SLACK_CHANNEL_PACE (the console has no limit)."""
    db = Database(settings.database_url)
    client = client or slack_client(settings)
    pace = settings.slack_channel_pace if per_channel_interval is None else per_channel_interval
    sender = SlackSender(db, client, clock=clock, per_channel_interval=pace)
    outbox_published, deliveries_stored = threading.Event(), threading.Event()
    outbox = Outbox(wake=outbox_published.set, clock=clock)
    publisher = Publisher(outbox)
    register = register or default_register()
    projects = _project_service(settings, db, client, publisher, clock)
    people = _people_service(settings, db, register, publisher, client, clock)
    mirror = MirrorService(db, outbox)
    digest = _digest_service(settings, db, outbox, client, clock)
    links = _link_service(settings, db, mirror, projects, clock, github_gateway, trello_gateway)
    privacy = PrivacyService(db, SlackGateway(client), outbox, publisher, clock)
    links.channel_private = SlackGateway(client).is_private
    claim = _request_claimer(db)
    deliveries = _delivery_service(settings, db, mirror, clock, deliveries_stored.set)
    proofs = _identity_proofs(settings, db, people, clock, proof_transport)
    commands = _commands(
        settings, db, projects, people, links, digest, publisher, privacy, claim, proofs
    )
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
        commands=commands,
        actions=Actions(projects, claim=claim, admins=settings.admins, privacy=privacy),
        views=Views(projects, claim=claim),
        events=Events(projects, people, resume=sender.unpark),
        clock=clock,
        claim=claim,
        outbox_published=outbox_published,
        deliveries_stored=deliveries_stored,
    )


def _project_service(
    settings: Settings, db: Database, client: WebClient, publisher: Publisher, clock: Clock
) -> ProjectService:
    rules = ProjectRules(
        gave_daily_cap=settings.makers_gave_daily_cap,
        start_daily_cap=settings.makers_start_daily_cap,
        digest_channel=settings.digest_channel,
    )
    return ProjectService(db, SlackChannels(client), publisher, clock, rules)


def _commands(
    settings: Settings,
    db: Database,
    projects: ProjectService,
    people: PeopleService,
    links: LinkService,
    digest: DigestService,
    publisher: Publisher,
    privacy: PrivacyService,
    claim: Callable[[str], bool],
    proofs: IdentityProofs,
) -> Commands:
    """The `/makers` command with every service it calls."""
    return Commands(
        projects,
        people,
        links,
        digest,
        admins=settings.admins,
        claim=claim,
        privacy=privacy,
        proofs=proofs,
        identity_admin=IdentityAdmin(db, people, publisher, resolve=projects.split_ref),
    )


def _people_service(
    settings: Settings,
    db: Database,
    register: CouncilRegister,
    publisher: Publisher,
    client: WebClient,
    clock: Clock,
) -> PeopleService:
    provable = {"github"} if settings.github_oauth_client_id else set()
    provable |= {"trello"} if settings.secret("trello_api_key") else set()
    return PeopleService(
        db,
        register,
        publisher,
        directory=SlackDirectory(client),
        provable=frozenset(provable),
        clock=clock,
    )


def _identity_proofs(
    settings: Settings,
    db: Database,
    people: PeopleService,
    clock: Clock,
    transport: ProofTransport | None,
) -> IdentityProofs:
    client_id, key = settings.github_oauth_client_id, settings.secret("trello_api_key")
    io = transport or ProofTransport()
    github = None
    if client_id:
        oauth_url = settings.github_oauth_url or oauth_base_url(settings.github_api_url)
        github = DeviceFlow(
            client_id, oauth_url=oauth_url, api_url=settings.github_api_url, http=io.http
        )
    trello = TrelloMembers(settings.trello_api_url, key, http=io.http) if key else None
    return IdentityProofs(
        db,
        people,
        github=github,
        trello=trello,
        clock=clock,
        sleep=io.sleep,
        background=io.background,
    )


def _request_claimer(db: Database) -> Callable[[str], bool]:
    def claim(key: str) -> bool:
        """True the first time a request key is seen, across processes."""
        with db.session() as session:
            return rows.claim_request(session, key=key)

    return claim


def _delivery_service(
    settings: Settings,
    db: Database,
    mirror: MirrorService,
    clock: Clock,
    wake: Callable[[], None],
) -> DeliveryService:
    github_secret = settings.secret("github_webhook_secret")
    trello_secret = settings.secret("trello_api_secret")
    return DeliveryService(
        db,
        mirror,
        sources=(
            github_source(github_secret),
            trello_source(trello_secret, settings.trello_callback_url),
        ),
        clock=clock,
        wake=wake,
    )


def _digest_service(
    settings: Settings, db: Database, outbox: Outbox, client: WebClient, clock: Clock
) -> DigestService:
    return DigestService(
        db,
        outbox,
        SlackGateway(client),
        schedule=DigestSchedule.from_settings(settings),
        hub_channel=settings.digest_channel,
        admins=settings.admins,
        clock=clock,
        forgotten=ForgottenProjects(db, outbox, Publisher(outbox), clock),
    )


def _link_service(
    settings: Settings,
    db: Database,
    mirror: MirrorService,
    projects: ProjectService,
    clock: Clock,
    github_gateway: GitHubApi | None,
    trello_gateway: TrelloApi | None,
) -> LinkService:
    github_secret = settings.secret("github_webhook_secret")
    trello_secret = settings.secret("trello_api_secret")
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
    return LinkService(
        db,
        mirror,
        poller,
        sources=(GitHubLinks(github_api, github_secret), TrelloLinks(trello_api, trello_secret)),
        public_url=settings.public_url,
        clock=clock,
        resolve=projects.split_ref,
    )


def _github_gateway(settings: Settings) -> GitHubApi | None:
    token = settings.secret("github_token")
    return GitHubGateway(settings.github_api_url, token) if token else None


def _trello_gateway(settings: Settings) -> TrelloApi | None:
    key, token = settings.secret("trello_api_key"), settings.secret("trello_token")
    return TrelloGateway(settings.trello_api_url, key, token) if key and token else None
