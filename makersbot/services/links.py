"""Linking GitHub repositories and Trello boards to projects, and polling the ones without
webhooks. Webhooks are registered after Slack's acknowledgement, never inside it."""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlmodel import Session, col, select

from integrations.changes import Change, IntegrationError, ItemState
from makersbot import render_mirror
from makersbot.db import Database
from makersbot.domain.projects import Role
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.render import plain
from makersbot.services.mirror import MirrorService, summary_key
from makersbot.store import mirror as mirror_store
from makersbot.store import people as people_store
from makersbot.store import projects as project_store
from makersbot.store.models import Link, MirroredItem, Project

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
REPO = re.compile(r"^(?:https?://[^/]+/)?(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")
SAFETY_FACTOR = 6
HOOK_EVENTS = ("issues", "pull_request", "issue_comment", "pull_request_review", "label", "fork")
LINK_USAGE = (
    "`/makers link <project> github <owner/repo> [labels:a,b] [exclude:c] [bots:on] "
    "[threads:off]` or `/makers link <project> trello <board url> [lists:Doing,Done] "
    "[threads:off]`"
)


class GitHubApi(Protocol):
    def repository(self, full_name: str) -> Any: ...
    def create_hook(self, full_name: str, url: str, secret: str, events: Any) -> str: ...
    def delete_hook(self, full_name: str, hook_id: str) -> None: ...
    def poll_issues(self, full_name: str, *, etag: str | None, since: datetime | None) -> Any: ...


class TrelloApi(Protocol):
    def board(self, ref: str) -> Any: ...
    def create_webhook(self, board_id: str, callback_url: str, description: str) -> str: ...
    def delete_webhook(self, webhook_id: str) -> None: ...
    def actions_since(
        self, board_id: str, since_action_id: str | None, limit: int = 100
    ) -> Any: ...
    def open_cards(self, board_id: str) -> Any: ...


@dataclass(frozen=True)
class WebhookSettings:
    public_url: str | None
    github_secret: str | None
    trello_secret: str | None
    poll_interval: int


def parse_filters(words: list[str], source: str) -> dict[str, Any]:
    """`labels:a,b exclude:c bots:on lists:"In progress,Done" threads:off` → a filters dict."""
    filters: dict[str, Any] = {"threads": True, "bots": False}
    for word in words:
        name, sep, value = word.partition(":")
        values = [v.strip() for v in value.split(",") if v.strip()]
        name = name.lower()
        if not sep or not value:
            raise UserError(f"I don't understand the filter “{plain(word, 60)}”. {LINK_USAGE}")
        if name in ("labels", "label"):
            filters["labels"] = values
        elif name in ("exclude", "-labels", "exclude-labels"):
            filters["exclude_labels"] = values
        elif name == "bots":
            filters["bots"] = value.lower() in ("on", "yes", "true", "include")
        elif name == "threads":
            filters["threads"] = value.lower() not in ("off", "no", "false")
        elif name == "lists" and source == "trello":
            filters["lists"] = values
        else:
            raise UserError(f"Unknown filter “{plain(name, 30)}”. {LINK_USAGE}")
    return filters


def describe_filters(filters: dict[str, Any]) -> str:
    parts = []
    if filters.get("labels"):
        parts.append("only labels " + ", ".join(filters["labels"]))
    if filters.get("exclude_labels"):
        parts.append("not labels " + ", ".join(filters["exclude_labels"]))
    if filters.get("lists"):
        parts.append("lists " + ", ".join(filters["lists"]))
    parts.append("bots included" if filters.get("bots") else "bots left out")
    if not filters.get("threads", True):
        parts.append("no thread replies")
    return "; ".join(parts)


