"""Polling linked repositories and boards: every link without a webhook, and the others now
and then, to catch a deleted hook or a delivery GitHub dropped (it does not retry).

What changed is worked out by the integrations (`integrations.github.poll`,
`integrations.trello.poll`) with the same dedupe keys as webhooks, so a change seen both ways
is applied once by the mirror.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from integrations.changes import Change, IntegrationError, ItemState
from integrations.github import poll as github_poll
from makersbot.db import Database
from makersbot.services import item_state
from makersbot.services.link_filters import wanted
from makersbot.services.link_sources import GitHubApi, TrelloApi
from makersbot.services.mirror import MirrorService
from makersbot.store import links as link_store
from makersbot.store import mirror as mirror_store
from makersbot.store.models import Link, MirroredItem

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SAFETY_FACTOR = 6  # a link with a webhook is still polled, this many times less often


@dataclass(frozen=True)
class _Polled:
    """Where a poll starts: the link as it was read before any request is made."""

    link_id: int
    source: str
    target: str
    name: str
    etag: str | None
    cursor: str | None


class LinkPoller:
    """Fetches what changed on linked repositories and boards, and hands it to the mirror."""

    def __init__(
        self,
        db: Database,
        mirror: MirrorService,
        *,
        github: GitHubApi | None,
        trello: TrelloApi | None,
        poll_interval: int,
        clock: Clock,
    ) -> None:
        self.db = db
        self.mirror = mirror
        self.github = github
        self.trello = trello
        self.poll_interval = poll_interval
        self.clock = clock
        self._failed_at: dict[int, datetime] = {}  # links whose last poll failed, and when

    def poll_due(self) -> int:
        """Poll links whose interval has passed: every POLL_INTERVAL without a webhook, and
        six times less often with one, to catch a deleted hook or a delivery GitHub dropped
        (it does not retry). Unchanged GitHub repos answer 304, which costs no rate limit."""
        now = self.clock()
        cutoff = now - timedelta(seconds=self.poll_interval)
        hooked_cutoff = now - timedelta(seconds=self.poll_interval * SAFETY_FACTOR)
        with self.db.session(read_only=True) as session:
            ids = link_store.due_link_ids(session, cutoff=cutoff, hooked_cutoff=hooked_cutoff)
        for link_id in ids:
            failed = self._failed_at.get(link_id)
            if failed is not None and failed > cutoff:
                continue
            try:
                self.poll_link(link_id)
            except Exception:  # one broken link must not stop the others
                log.exception("polling link %s failed", link_id)
        return len(ids)

    def poll_link(self, link_id: int, *, first: bool = False) -> int:
        """Fetch what changed since the last poll and apply it; returns the changes applied."""
        with self.db.session(read_only=True) as session:
            link = link_store.get_link(session, link_id=link_id)
            if link is None:
                return 0
            never_polled = link.last_polled_at is None
            polled = _Polled(
                link_id, link.source, link.target, link.target_name, link.etag, link.cursor
            )
        now = self.clock()
        # Until one poll has succeeded there is nothing to compare with: fill quietly, so a
        # first look that failed never turns every old issue into a new message later.
        first = first or never_polled
        try:
            if polled.source == "github" and self.github is not None:
                return self._poll_github(self.github, polled, now, first)
            if polled.source == "trello" and self.trello is not None:
                return self._poll_trello(self.trello, polled, now, first)
        except IntegrationError as exc:
            # last_polled_at stays as it was (it marks success); wait an interval to retry.
            log.warning("polling %s %s failed: %s", polled.source, polled.name, exc)
            self._failed_at[link_id] = now
        return 0

    # GitHub ------------------------------------------------------------------------------

    def _poll_github(self, github: GitHubApi, polled: _Polled, now: datetime, first: bool) -> int:
        # The first look reads every issue once, so the summary counts are true; later
        # polls ask only for what changed since the newest one seen.
        since = datetime.fromisoformat(polled.cursor) if polled.cursor else None
        poll = github.poll_issues(polled.name, etag=polled.etag, since=since)
        items: tuple[ItemState, ...] = () if poll.not_modified else tuple(poll.items)
        with self.db.session() as session:
            link = link_store.get_link(session, link_id=polled.link_id)
            assert link is not None and link.id is not None
            if first:
                # The first look fills the board summary quietly: no message per old item.
                self._store_silently(session, link, items)
                changes: list[Change] = []
            else:
                changes = github_poll.changes(items, _seen(session, link.id, items), now=now)
                self.mirror.apply_all(session, changes)
                self.mirror.publish_summary(session, link)
            link.etag = poll.etag
            link.cursor = github_poll.cursor(items) or link.cursor
            link.last_polled_at = now
            session.add(link)
            return len(changes)

    # Trello ------------------------------------------------------------------------------

    def _poll_trello(self, trello: TrelloApi, polled: _Polled, now: datetime, first: bool) -> int:
        if first:
            cards = trello.open_cards(polled.target)
            with self.db.session() as session:
                link = link_store.get_link(session, link_id=polled.link_id)
                if link is not None:
                    self._store_silently(session, link, cards)
        page = trello.actions_since(polled.target, polled.cursor)
        with self.db.session() as session:
            link = link_store.get_link(session, link_id=polled.link_id)
            assert link is not None
            if not first:
                self.mirror.apply_all(session, page.changes)
                self.mirror.publish_summary(session, link)
            if page.newest_action_id:
                link.cursor = page.newest_action_id
            link.last_polled_at = now
            session.add(link)
            return 0 if first else len(page.changes)

    # -------------------------------------------------------------------------------------

    def _store_silently(self, session: Session, link: Link, items: tuple[ItemState, ...]) -> None:
        """Record items as they are, without a message each, and update the summary."""
        assert link.id is not None
        for item in items:
            if not wanted(link.filters, item):
                continue  # filtered out (bots, labels, lists): not counted, never shown
            # A webhook may have brought the item in first: the snapshot merges with it.
            row = mirror_store.locked_item(session, link_id=link.id, item_key=item.key)
            if row is None:
                row = MirroredItem(
                    link_id=link.id,
                    item_key=item.key,
                    kind=item.kind,
                    created_at=item.updated_at or self.clock(),
                )
            item_state.merge_snapshot(row, item, self.clock())
            session.add(row)
        session.flush()
        self.mirror.publish_summary(session, link)


def _seen(session: Session, link_id: int, items: tuple[ItemState, ...]) -> dict[str, MirroredItem]:
    """What the link stored of the polled items, by key."""
    found = {}
    for item in items:
        row = mirror_store.mirrored_item(session, link_id=link_id, item_key=item.key)
        if row is not None:
            found[item.key] = row
    return found
