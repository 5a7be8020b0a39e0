"""Projects: start, join, leave, find, report phase and status, adopt, record gifts."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import cast

from sqlmodel import Session

from makersbot.db import Database
from makersbot.domain.catalogue import PRIVATE, VISIBILITIES
from makersbot.domain.projects import LedgerKind, Phase, ProjectCard, Role
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.publishing import Publisher
from makersbot.render import plain
from makersbot.services.cards import load_cards
from makersbot.slack_gateway import ChannelError, SlackChannels
from makersbot.store import catalogue as catalogue_store
from makersbot.store import ledger as ledger_store
from makersbot.store import people as people_store
from makersbot.store import projects as project_store
from makersbot.store.models import Person, Project

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
CHANNEL_PREFIX = "makers-"
MAX_SLUG = 60
NO_COUNCIL_HINT = (
    "Tell us your council with `/makers iam council <name>` and this will count for it."
)
CHANNEL_HELP = {
    "missing_scope": "the bot's Slack app lacks a permission (reinstall it from manifest.yml)",
    "restricted_action": "your workspace only lets admins create channels",
    "invalid_name_specials": "the name has characters Slack does not allow in channel names",
}


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


def slugify(name: str) -> str:
    """A channel-safe slug: lowercase ASCII letters, digits and single hyphens."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:MAX_SLUG].rstrip("-")


def phase_from(text: str) -> Phase:
    """The phase named by `text`, or a UserError listing the phases."""
    try:
        return Phase(text.strip().lower())
    except ValueError:
        names = "/".join(p.value for p in Phase)
        raise UserError(f"“{plain(text, 50)}” is not a phase. Use one of {names}.") from None


