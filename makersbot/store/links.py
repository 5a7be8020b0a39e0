"""Links: the repositories and boards mirrored into project channels. Session first,
keyword-only."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from makersbot.store.models import Link, MirroredItem, Project


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


def delete_link(session: Session, *, link: Link) -> None:
    """A link and its mirrored items (their messages in Slack stay as they are)."""
    for item in session.exec(select(MirroredItem).where(MirroredItem.link_id == link.id)):
        session.delete(item)
    session.delete(link)


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
