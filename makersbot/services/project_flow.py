"""What every project operation shares: its collaborators, finding the project a person
names, and the one flow every change follows (update → record → announce → refresh card)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from makersbot import render_similar
from makersbot.db import Database
from makersbot.domain.messages import Message
from makersbot.domain.projects import Role
from makersbot.domain.requests import Actor, UserError
from makersbot.publishing import Publisher
from makersbot.render import plain, slack_time
from makersbot.slack_gateway import SlackChannels
from makersbot.store import people as people_store
from makersbot.store import project_lookup
from makersbot.store import projects as project_store
from makersbot.store.models import Person, Project

Clock = Callable[[], datetime]
NO_COUNCIL_HINT = (
    "Tell us your council with `/makers iam council <name>` and this will count for it."
)
WHICH_PROJECT = "Which project? Name it, or type the command in the project's channel."
# Daily caps count over a rolling 24 hours: no midnight to wait for or to game.
DAY = timedelta(hours=24)


@dataclass(frozen=True)
class ProjectRules:
    """The limits and reserved names that keep projects trustworthy (from Settings)."""

    gave_daily_cap: int = 10  # MAKERS_GAVE_DAILY_CAP
    start_daily_cap: int = 5  # MAKERS_START_DAILY_CAP; admins are exempt
    digest_channel: str | None = None  # DIGEST_CHANNEL: never a project's channel


def no_such_project(ref: str, choices: Sequence[Project] = ()) -> UserError:
    """No project by that name; with choices, "Did you mean…?" and their slugs to type."""
    if not choices:
        return UserError(f"No project called “{plain(ref, 100)}”. `/makers list` shows them all.")
    return UserError(render_similar.did_you_mean(ref, [(p.name, p.slug) for p in choices]))


@dataclass(frozen=True)
class Announcement:
    """A line for the project channel, posted once per `key` (after "project:<id>:")."""

    key: str
    text: str
    message: Message | None = None  # a richer message (with buttons) instead of `text`


@dataclass
class ProjectChange:
    """One change to a project, inside its transaction: the operation updates `project` and
    says what to record and announce; the flow does the rest when the block ends."""

    session: Session
    project: Project
    at: datetime
    text: str = ""  # what followed the project in the command (a status, a gift)
    history: list[tuple[str, str, int | None]] = field(default_factory=list)
    announcement: Announcement | None = None

    @property
    def project_id(self) -> int:
        assert self.project.id is not None
        return self.project.id

    def record(self, kind: str, value: str, *, by: int | None) -> None:
        """Keep the change in the project's history, which the digest reads."""
        self.history.append((kind, value, by))

    def announce(self, key: str, text: str, message: Message | None = None) -> None:
        """Tell the project channel (mrkdwn written by us, quotes escaped)."""
        self.announcement = Announcement(key, text, message)


