"""Mirrored items, their events, and the thread replies waiting to be sent. Session first,
keyword-only."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from makersbot.store import rows
from makersbot.store.models import MirroredItem, MirrorEvent, SlackMessage


def mirrored_item(session: Session, *, link_id: int, item_key: str) -> MirroredItem | None:
    """One item of one link, by its key (`github:owner/repo#42`, `trello:<card id>`)."""
    return session.exec(
        select(MirroredItem).where(
            MirroredItem.link_id == link_id, MirroredItem.item_key == item_key
        )
    ).first()


def link_items(
    session: Session, *, link_id: int, include_deleted: bool = True
) -> list[MirroredItem]:
    """Every item a link mirrors (deleted ones only when asked)."""
    query = select(MirroredItem).where(MirroredItem.link_id == link_id)
    if not include_deleted:
        query = query.where(col(MirroredItem.deleted).is_(False))
    return list(session.exec(query).all())


def record_event(session: Session, *, event: dict[str, Any]) -> bool:
    """Keep one applied change for the digests; False when its dedupe key was seen before
    (the same change by webhook and by poll, or a redelivery)."""
    return rows.insert_ignore(session, MirrorEvent, event, conflict=["dedupe_key"])


def unsent_reply(session: Session, *, thread_key: str) -> SlackMessage | None:
    """The newest reply in an item's thread that the sender has not claimed or sent yet."""
    return session.exec(
        select(SlackMessage)
        .where(
            SlackMessage.thread_key == thread_key,
            col(SlackMessage.ts).is_(None),
            col(SlackMessage.claimed_until).is_(None),
        )
        .order_by(col(SlackMessage.id).desc())
    ).first()
