"""Modals. The start form creates a project exactly as `/makers start <name>` does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from makersbot import render, render_similar
from makersbot.domain.projects import (
    START_DESCRIPTION_BLOCK,
    START_DESCRIPTION_INPUT,
    START_NAME_BLOCK,
    START_NAME_INPUT,
    slugify,
)
from makersbot.domain.requests import Actor, UserError
from makersbot.domain.similar import LooksLikeExisting
from makersbot.services.projects import ProjectService


class Views:
    """Bolt listeners for the start form: `app.view(START_VIEW)(v.validate, v.start)`."""

    def __init__(self, projects: ProjectService, *, claim: Callable[[str], bool]) -> None:
        self.projects = projects
        self.claim = claim

    def validate(self, ack: Any, view: dict[str, Any]) -> None:
        """Bolt's ack function: a nameless form gets its error shown in the modal."""
        name, _ = _fields(view)
        if not slugify(name):
            ack(
                response_action="errors",
                errors={START_NAME_BLOCK: "Give it a name with a letter or a digit."},
            )
            return
        ack()

    def start(self, body: dict[str, Any], view: dict[str, Any], client: Any) -> None:
        """After the acknowledgement: create the project as `/makers start` would."""
        name, description = _fields(view)
        if not slugify(name):
            return
        user = body.get("user") or {}
        actor = Actor(
            slack_user_id=str(user.get("id") or ""),
            display_name=str(user.get("username") or user.get("name") or ""),
            channel_id=str(view.get("private_metadata") or ""),
            request_key=str(view.get("id") or body.get("trigger_id") or ""),
        )
        if actor.request_key and not self.claim(f"view:{actor.request_key}"):
            return
        try:
            message = render.text_reply(self.projects.start(actor, name, description).reply)
        except LooksLikeExisting as held:
            message = render_similar.look_alike_prompt(held)
        except UserError as exc:
            message = render.text_reply(exc.message)
        # A modal has no response_url: tell the person in a DM from the bot.
        client.chat_postMessage(channel=actor.slack_user_id, **message.as_kwargs())


def _fields(view: dict[str, Any]) -> tuple[str, str]:
    """The name and description typed into the start form."""
    values = (view.get("state") or {}).get("values") or {}
    name = (values.get(START_NAME_BLOCK) or {}).get(START_NAME_INPUT, {})
    description = (values.get(START_DESCRIPTION_BLOCK) or {}).get(START_DESCRIPTION_INPUT, {})
    return str(name.get("value") or "").strip(), str(description.get("value") or "")