class ProjectFlow:
    """Collaborators and shared steps of `/makers` project operations."""

    def __init__(
        self,
        db: Database,
        channels: SlackChannels,
        publisher: Publisher,
        clock: Clock,
        rules: ProjectRules | None = None,
    ) -> None:
        self.db = db
        self.channels = channels
        self.publisher = publisher
        self.clock = clock
        self.rules = rules or ProjectRules()

    # Finding ---------------------------------------------------------------------------

    def _resolve(self, session: Session, actor: Actor, ref: str | None) -> Project:
        if ref:
            found = project_lookup.lookup_project(session, ref=ref)
            if found.project is None:
                raise no_such_project(ref, found.choices)
            return found.project
        if actor.channel_id:
            project = project_store.project_in_channel(session, channel_id=actor.channel_id)
            if project is not None:
                return project
        raise UserError(WHICH_PROJECT)

    def split_ref(self, session: Session, actor: Actor, text: str) -> tuple[Project, str]:
        """Split "<project> <rest>": the project is the longest leading words that name one
        (or a "quoted name"); typed in a project channel, the project may be left out.

        Outside a project channel the leading words may also name one forgivingly (a typo, a
        part of the name): the closest fit wins, and when none fits clearly the person is
        offered the choices instead."""
        text = text.strip()
        quoted = re.match(r'^["“](?P<ref>[^"”]+)["”]\s*(?P<rest>.*)$', text, re.S)
        if quoted:
            return self._resolve(session, actor, quoted["ref"]), quoted["rest"].strip()
        words = text.split()
        for n in range(min(len(words), 8), 0, -1):
            project = project_store.find_project(session, ref=" ".join(words[:n]))
            if project is not None:
                return project, " ".join(words[n:])
        if actor.channel_id:
            project = project_store.project_in_channel(session, channel_id=actor.channel_id)
            if project is not None:
                return project, text
        if not words:
            raise UserError(WHICH_PROJECT)
        return self._split_forgivingly(session, words)

    def _split_forgivingly(self, session: Session, words: list[str]) -> tuple[Project, str]:
        """The leading words that most closely name a project, when some name one clearly."""
        best: tuple[float, int, Project] | None = None
        choices: tuple[Project, ...] = ()
        names = project_lookup.project_names(session)
        for n in range(min(len(words), 8), 0, -1):
            found = project_lookup.lookup_project(session, ref=" ".join(words[:n]), names=names)
            if found.project is not None and (best is None or found.score > best[0]):
                best = (found.score, n, found.project)
            elif found.choices and not choices:
                choices = found.choices
        if best is not None:
            return best[2], " ".join(words[best[1] :])
        raise no_such_project(words[0], choices)

    # Changing --------------------------------------------------------------------------

    @contextmanager
    def _changing(
        self, actor: Actor, ref: str | None, *, with_text: bool = False, card: bool = True
    ) -> Iterator[ProjectChange]:
        """The one flow of every change: in one transaction, find the project (and, with
        `with_text`, the words after it), let the block update it, then mark it changed,
        record, announce and refresh its pinned card (unless `card=False`).

        A UserError raised in the block rolls everything back and nothing is published.
        """
        now = self.clock()
        with self.db.session() as session:
            if with_text:
                project, text = self.split_ref(session, actor, ref or "")
            else:
                project, text = self._resolve(session, actor, ref), ""
            change = ProjectChange(session, project, at=now, text=text)
            yield change
            project_store.touch_project(session, project=project, at=now)
            for kind, value, person_id in change.history:
                project_store.record_update(
                    session,
                    project_id=change.project_id,
                    kind=kind,
                    value=value,
                    person_id=person_id,
                    at=now,
                )
            if change.announcement is not None:
                self._publish_announcement(session, project, change.announcement)
            if card:
                self.publisher.project_card(session, project)

    def _publish_announcement(
        self, session: Session, project: Project, announcement: Announcement
    ) -> None:
        key = f"project:{project.id}:{announcement.key}"
        if announcement.message is None:
            self.publisher.announce(session, project, key=key, text=announcement.text)
        elif project.channel_id is not None:
            self.publisher.outbox.publish(
                session, key=key, channel=project.channel_id, message=announcement.message
            )

    # People ----------------------------------------------------------------------------

    def _person(self, session: Session, actor: Actor) -> Person:
        """The person who asked, created on first contact."""
        return people_store.ensure_person(
            session, slack_user_id=actor.slack_user_id, display_name=actor.display_name
        )

    def _role(self, session: Session, person: Person, project: Project) -> str | None:
        """The person's role in the project, or None when they are not a member."""
        assert project.id is not None and person.id is not None
        member = project_store.membership(session, project_id=project.id, person_id=person.id)
        return member.role if member is not None else None

    def _require_member(self, session: Session, actor: Actor, project: Project) -> Person:
        """The asking person, who must be a maker or lead of the project, or an admin."""
        person = self._person(session, actor)
        role = self._role(session, person, project)
        if not actor.is_admin and role not in (Role.LEAD.value, Role.MAKER.value):
            raise UserError(
                f"Only the makers of *{plain(project.name, 100)}* can do that. "
                f"Join first: `/makers join {project.slug}`."
            )
        return person

    def _require_lead(self, session: Session, actor: Actor, project: Project, what: str) -> Person:
        """The asking person, who must be a lead of the project or an admin."""
        person = self._person(session, actor)
        if actor.is_admin or self._role(session, person, project) == Role.LEAD.value:
            return person
        assert project.id is not None
        leads = project_store.leads(session, project_id=project.id)
        ask = (
            "Ask " + ", ".join(f"<@{lead}>" for lead in leads) + " or an admin."
            if leads
            else "It has no lead: ask an admin."
        )
        raise UserError(
            f"Only a lead of *{plain(project.name, 100)}* or an admin can {what}. {ask}"
        )

    @staticmethod
    def _over_cap(times: list[datetime], cap: int, now: datetime) -> str | None:
        """When `cap` things were done in the 24 hours before `now` (`times`, oldest first),
        the moment one more is allowed, for Slack; None while under the cap."""
        if len(times) < cap:
            return None
        if cap == 0:
            raise ValueError("a cap of 0 has no next time: callers word it themselves")
        # A slot frees up 24 hours after the oldest of the last `cap`.
        return slack_time(max(times[len(times) - cap] + DAY, now))

    def _council_name(self, session: Session, person: Person) -> str | None:
        if person.council_code is None:
            return None
        councils = people_store.councils_by_code(session, codes=[person.council_code])
        council = councils.get(person.council_code)
        return council.short_name if council else None
