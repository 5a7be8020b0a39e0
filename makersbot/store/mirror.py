"""Mirrored items. Session first, keyword-only."""

from __future__ import annotations

from sqlmodel import Session, select

from makersbot.store.models import (
    MirroredItem,
)


def mirrored_item(session: Session, *, link_id: int, item_key: str) -> MirroredItem | None:
    """One item of one link, by its key (`github:owner/repo#42`, `trello:<card id>`)."""
    return session.exec(
        select(MirroredItem).where(
            MirroredItem.link_id == link_id, MirroredItem.item_key == item_key
        )
    ).first()
