"""Buttons. The Join button on a project card joins the person who clicked it; the Undo
button on a `gave` announcement undoes that contribution (for its giver or an admin);
*Start mine anyway* starts a project held back as a look-alike; the erase button of
`/makers forget` erases a person once confirmed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from makersbot import render, render_privacy
from makersbot.domain.requests import Actor, UserError
from makersbot.services.privacy import PrivacyService
from makersbot.services.projects import ProjectService

log = logging.getLogger(__name__)


class Actions:
    """Bolt listeners for block actions: `app.action(JOIN_ACTION)(a.acknowledge, a.join)`."""

    def __init__(
        self,
        projects: ProjectService,
        *,
        claim: Callable[[str], bool],
        admins: frozenset[str] = frozenset(),
        privacy: PrivacyService,
    ) -> None:
        self.projects = projects
        self.claim = claim
        self.admins = admins
        self.privacy = privacy

    def acknowledge(self, ack: Any) -> None:
        """Bolt's ack function: the click is acknowledged at once, the work runs `later`."""
        ack()

    def join(self, body: dict[str, Any], client: Any) -> None:
        """Join the project named by the button's value; reply only to the clicker."""
        actor, value, channel = self._click(body)
        if actor.request_key and not self.claim(f"trigger:{actor.request_key}"):
            return
        try:
            text = self.projects.join(actor, value or None).reply
        except UserError as exc:
            text = exc.message
        self._tell(client, channel, actor, text)

    def undo_gift(self, body: dict[str, Any], client: Any) -> None:
        """Undo the contribution whose number is the button's value; reply to the clicker."""
        actor, value, channel = self._click(body)
        if actor.request_key and not self.claim(f"trigger:{actor.request_key}"):
            return
        try:
            if not value.isdigit():
                raise UserError("That button is out of date: use `/makers gave undo #number`.")
            text = self.projects.undo_gift(actor, value).reply
        except UserError as exc:
            text = exc.message
        self._tell(client, channel, actor, text)

    def start_anyway(self, body: dict[str, Any], respond: Any, client: Any) -> None:
        """Start the held-back project the button names, once; the prompt becomes the reply."""
        actor, value, channel = self._click(body)
        if actor.request_key and not self.claim(f"trigger:{actor.request_key}"):
            return
        try:
            text = self.projects.start_held(actor, value).reply
        except UserError as exc:
            text = exc.message
        self._replace(respond, client, channel, actor, text)

    def forget(self, body: dict[str, Any], respond: Any, client: Any) -> None:
        """Erase the person the confirmed button names (the clicker, or anyone for an admin)."""
        actor, value, channel = self._click(body)
        if actor.request_key and not self.claim(f"trigger:{actor.request_key}"):
            return
        try:
            erasure = self.privacy.forget(actor, value)
            text = render_privacy.erased(erasure, is_self=value == actor.slack_user_id)
        except UserError as exc:
            text = exc.message
        self._replace(respond, client, channel, actor, text)

    def _replace(self, respond: Any, client: Any, channel: str, actor: Actor, text: str) -> None:
        """Replace the message whose button was pressed (its buttons must not stay to be
        pressed again); without a response_url, tell the clicker alone."""
        if respond is not None:
            respond(replace_original=True, **render.text_reply(text).as_kwargs())
        else:
            self._tell(client, channel, actor, text)

    def _click(self, body: dict[str, Any]) -> tuple[Actor, str, str]:
        """Who clicked, the button's value, and the channel it was in."""
        user = body.get("user") or {}
        actions = body.get("actions") or [{}]
        channel = str((body.get("channel") or {}).get("id") or "")
        user_id = str(user.get("id") or "")
        actor = Actor(
            slack_user_id=user_id,
            display_name=str(user.get("username") or user.get("name") or ""),
            channel_id=channel,
            is_admin=user_id in self.admins,
            request_key=str(body.get("trigger_id") or ""),
        )
        return actor, str(actions[0].get("value") or ""), channel

    @staticmethod
    def _tell(client: Any, channel: str, actor: Actor, text: str) -> None:
        if channel:
            client.chat_postEphemeral(
                channel=channel, user=actor.slack_user_id, **render.text_reply(text).as_kwargs()
            )
