"""The mirror: applies GitHub and Trello changes to mirrored items and their living messages.

Changes come from stored webhook deliveries (services/deliveries.py) and from polls
(services/polling.py) with the same dedupe keys. Applying a change is idempotent: an item seen
by webhook and by poll changes once. The order does not matter either: each item's state is
a merge by source clock (services/item_state.py), and several workers may apply changes at
once (services/mirror_batch.py locks each item for its transaction).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence

from sqlmodel import Session

from integrations.changes import Change
from makersbot import render_mirror
from makersbot.db import Database
from makersbot.domain.mirror import ItemView, LinkView
from makersbot.outbox import Outbox
from makersbot.services.mirror_batch import ChangeBatch, item_key_of, sorted_changes
from makersbot.store import links as link_store
from makersbot.store import mirror as mirror_store
from makersbot.store.models import Link, MirroredItem, utcnow

log = logging.getLogger(__name__)

__all__ = ["MirrorService", "item_key_of", "summary_key"]

# Seconds between looks for summaries another process marked stale and did not rebuild.
ORPHANS_EVERY = 30.0


def summary_key(link_id: int) -> str:
    return f"link:{link_id}:summary"


class MirrorService:
    """Applies changes, publishes living messages, thread replies and board summaries."""

    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox
        # Whether this process marked a summary stale since its last flush; when it last
        # looked for the marks other processes left (0: not yet, so a new worker does).
        self._marked = False
        self._looked_at = 0.0

    # Applying ----------------------------------------------------------------------------

    def apply(self, session: Session, change: Change) -> None:
        """Apply one change to every link that mirrors its repo or board."""
        self.apply_all(session, [change])

    def apply_all(self, session: Session, changes: Iterable[Change]) -> None:
        """Apply changes in `session`'s transaction, in any order they came (see
        `mirror_batch.py`): each item is locked once and its message published once."""
        batch = ChangeBatch(session, self.outbox, _view)
        in_order = sorted_changes(changes)
        batch.prepare(in_order)
        for change in in_order:
            batch.apply(change)
        batch.finish()
        # In the database, not in this process: a worker that dies before the flush leaves
        # the mark for the next flush, by any worker.
        mirror_store.mark_summaries_stale(session, link_ids=batch.dirty_links, now=utcnow())
        self._marked = self._marked or bool(batch.dirty_links)

    def flush_summaries(self) -> int:
        """Publish the board summaries marked stale, once each; returns how many.

        One transaction per link. It locks the link, then takes the link's mark: the order
        a batch takes them in (a new item's row locks its link; the mark comes last), so
        the two never wait on each other in a circle. A batch still holding the link or the
        mark is waited for, and its changes are in the summary. If the rebuild fails, the
        mark is back for the next flush, and this one goes on with the other links.
        """
        # The marks this process left, at every flush; those a stopped worker left, within
        # ORPHANS_EVERY: an idle worker flushes twice a second, and a query each time cost
        # more CPU than the rebuilds.
        if not self._marked and time.monotonic() - self._looked_at < ORPHANS_EVERY:
            return 0
        self._marked, self._looked_at = False, time.monotonic()
        done: set[int] = set()
        failed: set[int] = set()
        while True:
            link_id: int | None = None
            try:
                with self.db.session() as session:
                    link_id = mirror_store.next_stale_summary(session, skip=done | failed)
                    if link_id is None:
                        return len(done)
                    link = mirror_store.locked_link(session, link_id=link_id)
                    if link is not None:
                        self.publish_summary(session, link)  # takes the mark
            except Exception:
                if link_id is None:  # the database itself: nothing to go on with
                    raise
                log.exception("rebuilding the board summary of link %s failed", link_id)
                failed.add(link_id)
                continue
            done.add(link_id)

    def publish_summary(self, session: Session, link: Link) -> None:
        """Post or update the pinned board summary of a link, and drop its stale mark: the
        summary is built from what this transaction sees (polling applies its changes and
        publishes the summary in one transaction, so no flush needs to rebuild it)."""
        assert link.id is not None
        mirror_store.take_stale_summary(session, link_id=link.id)
        channel = link_store.link_channel(session, link=link)
        if channel is None:
            return
        recent = mirror_store.recent_items(session, link_id=link.id, limit=5)
        view = LinkView(
            source=link.source,
            name=link.target_name or link.target,
            url=link.url,
            counts=_counts(link.source, mirror_store.state_counts(session, link_id=link.id)),
            recent=tuple(_view(link, r) for r in recent),
            polling=link.webhook_id is None,
        )
        self.outbox.publish(
            session,
            key=summary_key(link.id),
            channel=channel,
            message=render_mirror.board_summary(view),
            pin=True,
        )


def _view(link: Link, row: MirroredItem) -> ItemView:
    return ItemView(
        source=link.source,
        kind=row.kind,
        number=row.number,
        title=row.title,
        url=row.url,
        state=row.state,
        closed=row.closed,
        deleted=row.deleted,
        container_name=link.target_name or link.target,
        labels=tuple(row.labels),
        people=tuple(row.people),
        due=row.due,
        comments=row.comments,
        last_change=row.last_change,
        last_change_at=row.last_change_at,
    )


def _counts(source: str, groups: Sequence[tuple[str, bool, int]]) -> tuple[tuple[str, int], ...]:
    """The summary's counts from (state, closed, how many): GitHub's states in a fixed order,
    Trello's lists (archived cards as one) the most common first."""
    counter: Counter[str] = Counter()
    if source == "github":
        for state, _closed, n in groups:
            counter[state] += n
        order = ["open", "draft", "merged", "closed"]
        return tuple((state, counter[state]) for state in order if counter[state])
    for state, closed, n in groups:
        counter["archived" if closed else (state or "unknown list")] += n
    return tuple(counter.most_common(8))
