"""Events API listeners. The App Home tab shows who you are and your projects; when the bot
is added back to a channel, the messages parked there go at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from makersbot import render
from makersbot.domain.requests import Actor
from makersbot.services.people import PeopleService
from makersbot.services.projects import ProjectService


class Events:
    """Bolt listeners for events; register with `app.event("app_home_opened")(e.home)`."""

    def __init__(
        self,
        projects: ProjectService,
        people: PeopleService,
        resume: Callable[[str], bool] | None = None,
    ) -> None:
        self.projects = projects
        self.people = people
        # Unparks a channel's outbox (`SlackSender.unpark`); True when it was parked.
        self.resume = resume or (lambda _channel: False)

    def acknowledge(self, ack: Any) -> None:
        """Bolt's ack function: the event is acknowledged first, the Home tab is built `later`."""
        ack()

    def home(self, event: dict[str, Any], client: Any) -> None:
        """Publish the Home tab for the person who opened it."""
        if event.get("tab") not in (None, "home"):
            return
        user = str(event.get("user") or "")
        if not user:
            return
        who = self.people.identity(Actor(slack_user_id=user))
        cards = self.projects.projects_of(user)
        client.views_publish(user_id=user, view=render.home_view(who, cards))

    def joined(self, event: dict[str, Any], context: Any) -> None:
        """member_joined_channel: when the one who joined is the bot itself, the messages
        parked in that channel (the bot had been removed) go now, not at the next
        minute's check."""
        bot_user = context.get("bot_user_id") if context is not None else None
        channel = str(event.get("channel") or "")
        if bot_user and event.get("user") == bot_user and channel:
            self.resume(channel)
