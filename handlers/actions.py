"""Buttons. The Join button on a project card joins the person who clicked it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from makersbot import render
from makersbot.domain.requests import Actor, UserError
from makersbot.services.projects import ProjectService

log = logging.getLogger(__name__)


class Actions:
    """Bolt listeners for block actions: `app.action(JOIN_ACTION)(a.acknowledge, a.join)`."""

    def __init__(self, projects: ProjectService, *, claim: Callable[[str], bool]) -> None:
        self.projects = projects
        self.claim = claim

    def acknowledge(self, ack: Any) -> None:
        """Bolt's ack function: the click is acknowledged at once, the work runs `later`."""
        ack()

    def join(self, body: dict[str, Any], client: Any) -> None:
        """Join the project named by the button's value; reply only to the clicker."""
        user = body.get("user") or {}
        actions = body.get("actions") or [{}]
        slug = str(actions[0].get("value") or "")
        channel = str((body.get("channel") or {}).get("id") or "")
        actor = Actor(
            slack_user_id=str(user.get("id") or ""),
            display_name=str(user.get("username") or user.get("name") or ""),
            channel_id=channel,
            request_key=str(body.get("trigger_id") or ""),
        )
        if actor.request_key and not self.claim(f"trigger:{actor.request_key}"):
            return
        try:
            text = self.projects.join(actor, slug or None).reply
        except UserError as exc:
            text = exc.message
        if channel:
            client.chat_postEphemeral(
                channel=channel, user=actor.slack_user_id, **render.text_reply(text).as_kwargs()
            )
