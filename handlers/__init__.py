"""Slack listeners only: commands, actions, views, events. Registered by `register()`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from slack_bolt import App

from handlers.actions import Actions
from handlers.commands import COMMAND, Commands
from handlers.events import Events
from handlers.views import Views
from makersbot.domain.privacy import FORGET_ACTION
from makersbot.domain.projects import JOIN_ACTION, START_VIEW, UNDO_GIFT_ACTION
from makersbot.domain.similar import START_ANYWAY_ACTION

# What the manifest must declare; a test keeps manifest.yml in step with these.
COMMANDS = (COMMAND,)
EVENTS = ("app_home_opened", "member_joined_channel")


def register(
    app: App,
    *,
    commands: Commands,
    actions: Actions,
    views: Views,
    events: Events,
    event_middleware: Sequence[Callable[..., Any]] = (),
) -> None:
    """Attach every listener to the Bolt app, explicitly, in one place.

    Each is an ack function plus a lazy one: the app runs with process_before_response, so
    Slack gets its acknowledgement as soon as the ack function returns, and anything slow
    (channels, invitations, modals) runs afterwards in Bolt's lazy-listener threads.
    `event_middleware` runs before the event listeners only: as Bolt middleware for every
    request it cost each `/makers` acknowledgement about 15 µs (bench/ack.py).
    """
    # `/makers` runs its slow half itself, only when there is one (Commands.listener).
    app.command(COMMAND)(commands.listener)
    app.action(JOIN_ACTION)(actions.acknowledge, actions.join)
    app.action(UNDO_GIFT_ACTION)(actions.acknowledge, actions.undo_gift)
    app.action(START_ANYWAY_ACTION)(actions.acknowledge, actions.start_anyway)
    app.action(FORGET_ACTION)(actions.acknowledge, actions.forget)
    app.view(START_VIEW)(views.validate, views.start)
    middleware = list(event_middleware)
    app.event("app_home_opened", middleware=middleware)(events.acknowledge, events.home)
    app.event("member_joined_channel", middleware=middleware)(events.acknowledge, events.joined)


__all__: list[Any] = ["register", "COMMANDS", "EVENTS"]
