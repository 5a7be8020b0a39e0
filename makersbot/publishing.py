"""Turns project state into outbox messages: the bridge from services to what Slack shows."""

from __future__ import annotations

from sqlmodel import Session

from makersbot import render
from makersbot.outbox import Outbox
from makersbot.services.cards import load_cards
from makersbot.store.models import Project


class Publisher:
    """Publishes project cards and announcements through the outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def project_card(self, session: Session, project: Project) -> None:
        """Post or update the pinned card of `project` (no-op until it has a channel)."""
        if project.channel_id is None:
            return
        session.flush()
        card = load_cards(session, [project])[0]
        self.outbox.publish(
            session,
            key=card_key(project),
            channel=project.channel_id,
            message=render.project_card(card),
            pin=True,
        )

    def announce(self, session: Session, project: Project, *, key: str, text: str) -> None:
        """A one-off line in the project channel (mrkdwn written by us, quotes escaped)."""
        if project.channel_id is None:
            return
        self.outbox.publish(
            session, key=key, channel=project.channel_id, message=render.text_reply(text)
        )


def card_key(project: Project) -> str:
    return f"project:{project.id}:card"