class ProjectService:
    """Everything `/makers` does to projects. Collaborators come in through __init__."""

    def __init__(
        self,
        db: Database,
        channels: SlackChannels,
        publisher: Publisher,
        clock: Clock,
    ) -> None:
        self.db = db
        self.channels = channels
        self.publisher = publisher
        self.clock = clock
        # `list` and `info` answer inside Slack's acknowledgement: cards are cached until
        # any project changes (project_store.catalogue_version), which every process can see.
        self._cache = CardCache()

    # Finding ---------------------------------------------------------------------------

    def _resolve(self, session: Session, actor: Actor, ref: str | None) -> Project:
        if ref:
            project = project_store.find_project(session, ref=ref)
            if project is None:
                raise UserError(
                    f"No project called “{plain(ref, 100)}”. `/makers list` shows them all."
                )
            return project
        if actor.channel_id:
            project = project_store.project_in_channel(session, channel_id=actor.channel_id)
            if project is not None:
                return project
        raise UserError("Which project? Name it, or type the command in the project's channel.")

    def split_ref(self, session: Session, actor: Actor, text: str) -> tuple[Project, str]:
        """Split "<project> <rest>": the project is the longest leading words that name one
        (or a "quoted name"); typed in a project channel, the project may be left out."""
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
            raise UserError("Which project? Name it, or type the command in the project's channel.")
        first = words[0]
        raise UserError(f"No project called “{plain(first, 100)}”. `/makers list` shows them all.")

    def catalogue(self, words: Sequence[str], *, limit: int = 20) -> tuple[list[ProjectCard], int]:
        """Projects matching every word, with the total before the limit."""
        with self.db.session(read_only=True) as session:
            key = (
                "list",
                tuple(w.lower() for w in words),
                limit,
                project_store.catalogue_version(session),
            )
            cached = self._cache.get(key)
            if cached is not None:
                return cast(tuple[list[ProjectCard], int], cached)
            projects, total = project_store.search_projects(session, words=words, limit=limit)
            result = (load_cards(session, projects), total)
        self._cache.put(key, result)
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
            cached = self._cache.get(key)
            if cached is not None:
                return cast(ProjectCard, cached)
            project = self._resolve(session, actor, ref)
            card = load_cards(session, [project])[0]
        self._cache.put(key, card)
        return card

    def projects_of(self, slack_user_id: str) -> list[ProjectCard]:
        """The projects a person belongs to."""
        with self.db.session(read_only=True) as session:
            person = people_store.get_person(session, slack_user_id=slack_user_id)
            if person is None or person.id is None:
                return []
            projects = project_store.projects_of(session, person_id=person.id)
            return load_cards(session, projects)

    # Starting --------------------------------------------------------------------------

    def start(self, actor: Actor, name: str, description: str = "") -> Outcome:
        """Create a project, its channel and pinned card; the starter's council gives."""
        name = " ".join(name.split())
        slug = slugify(name)
        if not slug:
            raise UserError("A project name needs at least one letter or digit.")
        if len(name) > 80:
            raise UserError("Keep the project name to 80 characters; say more in the description.")
        now = self.clock()
        with self.db.session() as session:
            existing = project_store.project_by_slug(session, slug=slug)
            if existing is not None:
                where = f" in <#{existing.channel_id}>" if existing.channel_id else ""
                raise UserError(
                    f"There is already a project called *{plain(existing.name, 100)}*{where}. "
                    f"Join it with `/makers join {existing.slug}`, or pick another name."
                )
            person = people_store.ensure_person(
                session, slack_user_id=actor.slack_user_id, display_name=actor.display_name
            )
            project = Project(
                slug=slug,
                name=name,
                description=description.strip()[:2000],
                lead_council_code=person.council_code,
                created_by_id=person.id,
                created_at=now,
                updated_at=now,
                phase_changed_at=now,
            )
            session.add(project)
            session.flush()
            assert project.id is not None and person.id is not None
            project_store.add_membership(
                session, project_id=project.id, person_id=person.id, role=Role.LEAD
            )
            ledger_store.add_ledger_entry(
                session,
                entry=ledger_store.NewEntry(
                    kind=LedgerKind.GIVE.value,
                    source="start",
                    dedupe_key=f"start:{project.id}",
                    occurred_at=now,
                    project_id=project.id,
                    person_id=person.id,
                    council_code=person.council_code,
                    description=f"started {name}",
                ),
            )
            project_id = project.id
            has_council = person.council_code is not None
        # Outside the transaction: Slack calls can take seconds and the project must exist
        # whatever Slack says.
        channel_note = self._open_channel(project_id, actor.slack_user_id)
        reply = f"Started *{plain(name, 100)}*. {channel_note}"
        if not has_council:
            reply += " " + NO_COUNCIL_HINT
        return Outcome(reply)

    def _open_channel(self, project_id: int, slack_user_id: str) -> str:
        with self.db.session(read_only=True) as session:
            project = session.get(Project, project_id)
            assert project is not None
            slug = project.slug
        try:
            channel = self.channels.ensure_channel(CHANNEL_PREFIX + slug)
            self.channels.invite(channel.id, slack_user_id)
        except ChannelError as exc:
            why = CHANNEL_HELP.get(exc.code, f"Slack said `{exc.code}`")
            log.warning("channel for project %s failed: %s", slug, exc.code)
            return f"I could not set up its channel: {why}. The project is saved."
        with self.db.session() as session:
            project = session.get(Project, project_id)
            assert project is not None
            project.channel_id = channel.id
            project.channel_name = channel.name
            session.add(project)
            self.publisher.project_card(session, project)
        return (
            f"Its channel is <#{channel.id}>, where the pinned card keeps everyone up to date. "
            f"Others join with `/makers join {slug}`."
        )

    # Membership ------------------------------------------------------------------------

    def join(self, actor: Actor, ref: str | None) -> Outcome:
        """Become a maker of a project: invited to its channel, announced there."""
        with self.db.session() as session:
            project = self._resolve(session, actor, ref)
            person = people_store.ensure_person(
                session, slack_user_id=actor.slack_user_id, display_name=actor.display_name
            )
            assert project.id is not None and person.id is not None
            current = project_store.membership(session, project_id=project.id, person_id=person.id)
            if current is not None and current.role != Role.ADOPTER.value:
                raise UserError(f"You are already in *{plain(project.name, 100)}*.")
            if current is not None:
                current.role = Role.MAKER.value
                session.add(current)
            else:
                project_store.add_membership(
                    session, project_id=project.id, person_id=person.id, role=Role.MAKER
                )
            project_store.touch_project(session, project=project, at=self.clock())
            council = self._council_name(session, person)
            who = f"<@{actor.slack_user_id}>" + (f" from {plain(council, 100)}" if council else "")
            self.publisher.announce(
                session,
                project,
                key=f"project:{project.id}:join:{person.id}:{actor.request_key}",
                text=f"👋 {who} joined the project.",
            )
            self.publisher.project_card(session, project)
            channel_id, name = project.channel_id, project.name
        if channel_id:
            try:
                self.channels.invite(channel_id, actor.slack_user_id)
            except ChannelError as exc:
                return Outcome(
                    f"You joined *{plain(name, 100)}*, but I could not add you to <#{channel_id}> "
                    f"(Slack said `{exc.code}`): open it and join from there."
                )
            return Outcome(f"You joined *{plain(name, 100)}*. Say hello in <#{channel_id}>.")
        return Outcome(f"You joined *{plain(name, 100)}*.")

    def leave(self, actor: Actor, ref: str | None) -> Outcome:
        """Stop being a member; the card shows it."""
        with self.db.session() as session:
            project = self._resolve(session, actor, ref)
            person = people_store.get_person(session, slack_user_id=actor.slack_user_id)
            assert project.id is not None
            if (
                person is None
                or person.id is None
                or not project_store.remove_membership(
                    session, project_id=project.id, person_id=person.id
                )
            ):
                raise UserError(f"You are not a member of *{plain(project.name, 100)}*.")
            project_store.touch_project(session, project=project, at=self.clock())
            self.publisher.project_card(session, project)
            name = project.name
        return Outcome(
            f"You left *{plain(name, 100)}*. You can leave its channel too, or stay to follow it."
        )

    # Reporting -------------------------------------------------------------------------

    def _require_member(self, session: Session, actor: Actor, project: Project) -> Person:
        person = people_store.ensure_person(
            session, slack_user_id=actor.slack_user_id, display_name=actor.display_name
        )
        assert project.id is not None and person.id is not None
        member = project_store.membership(session, project_id=project.id, person_id=person.id)
        if not actor.is_admin and (member is None or member.role == Role.ADOPTER.value):
            raise UserError(
                f"Only the makers of *{plain(project.name, 100)}* can do that. "
                f"Join first: `/makers join {project.slug}`."
            )
        return person

    def set_phase(self, actor: Actor, ref: str | None, phase: Phase) -> Outcome:
        """Move a project to a phase; the card and the digest show it."""
        now = self.clock()
        with self.db.session() as session:
            project = self._resolve(session, actor, ref)
            person = self._require_member(session, actor, project)
            assert project.id is not None
            if project.phase == phase.value:
                raise UserError(f"*{plain(project.name, 100)}* is already in {phase.value}.")
            before = project.phase
            project.phase = phase.value
            project.phase_changed_at = now
            project_store.touch_project(session, project=project, at=now)
            project_store.record_update(
                session,
                project_id=project.id,
                kind="phase",
                value=phase.value,
                person_id=person.id,
                at=now,
            )
            self.publisher.announce(
                session,
                project,
                key=f"project:{project.id}:phase:{actor.request_key}",
                text=f"Phase: {before} → *{phase.value}* (reported by <@{actor.slack_user_id}>)",
            )
            self.publisher.project_card(session, project)
            name = project.name
        return Outcome(f"*{plain(name, 100)}* is now in {phase.value}. The card is updated.")

    def set_status(self, actor: Actor, args: str) -> Outcome:
        """Report a one-line status; the card shows the latest with its date."""
        now = self.clock()
        with self.db.session() as session:
            project, text = self.split_ref(session, actor, args)
            if not text:
                raise UserError("Say what the status is: `/makers status <project> <text>`.")
            person = self._require_member(session, actor, project)
            assert project.id is not None
            project.status_text = text[:2000]
            project.status_at = now
            project_store.touch_project(session, project=project, at=now)
            project_store.record_update(
                session,
                project_id=project.id,
                kind="status",
                value=text[:2000],
                person_id=person.id,
                at=now,
            )
            self.publisher.announce(
                session,
                project,
                key=f"project:{project.id}:status:{actor.request_key}",
                text=f"Status from <@{actor.slack_user_id}>: {plain(text, 2000)}",
            )
            self.publisher.project_card(session, project)
            name = project.name
        return Outcome(f"Status of *{plain(name, 100)}* updated.")

    # Giving and taking -----------------------------------------------------------------

    def adopt(self, actor: Actor, ref: str | None) -> Outcome:
        """My council reuses this project's product: a take, celebrated in the channel."""
        now = self.clock()
        with self.db.session() as session:
            project = self._resolve(session, actor, ref)
            person = people_store.ensure_person(
                session, slack_user_id=actor.slack_user_id, display_name=actor.display_name
            )
            assert project.id is not None and person.id is not None
            council = self._council_name(session, person)
            card = load_cards(session, [project])[0]
            if council is not None and council in card.makers:
                raise UserError(
                    f"{plain(council, 100)} already makes *{plain(project.name, 100)}*: "
                    "no need to adopt it."
                )
            who = person.council_code or f"person:{person.id}"
            new = ledger_store.add_ledger_entry(
                session,
                entry=ledger_store.NewEntry(
                    kind=LedgerKind.TAKE.value,
                    source="adopt",
                    dedupe_key=f"adopt:{project.id}:{who}",
                    occurred_at=now,
                    project_id=project.id,
                    person_id=person.id,
                    council_code=person.council_code,
                    description=f"adopted {project.name}",
                ),
            )
            if not new:
                raise UserError(
                    f"{plain(council or 'You', 100)} already use(s) *{plain(project.name, 100)}*."
                )
            if (
                project_store.membership(session, project_id=project.id, person_id=person.id)
                is None
            ):
                project_store.add_membership(
                    session, project_id=project.id, person_id=person.id, role=Role.ADOPTER
                )
            project_store.touch_project(session, project=project, at=now)
            whom = plain(council, 100) if council else f"<@{actor.slack_user_id}>'s council"
            self.publisher.announce(
                session,
                project,
                key=f"project:{project.id}:adopt:{who}",
                text=f"🎉 {whom} is now using *{plain(project.name, 100)}*.",
            )
            self.publisher.project_card(session, project)
            name = project.name
        reply = (
            f"Recorded: your council uses *{plain(name, 100)}*. Thank the makers in its channel!"
        )
        if council is None:
            reply += " " + NO_COUNCIL_HINT
        return Outcome(reply)

    def gave(self, actor: Actor, args: str) -> Outcome:
        """A contribution no tool sees (research, a workshop, money): a give."""
        now = self.clock()
        with self.db.session() as session:
            project, what = self.split_ref(session, actor, args)
            if not what:
                raise UserError("Say what you gave: `/makers gave <project> <what>`.")
            person = people_store.ensure_person(
                session, slack_user_id=actor.slack_user_id, display_name=actor.display_name
            )
            assert project.id is not None and person.id is not None
            ledger_store.add_ledger_entry(
                session,
                entry=ledger_store.NewEntry(
                    kind=LedgerKind.GIVE.value,
                    source="gave",
                    dedupe_key=f"gave:{actor.request_key or now.isoformat()}:{person.id}",
                    occurred_at=now,
                    project_id=project.id,
                    person_id=person.id,
                    council_code=person.council_code,
                    description=what[:500],
                ),
            )
            project_store.touch_project(session, project=project, at=now)
            council = self._council_name(session, person)
            whom = plain(council, 100) if council else f"<@{actor.slack_user_id}>"
            self.publisher.announce(
                session,
                project,
                key=f"project:{project.id}:gave:{actor.request_key}",
                text=f"🙌 {whom} gave: {plain(what, 1000)}",
            )
            name = project.name
        reply = f"Thank you! Recorded your contribution to *{plain(name, 100)}*."
        if council is None:
            reply += " " + NO_COUNCIL_HINT
        return Outcome(reply)

    # Visibility --------------------------------------------------------------------------

    def set_visibility(self, actor: Actor, args: str) -> Outcome:
        """Show a project in the public catalogue or keep it out: its leads and admins only."""
        with self.db.session() as session:
            project, word = self.split_ref(session, actor, args)
            visibility = word.strip().lower()
            if visibility not in VISIBILITIES:
                raise UserError(
                    "Say `public` or `private`: `/makers visibility <project> public|private`."
                )
            person = people_store.get_person(session, slack_user_id=actor.slack_user_id)
            assert project.id is not None
            member = (
                project_store.membership(session, project_id=project.id, person_id=person.id)
                if person is not None and person.id is not None
                else None
            )
            if not actor.is_admin and (member is None or member.role != Role.LEAD.value):
                raise UserError(
                    f"Only the leads of *{plain(project.name, 100)}* (or an admin) can change "
                    "whether it is public."
                )
            changed = catalogue_store.set_visibility(
                session, project=project, visibility=visibility
            )
            name, slug = project.name, project.slug
        if not changed:
            raise UserError(f"*{plain(name, 100)}* is already {visibility}.")
        if visibility == PRIVATE:
            return Outcome(
                f"*{plain(name, 100)}* is now private: it no longer appears in the public "
                "catalogue or its open data. It still works as before in Slack."
            )
        return Outcome(
            f"*{plain(name, 100)}* is public again: the catalogue shows it at "
            f"`/projects/{slug}`, with its councils and counts (never people)."
        )

    def _council_name(self, session: Session, person: Person) -> str | None:
        if person.council_code is None:
            return None
        councils = people_store.councils_by_code(session, codes=[person.council_code])
        council = councils.get(person.council_code)
        return council.short_name if council else None
