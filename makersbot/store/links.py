"""Links: the repositories and boards mirrored into project channels. Session first,
keyword-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, event, func, literal, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from makersbot.store.models import (
    Link,
    MirroredItem,
    MirrorEvent,
    Project,
    SlackMessage,
    StaleSummary,
)


class _Changes:
    """How many times this process has written a link (counted at flush): caches of
    what links say compare it to drop what they hold as soon as this process changes one."""

    count = 0


def link_changes() -> int:
    """A number that grows whenever this process inserts, updates or deletes a link."""
    return _Changes.count


@event.listens_for(Link, "after_insert")
@event.listens_for(Link, "after_update")
@event.listens_for(Link, "after_delete")
def _link_written(_mapper: Any, _connection: Any, _link: Any) -> None:
    _Changes.count += 1


def get_link(session: Session, *, link_id: int) -> Link | None:
    return session.get(Link, link_id)


def links_to(session: Session, *, source: str, target: str) -> list[Link]:
    """Every link that mirrors one repository (`owner/repo`, lower case) or board id."""
    return list(
        session.exec(select(Link).where(Link.source == source, Link.target == target)).all()
    )


def project_link(session: Session, *, project_id: int, source: str, target: str) -> Link | None:
    """A project's link to one repository or board, if it has one."""
    return session.exec(
        select(Link).where(
            Link.project_id == project_id, Link.source == source, Link.target == target
        )
    ).first()


def project_links(session: Session, *, project_id: int, source: str | None = None) -> list[Link]:
    """A project's links (of one source when given), oldest first."""
    query = select(Link).where(Link.project_id == project_id)
    if source is not None:
        query = query.where(Link.source == source)
    return list(session.exec(query.order_by(col(Link.id))).all())


def add_link(session: Session, *, link: Link) -> int:
    """Insert a new link; returns its id."""
    session.add(link)
    session.flush()
    assert link.id is not None
    return link.id


def hook_key(session: Session, *, source: str, webhook_id: str) -> tuple[str, str] | None:
    """(secret, target) of the link whose registered webhook has this id (GitHub's
    X-GitHub-Hook-ID), or None. Every delivery from a hook the bot made asks it before its
    signature is checked: one Core statement built once, no ORM object."""
    row = (
        session.connection()
        .execute(_HOOK_KEY, {"source": source, "webhook_id": webhook_id})
        .first()
    )
    return None if row is None or not row[0] else (str(row[0]), str(row[1]))


def link_by_token(session: Session, *, token: str) -> Link | None:
    """The link whose Trello webhook calls back on `/trello/webhook/<token>`."""
    return session.exec(select(Link).where(Link.callback_token == token)).first()


_LINK = Link.__table__.c  # type: ignore[attr-defined]
# Built once: Core, not ORM, and no statement to build or cache key to compute per batch.
_LINKED_KEYS = sa_select(
    _LINK.source,
    _LINK.target,
    _LINK.webhook_secret.is_(None),
    _LINK.callback_token.is_(None),
).where(_LINK.target.in_(bindparam("targets", expanding=True)))


_HOOK_KEY = (
    sa_select(_LINK.webhook_secret, _LINK.target)
    .where(_LINK.source == bindparam("source"), _LINK.webhook_id == bindparam("webhook_id"))
    .limit(1)
)


def linked_keys(
    connection: Connection, *, targets: set[tuple[str, str]]
) -> dict[tuple[str, str], bool]:
    """Which of `targets` ((source, repo or board) pairs) some link mirrors, each mapped to
    True when one of its links has no key of its own (its hook uses the global secret or
    the old Trello callback). One query, however many targets: webhook intake asks it once
    per batch of deliveries."""
    if not targets:
        return {}
    rows = connection.execute(_LINKED_KEYS, {"targets": sorted({target for _, target in targets})})
    found: dict[tuple[str, str], bool] = {}
    for source, target, no_secret, no_token in rows:
        if (source, target) in targets:
            legacy = bool(no_secret if source == "github" else no_token)
            found[source, target] = found.get((source, target), False) or legacy
    return found


def delete_link(session: Session, *, link: Link, gone: str) -> None:
    """A link, its mirrored items and their events. Its messages in Slack stay as they are;
    their outbox keys are renamed under `gone` (unique per unlink), so that a later link
    given the same id (SQLite reuses the highest) never edits them."""
    assert link.id is not None
    session.execute(delete(MirrorEvent).where(col(MirrorEvent.link_id) == link.id))
    session.execute(delete(MirroredItem).where(col(MirroredItem.link_id) == link.id))
    session.execute(delete(StaleSummary).where(col(StaleSummary.link_id) == link.id))
    for prefix in (f"item:{link.id}:", f"link:{link.id}:"):
        owned = col(SlackMessage.key).startswith(prefix, autoescape=True)
        threaded = col(SlackMessage.thread_key).startswith(prefix, autoescape=True)
        session.execute(
            update(SlackMessage)
            .where(owned)
            .values(key=func.substr(literal(gone) + col(SlackMessage.key), 1, 200))
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(SlackMessage)
            .where(threaded)
            .values(thread_key=func.substr(literal(gone) + col(SlackMessage.thread_key), 1, 200))
            .execution_options(synchronize_session=False)
        )
    session.delete(link)
    session.flush()


def due_link_ids(session: Session, *, cutoff: datetime, hooked_cutoff: datetime) -> list[int]:
    """Links to poll: never polled, polled before `cutoff` without a webhook, or before
    `hooked_cutoff` with one."""
    never = col(Link.last_polled_at).is_(None)
    found = session.exec(
        select(Link.id).where(
            never
            | (col(Link.webhook_id).is_(None) & (col(Link.last_polled_at) <= cutoff))
            | (col(Link.webhook_id).is_not(None) & (col(Link.last_polled_at) <= hooked_cutoff))
        )
    ).all()
    return [link_id for link_id in found if link_id is not None]


def link_channel(session: Session, *, link: Link) -> str | None:
    """The Slack channel a link mirrors into: its project's, None when there is none."""
    project = session.get(Project, link.project_id)
    return project.channel_id if project else None
