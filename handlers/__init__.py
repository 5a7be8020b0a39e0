"""Slack listeners only: commands, actions, views, events. Registered by `register()`."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from handlers.actions import Actions
from handlers.commands import COMMAND, Commands
from handlers.events import Events
from handlers.views import Views
from makersbot import render

# What the manifest must declare; a test keeps manifest.yml in step with these.
COMMANDS = (COMMAND,)
EVENTS = ("app_home_opened",)


def register(
    app: App, *, commands: Commands, actions: Actions, views: Views, events: Events
) -> None:
    """Attach every listener to the Bolt app, explicitly, in one place."""
    app.command(COMMAND)(commands.dispatch)
    app.action(render.JOIN_ACTION)(actions.join)
    app.view(render.START_VIEW)(views.start)
    app.event("app_home_opened")(events.home)


__all__: list[Any] = ["register", "COMMANDS", "EVENTS"]
