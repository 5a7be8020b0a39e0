"""`/makers link|unlink|links`: linking GitHub repositories and Trello boards to projects.

One flow serves both sources; what differs lives in `link_sources.py`. Webhooks are
registered after Slack's acknowledgement, never inside it; links without one are polled
(`polling.py`).
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Iterable
from dataclasses import astuple
from datetime import datetime
from typing import Any

from sqlmodel import Session

from integrations.changes import IntegrationError
from makersbot import render_mirror
from makersbot.db import Database
from makersbot.domain.projects import Role
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.render import plain, text_reply
from makersbot.services.link_filters import LINK_USAGE, describe_filters, parse_filters
from makersbot.services.link_sources import (
    REPO,
    TRELLO_BOARD,
    HookKeys,
    LinkSource,
    Target,
    every,
)
from makersbot.services.mirror import MirrorService
from makersbot.services.polling import LinkPoller
from makersbot.store import links as link_store
from makersbot.store import people as people_store
from makersbot.store import projects as project_store
from makersbot.store.models import Link, Project

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

ALLOW_PRIVATE = "--allow-private"  # an admin links a private repo or board anyway


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
        channel_private: Callable[[str], bool] | None = None,
    ) -> None:
        self.db = db
        self.mirror = mirror
        self.poller = poller
        self.sources = {source.name: source for source in sources}
        self.public_url = public_url
        self.clock = clock
        self.resolve = resolve
        # Whether a Slack channel is private (conversations.info); unknown counts as public.
        self.channel_private = channel_private or (lambda _channel: False)

    # Commands ----------------------------------------------------------------------------

    def link(self, actor: Actor, args: str) -> Outcome:
        """Link a repo or board: validate it, record the link, post the summary, hook it.

        A private repo or board is linked only into a private channel, by someone whose own
        proven account can read it; an admin can override with `--allow-private`.
        """
        with self.db.session(read_only=True) as session:
            project, rest = self.resolve(session, actor, args)
            self._require_member(session, actor, project)
        try:
            words = shlex.split(rest)
        except ValueError:
            raise UserError(f"Unbalanced quotes. {LINK_USAGE}") from None
        override = ALLOW_PRIVATE in words
        words = [word for word in words if word != ALLOW_PRIVATE]
        if len(words) < 2 or words[0].lower() not in self.sources:
            raise UserError(f"Usage: {LINK_USAGE}")
        source = self.sources[words[0].lower()]
        filters = parse_filters(words[2:], words[0])
        target = source.find(words[1])
        if target.private:
            self._allow_private(actor, project, source, target, override=override)
        link_id, keys = self._create_link(actor, project, source, target, filters)
        self.poller.poll_link(link_id, first=True)
        hook_note = self._hook(source, link_id, keys)
        return Outcome(
            f"Linked {source.named(target.name)} to *{plain(project.name, 100)}* "
            f"({describe_filters(filters)}). Changes will show in <#{project.channel_id}>. "
            + hook_note
        )

    def _allow_private(
        self, actor: Actor, project: Project, source: LinkSource, target: Target, *, override: bool
    ) -> None:
        """Refuse a private target, saying why, unless it may be shown in this channel."""
        named = source.named(target.name)
        if override:
            if not actor.is_admin:
                raise UserError(f"Only an admin can use `{ALLOW_PRIVATE}`.")
            log.warning(
                "admin %s linked private %s %s to project %s (%s): privacy check overridden",
                actor.slack_user_id,
                source.name,
                target.target,
                project.slug,
                project.channel_id,
            )
            return
        asking = f"Or ask an admin to link it with `{ALLOW_PRIVATE}`."
        if not project.channel_id or not self.channel_private(project.channel_id):
            raise UserError(
                f"{named} is private and <#{project.channel_id}> is not: its issues and "
                "comments would be shown to everyone who can see the channel. Make the "
                f"channel private first. {asking}"
            )
        with self.db.session(read_only=True) as session:
            login = people_store.proven_login(
                session, slack_user_id=actor.slack_user_id, source=source.name
            )
        if login is None:
            raise UserError(
                f"{named} is private: prove your own {source.name.capitalize()} account "
                f"first (`/makers iam {source.name}`), so I can check that you can read it. "
                + asking
            )
        if not source.can_read(target, login):
            raise UserError(
                f"{named} is private and your account `{plain(login, 60)}` cannot read it, "
                f"so I will not mirror it. {asking}"
            )

    def _create_link(
        self,
        actor: Actor,
        project: Project,
        source: LinkSource,
        found: Target,
        filters: dict[str, Any],
    ) -> tuple[int, HookKeys]:
        """The project's link to `found`, new or with its filters replaced, and its keys."""
        with self.db.session() as session:
            person = people_store.ensure_person(
                session, slack_user_id=actor.slack_user_id, display_name=actor.display_name
            )
            link = link_store.project_link(
                session, project_id=project.id or 0, source=source.name, target=found.target
            )
            if link is not None:
                link.filters, link.private = filters, found.private
                if link.webhook_id is None and not (link.webhook_secret or link.callback_token):
                    # An older link with no hook: from now on its own keys, not the global one.
                    link.webhook_secret, link.callback_token = astuple(source.new_keys())
                session.add(link)
                assert link.id is not None
                return link.id, HookKeys(link.webhook_secret, link.callback_token)
            keys = source.new_keys()
            link = Link(
                project_id=project.id or 0,
                source=source.name,
                target=found.target,
                target_name=found.name,
                url=found.url,
                filters=filters,
                created_by_id=person.id,
                created_at=self.clock(),
                webhook_secret=keys.webhook_secret,
                callback_token=keys.callback_token,
                private=found.private,
            )
            link_id = link_store.add_link(session, link=link)
            self.mirror.publish_summary(session, link)
            return link_id, keys

    def _hook(self, source: LinkSource, link_id: int, keys: HookKeys) -> str:
        """Register the link's webhook unless it has one; the reply says how it stays fresh."""
        with self.db.session(read_only=True) as session:
            link = link_store.get_link(session, link_id=link_id)
            assert link is not None
            target = Target(link.target, link.target_name, link.url)
            hooked = link.webhook_id is not None
        how_often = every(self.poller.poll_interval)
        if hooked:
            return "Its webhook was already set up."
        if not self.public_url or not source.hookable:
            return f"I will check it every {how_often}."
        url = source.hook_url(self.public_url, keys)
        try:
            hook_id = source.create_hook(target, url, keys)
        except IntegrationError as exc:
            self._save_hook(link_id, None, str(exc))
            return source.refused(exc.status, url, how_often, keys)
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
        """Stop mirroring a repo or board: its link, items and events go, and its webhook;
        its messages stay as they are. The channel is told."""
        with self.db.session() as session:
            project, rest = self.resolve(session, actor, args)
            self._require_member(session, actor, project)
            words = rest.split()
            if len(words) != 2 or words[0].lower() not in self.sources:
                raise UserError("Usage: `/makers unlink <project> github|trello <repo or board>`")
            source, ref = self.sources[words[0].lower()], words[1]
            links = link_store.project_links(
                session, project_id=project.id or 0, source=source.name
            )
            found = [link for link in links if names(link, ref)]
            if not found:
                raise UserError(
                    f"*{plain(project.name, 100)}* does not mirror "
                    f"“{plain(ref, 100)}”. `/makers links` lists what it does."
                )
            link = found[0]
            hook, target = link.webhook_id, Target(link.target, link.target_name, link.url)
            manual = hook is None and link.webhook_secret is not None and bool(link.webhook_error)
            now, link_id = self.clock(), link.id
            link_store.delete_link(session, link=link, gone=f"gone:{now.timestamp():.6f}:")
            if project.channel_id:
                self.mirror.outbox.publish(
                    session,
                    key=f"unlinked:{link_id}:{now.isoformat()}",
                    channel=project.channel_id,
                    message=text_reply(
                        f"<@{actor.slack_user_id}> stopped mirroring "
                        f"{source.named(target.name)} here."
                    ),
                )
        note = self._unhook(source, target, hook, manual)
        return Outcome(
            f"Stopped mirroring `{plain(target.name, 100)}` into *{plain(project.name, 100)}*."
            + note
        )

    def _unhook(self, source: LinkSource, target: Target, hook: str | None, manual: bool) -> str:
        """Delete the webhook the link registered; what the person should still do."""
        if hook is None:
            if manual and source.name == "github":
                return (
                    " If a repo admin added its webhook by hand, they can delete it in "
                    "Settings → Webhooks: I refuse its deliveries from now on."
                )
            return ""
        try:
            source.delete_hook(target, hook)
        except IntegrationError as exc:
            log.info("could not delete webhook %s: %s", hook, exc)
            return (
                " I could not delete its webhook, so a repo or board admin may want to; "
                "I ignore what it sends from now on."
            )
        return " Its webhook is deleted."

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


def names(link: Link, ref: str) -> bool:
    """Whether `ref` (as typed after `unlink`) names exactly this link: its repository or
    board, its name or its URL. Never a prefix: `org/repo` is not `org/repo-two`."""
    typed = ref.strip().strip("<>").split("|")[0].strip().lower().rstrip("/")
    typed = typed.removesuffix(".git")
    known = {link.target.lower(), link.target_name.lower(), link.url.lower().rstrip("/")}
    if link.source == "github":
        repo = REPO.match(typed)
        return repo is not None and repo["repo"] in known
    board = TRELLO_BOARD.fullmatch(typed)
    short = TRELLO_BOARD.fullmatch(link.url.lower().rstrip("/"))
    if board and short and board["short"] == short["short"]:
        return True
    return typed in known or bool(short and typed == short["short"])
