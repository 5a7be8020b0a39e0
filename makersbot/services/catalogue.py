"""The catalogue of projects (`/makers list`, `info`, the Home tab), cached between changes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import cast

from makersbot.db import Database
from makersbot.domain.projects import ProjectCard, Role
from makersbot.domain.requests import Actor
from makersbot.publishing import Publisher
from makersbot.services.cards import load_cards
from makersbot.services.project_flow import Clock, ProjectFlow, ProjectRules
from makersbot.slack_gateway import SlackChannels
from makersbot.store import people as people_store
from makersbot.store import projects as project_store


class CardCache:
    """A small, thread-safe, least-recently-used cache of rendered-card data."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[object, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: object) -> object | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: object, value: object) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class ProjectCatalogue(ProjectFlow):
    """`/makers list` and `info`, and the projects a person belongs to."""

    def __init__(
        self,
        db: Database,
        channels: SlackChannels,
        publisher: Publisher,
        clock: Clock,
        rules: ProjectRules | None = None,
    ) -> None:
        super().__init__(db, channels, publisher, clock, rules)
        # `list` and `info` answer inside Slack's acknowledgement: cards are cached until any
        # project changes (project_store.catalogue_version), which every process can see.
        self._cards = CardCache()

    def catalogue(self, words: Sequence[str], *, limit: int = 20) -> tuple[list[ProjectCard], int]:
        """Projects matching every word, with the total before the limit."""
        with self.db.session(read_only=True) as session:
            key = (
                "list",
                tuple(w.lower() for w in words),
                limit,
                project_store.catalogue_version(session),
            )
            cached = self._cards.get(key)
            if cached is not None:
                return cast(tuple[list[ProjectCard], int], cached)
            projects, total = project_store.search_projects(session, words=words, limit=limit)
            result = (load_cards(session, projects), total)
        self._cards.put(key, result)
        return result

    def card(self, actor: Actor, ref: str | None) -> ProjectCard:
        """One project's card."""
        with self.db.session(read_only=True) as session:
            key = (
                "card",
                (ref or "").lower(),
                actor.channel_id,
                project_store.catalogue_version(session),
            )
            cached = self._cards.get(key)
            if cached is not None:
                return cast(ProjectCard, cached)
            project = self._resolve(session, actor, ref)
            card = load_cards(session, [project])[0]
        self._cards.put(key, card)
        return card

    def is_maker(self, actor: Actor, project_id: int) -> bool:
        """Whether the person already makes the project (a Join button would be no use)."""
        with self.db.session(read_only=True) as session:
            person = people_store.get_person(session, slack_user_id=actor.slack_user_id)
            if person is None or person.id is None:
                return False
            member = project_store.membership(session, project_id=project_id, person_id=person.id)
            return member is not None and member.role != Role.ADOPTER.value

    def projects_of(self, slack_user_id: str) -> list[ProjectCard]:
        """The projects a person belongs to."""
        with self.db.session(read_only=True) as session:
            person = people_store.get_person(session, slack_user_id=slack_user_id)
            if person is None or person.id is None:
                return []
            projects = project_store.projects_of(session, person_id=person.id)
            return load_cards(session, projects)
