"""Events API listeners. The App Home tab shows who you are and your projects."""

from __future__ import annotations

from typing import Any

from makersbot import render
from makersbot.domain.requests import Actor
from makersbot.services.people import PeopleService
from makersbot.services.projects import ProjectService


class Events:
    """Bolt listeners for events; register with `app.event("app_home_opened")(e.home)`."""

    def __init__(self, projects: ProjectService, people: PeopleService) -> None:
        self.projects = projects
        self.people = people

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