class LinkService:
    """`/makers link|unlink|links`, webhook registration and polling."""

    def __init__(
        self,
        db: Database,
        mirror: MirrorService,
        *,
        github: GitHubApi | None,
        trello: TrelloApi | None,
        webhooks: WebhookSettings,
        clock: Clock,
        resolve: Callable[[Session, Actor, str], tuple[Project, str]],
    ) -> None:
        self.db = db
        self.mirror = mirror
        self.github = github
        self.trello = trello
        self.webhooks = webhooks
        self.clock = clock
        self.resolve = resolve
        self._failed_at: dict[int, datetime] = {}  # links whose last poll failed, and when

    # Commands ----------------------------------------------------------------------------

    def link(self, actor: Actor, args: str) -> Outcome:
        """Link a repo or board: validate it, record the link, post the summary, hook it."""
        with self.db.session(read_only=True) as session:
            project, rest = self.resolve(session, actor, args)
            self._require_member(session, actor, project)
        try:
            words = shlex.split(rest)
        except ValueError:
            raise UserError(f"Unbalanced quotes. {LINK_USAGE}") from None
        if len(words) < 2 or words[0].lower() not in ("github", "trello"):
            raise UserError(f"Usage: {LINK_USAGE}")
        source, target, filters = words[0].lower(), words[1], parse_filters(words[2:], words[0])
        if source == "github":
            return self._link_github(actor, project, target, filters)
        return self._link_trello(actor, project, target, filters)

    def _link_github(
        self, actor: Actor, project: Project, target: str, filters: dict[str, Any]
    ) -> Outcome:
        if self.github is None:
            raise UserError("GitHub is not set up on this bot (GITHUB_TOKEN). Ask its maintainer.")
        match = REPO.match(target.strip("<>").split("|")[0])
        if not match:
            raise UserError(f"“{plain(target, 100)}” is not a repository: use owner/repo.")
        try:
            repo = self.github.repository(match["repo"])
        except IntegrationError as exc:
            if exc.status == 404:
                raise UserError(
                    f"I can't see `{plain(match['repo'], 100)}`: check the name, and that "
                    "the bot's GitHub token can read it."
                ) from None
            raise UserError(f"GitHub did not answer ({exc}). Try again in a minute.") from None
        link_id = self._create_link(
            actor, project, "github", repo.full_name.lower(), repo.full_name, repo.html_url, filters
        )
        self.poll_link(link_id, first=True)
        hook_note = self._hook_github(link_id)
        return Outcome(
            f"Linked `{plain(repo.full_name, 100)}` to *{plain(project.name, 100)}* "
            f"({describe_filters(filters)}). Changes will show in <#{project.channel_id}>. "
            + hook_note
        )

    def _link_trello(
        self, actor: Actor, project: Project, target: str, filters: dict[str, Any]
    ) -> Outcome:
        if self.trello is None:
            raise UserError(
                "Trello is not set up on this bot (TRELLO_API_KEY, TRELLO_TOKEN). "
                "Ask its maintainer."
            )
        try:
            board = self.trello.board(target.strip("<>").split("|")[0])
        except IntegrationError as exc:
            if exc.status in (400, 401, 404):
                raise UserError(
                    f"I can't see the Trello board “{plain(target, 100)}”: check the link, and "
                    "that the bot's Trello account is a member of the board."
                ) from None
            raise UserError(f"Trello did not answer ({exc}). Try again in a minute.") from None
        link_id = self._create_link(
            actor, project, "trello", board.id, board.name, board.url, filters
        )
        self.poll_link(link_id, first=True)
        hook_note = self._hook_trello(link_id)
        return Outcome(
            f"Linked the Trello board *{plain(board.name, 100)}* to "
            f"*{plain(project.name, 100)}* ({describe_filters(filters)}). Changes will show in "
            f"<#{project.channel_id}>. " + hook_note
        )

    def _create_link(
        self,
        actor: Actor,
        project: Project,
        source: str,
        target: str,
        name: str,
        url: str,
        filters: dict[str, Any],
    ) -> int:
        with self.db.session() as session:
            person = people_store.ensure_person(
                session, slack_user_id=actor.slack_user_id, display_name=actor.display_name
            )
            existing = session.exec(
                select(Link).where(
                    Link.project_id == project.id, Link.source == source, Link.target == target
                )
            ).first()
            if existing is not None:
                existing.filters = filters
                session.add(existing)
                assert existing.id is not None
                return existing.id
            link = Link(
                project_id=project.id or 0,
                source=source,
                target=target,
                target_name=name,
                url=url,
                filters=filters,
                created_by_id=person.id,
                created_at=self.clock(),
            )
            session.add(link)
            session.flush()
            assert link.id is not None
            self.mirror.publish_summary(session, link)
            return link.id

    def _hook_github(self, link_id: int) -> str:
        hooks = self.webhooks
        with self.db.session(read_only=True) as session:
            link = session.get(Link, link_id)
            assert link is not None
            repo, hooked = link.target_name, link.webhook_id is not None
        if hooked:
            return "Its webhook was already set up."
        if not hooks.public_url or not hooks.github_secret:
            return f"I will check it every {_every(hooks.poll_interval)}."
        url = f"{hooks.public_url}/github/webhook"
        assert self.github is not None
        try:
            hook_id = self.github.create_hook(repo, url, hooks.github_secret, HOOK_EVENTS)
        except IntegrationError as exc:
            self._save_hook(link_id, None, str(exc))
            return (
                f"I could not add a webhook (GitHub said {exc.status or 'no'}), so I will check "
                f"every {_every(hooks.poll_interval)}. For instant updates, a repo admin can add "
                f"one in Settings → Webhooks: payload URL `{url}`, content type "
                "`application/json`, the secret from GITHUB_WEBHOOK_SECRET, and the events "
                "Issues, Pull requests, Issue comments, Pull request reviews, Labels and Forks."
            )
        self._save_hook(link_id, hook_id, None)
        return "Its webhook is set up, so changes arrive as they happen."

    def _hook_trello(self, link_id: int) -> str:
        hooks = self.webhooks
        with self.db.session(read_only=True) as session:
            link = session.get(Link, link_id)
            assert link is not None
            board_id, hooked = link.target, link.webhook_id is not None
        if hooked:
            return "Its webhook was already set up."
        if not hooks.public_url or not hooks.trello_secret:
            return f"I will check it every {_every(hooks.poll_interval)}."
        assert self.trello is not None
        try:
            hook_id = self.trello.create_webhook(
                board_id, f"{hooks.public_url}/trello/webhook", "makersbot"
            )
        except IntegrationError as exc:
            self._save_hook(link_id, None, str(exc))
            return (
                f"I could not add a Trello webhook ({exc.status or 'no answer'}), so I will "
                f"check every {_every(hooks.poll_interval)}. Trello creates webhooks only "
                "through its API: check that the bot's Trello account is a member of the "
                f"board and that `{hooks.public_url}/trello/webhook` answers HEAD with 200 "
                "from the internet, then link the board again."
            )
        self._save_hook(link_id, hook_id, None)
        return "Its webhook is set up, so changes arrive as they happen."

    def _save_hook(self, link_id: int, hook_id: str | None, error: str | None) -> None:
        with self.db.session() as session:
            link = session.get(Link, link_id)
            if link is not None:
                link.webhook_id, link.webhook_error = hook_id, (error or None)
                session.add(link)
                if hook_id:
                    self.mirror.publish_summary(session, link)

    def unlink(self, actor: Actor, args: str) -> Outcome:
        """Stop mirroring a repo or board; its messages stay as they are."""
        with self.db.session() as session:
            project, rest = self.resolve(session, actor, args)
            self._require_member(session, actor, project)
            words = rest.split()
            if len(words) < 2 or words[0].lower() not in ("github", "trello"):
                raise UserError("Usage: `/makers unlink <project> github|trello <repo or board>`")
            source, target = words[0].lower(), words[1].strip("<>").split("|")[0]
            links = session.exec(
                select(Link).where(Link.project_id == project.id, Link.source == source)
            ).all()
            found = [
                lk
                for lk in links
                if target.lower() in (lk.target.lower(), lk.target_name.lower(), lk.url.lower())
                or (lk.url and lk.url.lower().startswith(target.lower().rstrip("/")))
            ]
            if not found:
                raise UserError(
                    f"*{plain(project.name, 100)}* does not mirror "
                    f"“{plain(target, 100)}”. `/makers links` lists what it does."
                )
            link = found[0]
            hook, name = link.webhook_id, link.target_name
            for item in session.exec(select(MirroredItem).where(MirroredItem.link_id == link.id)):
                session.delete(item)
            session.delete(link)
        if hook:
            try:
                if source == "github" and self.github:
                    self.github.delete_hook(name, hook)
                elif source == "trello" and self.trello:
                    self.trello.delete_webhook(hook)
            except IntegrationError as exc:
                log.info("could not delete webhook %s: %s", hook, exc)
        return Outcome(f"Stopped mirroring `{plain(name, 100)}` into *{plain(project.name, 100)}*.")

    def links(self, actor: Actor, args: str) -> Outcome:
        """What a project mirrors, and how each is kept up to date."""
        with self.db.session(read_only=True) as session:
            project = self.resolve(session, actor, args)[0]
            links = session.exec(
                select(Link).where(Link.project_id == project.id).order_by(col(Link.id))
            ).all()
            rows = [
                (
                    lk.source,
                    lk.target_name or lk.target,
                    (
                        "webhook"
                        if lk.webhook_id
                        else f"checked every {_every(self.webhooks.poll_interval)}"
                    )
                    + f"; {describe_filters(lk.filters)}",
                )
                for lk in links
            ]
            return Outcome(render_mirror.links_list(project.name, rows))

    def _require_member(self, session: Session, actor: Actor, project: Project) -> None:
        if actor.is_admin:
            return
        person = people_store.get_person(session, slack_user_id=actor.slack_user_id)
        member = (
            project_store.membership(session, project_id=project.id or 0, person_id=person.id)
            if person is not None and person.id is not None
            else None
        )
        if member is None or member.role == Role.ADOPTER.value:
            raise UserError(
                f"Only the makers of *{plain(project.name, 100)}* can change what it mirrors. "
                f"Join first: `/makers join {project.slug}`."
            )

    # Polling -----------------------------------------------------------------------------

    def poll_due(self) -> int:
        """Poll links whose interval has passed: every POLL_INTERVAL without a webhook, and
        six times less often with one, to catch a deleted hook or a delivery GitHub dropped
        (it does not retry). Unchanged GitHub repos answer 304, which costs no rate limit."""
        now = self.clock()
        cutoff = now - timedelta(seconds=self.webhooks.poll_interval)
        hooked_cutoff = now - timedelta(seconds=self.webhooks.poll_interval * SAFETY_FACTOR)
        with self.db.session(read_only=True) as session:
            never = col(Link.last_polled_at).is_(None)
            ids = session.exec(
                select(Link.id).where(
                    never
                    | (col(Link.webhook_id).is_(None) & (col(Link.last_polled_at) <= cutoff))
                    | (
                        col(Link.webhook_id).is_not(None)
                        & (col(Link.last_polled_at) <= hooked_cutoff)
                    )
                )
            ).all()
        for link_id in ids:
            failed = self._failed_at.get(link_id or 0)
            if failed is not None and failed > cutoff:
                continue
            if link_id is not None:
                try:
                    self.poll_link(link_id)
                except Exception:  # one broken link must not stop the others
                    log.exception("polling link %s failed", link_id)
        return len(ids)

    def poll_link(self, link_id: int, *, first: bool = False) -> int:
        """Fetch what changed since the last poll and apply it; returns the changes applied."""
        with self.db.session(read_only=True) as session:
            link = session.get(Link, link_id)
            if link is None:
                return 0
            never_polled = link.last_polled_at is None
            source, target, name, etag, cursor = (
                link.source,
                link.target,
                link.target_name,
                link.etag,
                link.cursor,
            )
        now = self.clock()
        # Until one poll has succeeded there is nothing to compare with: fill quietly, so a
        # first look that failed never turns every old issue into a new message later.
        first = first or never_polled
        try:
            if source == "github" and self.github is not None:
                # The first look reads every issue once, so the summary counts are true;
                # later polls ask only for what changed since the newest one seen.
                since = datetime.fromisoformat(cursor) if cursor else None
                poll = self.github.poll_issues(name, etag=etag, since=since)
                items: tuple[ItemState, ...] = () if poll.not_modified else tuple(poll.items)
                return self._apply_github_poll(link_id, items, poll.etag, now, first)
            if source == "trello" and self.trello is not None:
                if first:
                    self._store_trello_cards(link_id, self.trello.open_cards(target))
                page = self.trello.actions_since(target, cursor)
                return self._apply_trello_poll(
                    link_id, list(page.changes), page.newest_action_id, now, first
                )
        except IntegrationError as exc:
            # last_polled_at stays as it was (it marks success); wait an interval to retry.
            log.warning("polling %s %s failed: %s", source, name, exc)
            self._failed_at[link_id] = now
        return 0

    def _apply_github_poll(
        self,
        link_id: int,
        items: tuple[ItemState, ...],
        etag: str | None,
        now: datetime,
        first: bool,
    ) -> int:
        with self.db.session() as session:
            link = session.get(Link, link_id)
            assert link is not None
            if first:
                # The first look fills the board summary quietly: no message per old item.
                self._store_silently(session, link, items)
                changes: list[Change] = []
            else:
                changes = self.mirror.changes_from_poll(session, link, items)
                for change in changes:
                    self.mirror.apply(session, change)
                self.mirror.publish_summary(session, link)
            latest = max((i.updated_at for i in items if i.updated_at), default=None)
            link.etag = etag
            if latest is not None:
                link.cursor = latest.isoformat()
            link.last_polled_at = now
            session.add(link)
            return len(changes)

    def _apply_trello_poll(
        self, link_id: int, changes: list[Change], newest: str | None, now: datetime, first: bool
    ) -> int:
        with self.db.session() as session:
            link = session.get(Link, link_id)
            assert link is not None
            if not first:
                for change in changes:
                    self.mirror.apply(session, change)
                self.mirror.publish_summary(session, link)
            if newest:
                link.cursor = newest
            link.last_polled_at = now
            session.add(link)
            return 0 if first else len(changes)

    def _store_trello_cards(self, link_id: int, cards: tuple[ItemState, ...]) -> None:
        with self.db.session() as session:
            link = session.get(Link, link_id)
            if link is not None:
                self._store_silently(session, link, cards)

    def _store_silently(self, session: Session, link: Link, items: tuple[ItemState, ...]) -> None:
        assert link.id is not None
        for item in items:
            if not self.mirror.wanted(link, item, None):
                continue  # filtered out (bots, labels, lists): not counted, never shown
            exists = mirror_store.mirrored_item(session, link_id=link.id, item_key=item.key)
            if exists is not None:
                continue
            session.add(
                MirroredItem(
                    link_id=link.id,
                    item_key=item.key,
                    kind=item.kind,
                    number=item.number,
                    title=item.title,
                    url=item.url,
                    state=item.state,
                    closed=item.closed,
                    labels=list(item.labels),
                    people=list(item.people),
                    author=item.author,
                    due=item.due,
                    comments=item.comments or 0,
                    source_updated_at=item.updated_at,
                    created_at=item.updated_at or self.clock(),
                )
            )
        session.flush()
        self.mirror.publish_summary(session, link)


def _every(seconds: int) -> str:
    return f"{seconds // 60} minutes" if seconds >= 120 else f"{seconds} seconds"


__all__ = ["LinkService", "WebhookSettings", "parse_filters", "summary_key"]
