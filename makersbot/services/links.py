"""`/makers link|unlink|links`: linking GitHub repositories and Trello boards to projects.

One flow serves both sources; what differs lives in `link_sources.py`. Webhooks are
registered after Slack's acknowledgement, never inside it; links without one are polled
(`polling.py`).
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlmodel import Session

from integrations.changes import IntegrationError
from makersbot import render_mirror
from makersbot.db import Database
from makersbot.domain.projects import Role
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.render import plain
from makersbot.services.link_filters import LINK_USAGE, describe_filters, parse_filters
from makersbot.services.link_sources import LinkSource, Target, every
from makersbot.services.mirror import MirrorService
from makersbot.services.polling import LinkPoller
from makersbot.store import links as link_store
from makersbot.store import people as people_store
from makersbot.store import projects as project_store
from makersbot.store.models import Link, Project

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class LinkService:
    """`/makers link|unlink|links` and webhook registration; polling through `poller`."""

    def __init__(
        self,
        db: Database,
        mirror: MirrorService,
        poller: LinkPoller,
        *,
        sources: Iterable[LinkSource],
        public_url: str | None,
        clock: Clock,
        resolve: Callable[[Session, Actor, str], tuple[Project, str]],
    ) -> None:
        self.db = db
        self.mirror = mirror
        self.poller = poller
        self.sources = {source.name: source for source in sources}
        self.public_url = public_url
        self.clock = clock
        self.resolve = resolve

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
        if len(words) < 2 or words[0].lower() not in self.sources:
            raise UserError(f"Usage: {LINK_USAGE}")
        source = self.sources[words[0].lower()]
        filters = parse_filters(words[2:], words[0])
        target = source.find(words[1])
        link_id = self._create_link(actor, project, source.name, target, filters)
        self.poller.poll_link(link_id, first=True)
        hook_note = self._hook(source, link_id)
        return Outcome(
            f"Linked {source.named(target.name)} to *{plain(project.name, 100)}* "
            f"({describe_filters(filters)}). Changes will show in <#{project.channel_id}>. "
            + hook_note
        )

    def _create_link(
        self, actor: Actor, project: Project, source: str, found: Target, filters: dict[str, Any]
    ) -> int:
        """The project's link to `found`, new or with its filters replaced."""
        with self.db.session() as session:
            person = people_store.ensure_person(
                session, slack_user_id=actor.slack_user_id, display_name=actor.display_name
            )
            existing = link_store.project_link(
                session, project_id=project.id or 0, source=source, target=found.target
            )
            if existing is not None:
                existing.filters = filters
                session.add(existing)
                assert existing.id is not None
                return existing.id
            link = Link(
                project_id=project.id or 0,
                source=source,
                target=found.target,
                target_name=found.name,
                url=found.url,
                filters=filters,
                created_by_id=person.id,
                created_at=self.clock(),
            )
            link_id = link_store.add_link(session, link=link)
            self.mirror.publish_summary(session, link)
            return link_id

    def _hook(self, source: LinkSource, link_id: int) -> str:
        """Register the link's webhook unless it has one; the reply says how it stays fresh."""
        with self.db.session(read_only=True) as session:
            link = link_store.get_link(session, link_id=link_id)
            assert link is not None
            target = Target(link.target, link.target_name, link.url)
            hooked = link.webhook_id is not None
        how_often = every(self.poller.poll_interval)
        if hooked:
            return "Its webhook was already set up."
        if not self.public_url or not source.secret:
            return f"I will check it every {how_often}."
        url = f"{self.public_url}{source.route}"
        try:
            hook_id = source.create_hook(target, url)
        except IntegrationError as exc:
            self._save_hook(link_id, None, str(exc))
            return source.refused(exc.status, url, how_often)
        self._save_hook(link_id, hook_id, None)
        return "Its webhook is set up, so changes arrive as they happen."

    def _save_hook(self, link_id: int, hook_id: str | None, error: str | None) -> None:
        with self.db.session() as session:
            link = link_store.get_link(session, link_id=link_id)
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
            if len(words) < 2 or words[0].lower() not in self.sources:
                raise UserError("Usage: `/makers unlink <project> github|trello <repo or board>`")
            source, ref = self.sources[words[0].lower()], words[1].strip("<>").split("|")[0]
            links = link_store.project_links(
                session, project_id=project.id or 0, source=source.name
            )
            found = [link for link in links if _names(link, ref)]
            if not found:
                raise UserError(
                    f"*{plain(project.name, 100)}* does not mirror "
                    f"“{plain(ref, 100)}”. `/makers links` lists what it does."
                )
            link = found[0]
            hook, target = link.webhook_id, Target(link.target, link.target_name, link.url)
            link_store.delete_link(session, link=link)
        if hook:
            try:
                source.delete_hook(target, hook)
            except IntegrationError as exc:
                log.info("could not delete webhook %s: %s", hook, exc)
        return Outcome(
            f"Stopped mirroring `{plain(target.name, 100)}` into *{plain(project.name, 100)}*."
        )

    def links(self, actor: Actor, args: str) -> Outcome:
        """What a project mirrors, and how each is kept up to date."""
        how_often = f"checked every {every(self.poller.poll_interval)}"
        with self.db.session(read_only=True) as session:
            project = self.resolve(session, actor, args)[0]
            rows = [
                (
                    link.source,
                    link.target_name or link.target,
                    ("webhook" if link.webhook_id else how_often)
                    + f"; {describe_filters(link.filters)}",
                )
                for link in link_store.project_links(session, project_id=project.id or 0)
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

    # Polling (the background loop and the tests call these) ------------------------------

    def poll_due(self) -> int:
        """Poll every link whose interval has passed (see `LinkPoller.poll_due`)."""
        return self.poller.poll_due()

    def poll_link(self, link_id: int, *, first: bool = False) -> int:
        """Poll one link now; returns the changes applied."""
        return self.poller.poll_link(link_id, first=first)


def _names(link: Link, ref: str) -> bool:
    """Whether `ref` (as typed after `unlink`) names this link: its target, name or URL."""
    ref = ref.lower()
    return ref in (link.target.lower(), link.target_name.lower(), link.url.lower()) or bool(
        link.url and link.url.lower().startswith(ref.rstrip("/"))
    )
