"""A project's life: started with its channel and pinned card, then reported on as it moves
through the phases and its status changes."""

from __future__ import annotations

import functools
import logging
import re
from datetime import datetime

from sqlmodel import Session

from makersbot.domain.projects import LedgerKind, Phase, Role, Verification, slugify
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.domain.similar import LooksLikeExisting
from makersbot.render import in_phase, phase_name, plain
from makersbot.services import similar
from makersbot.services.project_flow import DAY, NO_COUNCIL_HINT, ProjectFlow
from makersbot.slack_gateway import ChannelError, Reserved
from makersbot.store import ledger as ledger_store
from makersbot.store import pending_starts
from makersbot.store import projects as project_store
from makersbot.store.models import Person

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "makers-"
CHANNEL_HELP = {
    "missing_scope": "the bot's Slack app lacks a permission (reinstall it from manifest.yml)",
    "restricted_action": "your workspace only lets admins create channels",
    "invalid_name_specials": "the name has characters Slack does not allow in channel names",
}


class ProjectLifecycle(ProjectFlow):
    """`/makers start`, `phase` and `status`: leads (or admins) move the phase, any maker
    reports a status."""

    @functools.cached_property
    def look_alikes(self) -> similar.LookAlikeFinder:
        """What `start` compares a new project with (its index is kept between starts)."""
        return similar.LookAlikeFinder()

    def start(
        self, actor: Actor, name: str, description: str = "", *, anyway: bool = False
    ) -> Outcome:
        """Create a project, its channel and pinned card; the starter's council gives.

        Unless `anyway`, a project that looks like existing ones is held back: the start
        raises LooksLikeExisting, whose token starts it with `start_held`.
        """
        name = " ".join(name.split())
        slug = slugify(name)
        if not slug:
            raise UserError("A project name needs at least one letter or digit.")
        if len(name) > 80:
            raise UserError("Keep the project name to 80 characters; say more in the description.")
        now = self.clock()
        if not anyway:
            self._hold_look_alike(actor, slug, name, description, now)
        with self.db.session() as session:
            existing = project_store.project_by_slug(session, slug=slug)
            if existing is not None:
                where = f" in <#{existing.channel_id}>" if existing.channel_id else ""
                raise UserError(
                    f"There is already a project called *{plain(existing.name, 100)}*{where}. "
                    f"Join it with `/makers join {existing.slug}`, or pick another name."
                )
            person = self._person(session, actor)
            if not actor.is_admin:
                self._check_start_cap(session, person, now)
            project_id = self._create(
                session, person, slug, name, description, at=now, by=actor.slack_user_id
            )
            has_council = person.council_code is not None
        # Outside the transaction: Slack calls can take seconds and the project must exist
        # whatever Slack says.
        channel_note = self._open_channel(project_id, actor.slack_user_id)
        reply = f"Started *{plain(name, 100)}*. {channel_note}"
        if not has_council:
            reply += " " + NO_COUNCIL_HINT
        return Outcome(reply)

    def _hold_look_alike(
        self, actor: Actor, slug: str, name: str, description: str, now: datetime
    ) -> None:
        """Raise LooksLikeExisting, with the start kept, when existing projects look like it."""
        with self.db.session(read_only=True) as session:
            if project_store.project_by_slug(session, slug=slug) is not None:
                return  # the same name: `start` says so in its own words
            matches = self.look_alikes.find(session, name=name, description=description)
        if not matches:
            return
        with self.db.session() as session:
            token = similar.hold_start(
                session,
                slack_user_id=actor.slack_user_id,
                name=name,
                description=description,
                at=now,
            )
        raise LooksLikeExisting(name, matches, token)

    def start_held(self, actor: Actor, token: str) -> Outcome:
        """*Start mine anyway*: start a held-back project, once, for its starter only."""
        now = self.clock()
        with self.db.session() as session:
            held = pending_starts.claim_pending_start(
                session,
                token=token,
                slack_user_id=actor.slack_user_id,
                since=now - similar.PENDING_FOR,
                at=now,
            )
            if held is None:
                raise UserError(
                    "That start was made already, or it has expired (after a day). "
                    "Type `/makers start` again if you still need it."
                )
            name, description = held.name, held.description
        try:
            return self.start(actor, name, description, anyway=True)
        except UserError:
            # Refused (a cap, a name taken meanwhile): the button may be pressed again.
            with self.db.session() as session:
                pending_starts.release_pending_start(session, token=token)
            raise

    def _create(
        self,
        session: Session,
        person: Person,
        slug: str,
        name: str,
        description: str,
        *,
        at: datetime,
        by: str,
    ) -> int:
        """The project row, its starter as lead, and the starter's give; returns its id."""
        project = project_store.add_project(
            session,
            slug=slug,
            name=name,
            description=description.strip()[:2000],
            lead_council_code=person.council_code,
            created_by_id=person.id,
            at=at,
        )
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
                occurred_at=at,
                project_id=project.id,
                person_id=person.id,
                council_code=person.council_code,
                description=f"started {name}",
                recorded_by=by,
                verification=Verification.MEMBER.value,
            ),
        )
        return project.id

    def _check_start_cap(self, session: Session, person: Person, now: datetime) -> None:
        """Refuse a start beyond MAKERS_START_DAILY_CAP in 24 hours (admins never get here)."""
        assert person.id is not None
        cap = self.rules.start_daily_cap
        if cap == 0:
            raise UserError("Only admins can start projects here (MAKERS_START_DAILY_CAP is 0).")
        started = project_store.started_since(session, person_id=person.id, since=now - DAY)
        again = self._over_cap(started, cap, now)
        if again is not None:
            raise UserError(
                f"You have started {len(started)} project(s) in the last 24 hours, and one "
                f"person can start {cap} a day. You can start another after {again}, or ask "
                "an admin: admins have no limit."
            )

    def _reserved_channels(self) -> Reserved:
        """Channels `start` must never take: every project's, and the digest channel."""
        with self.db.session(read_only=True) as session:
            ids, names = project_store.project_channels(session)
        hub = (self.rules.digest_channel or "").strip().lstrip("#")
        if re.fullmatch(r"[CG][A-Z0-9]{6,}", hub):
            ids |= {hub}
        elif hub:
            names |= {hub.lower()}
        return Reserved(ids=ids, names=names)

    def _open_channel(self, project_id: int, slack_user_id: str) -> str:
        with self.db.session(read_only=True) as session:
            slug = project_store.get_project(session, project_id=project_id).slug
        try:
            channel = self.channels.ensure_channel(
                CHANNEL_PREFIX + slug, reserved=self._reserved_channels()
            )
            self.channels.invite(channel.id, slack_user_id)
        except ChannelError as exc:
            why = CHANNEL_HELP.get(exc.code, f"Slack said `{exc.code}`")
            log.warning("channel for project %s failed: %s", slug, exc.code)
            return f"I could not set up its channel: {why}. The project is saved."
        with self.db.session() as session:
            project = project_store.get_project(session, project_id=project_id)
            project.channel_id = channel.id
            project.channel_name = channel.name
            session.add(project)
            self.publisher.project_card(session, project)
        return (
            f"Its channel is <#{channel.id}>, where the pinned card keeps everyone up to date. "
            f"Others join with `/makers join {slug}`."
        )

    def set_phase(self, actor: Actor, ref: str | None, phase: Phase) -> Outcome:
        """Move a project to a phase; the card and the digest show it."""
        with self._changing(actor, ref) as change:
            project = change.project
            person = self._require_lead(change.session, actor, project, "change its phase")
            if project.phase == phase.value:
                raise UserError(f"*{plain(project.name, 100)}* is already {in_phase(phase)}.")
            before = project.phase
            project.phase = phase.value
            project.phase_changed_at = change.at
            change.record("phase", phase.value, by=person.id)
            change.announce(
                f"phase:{actor.request_key}",
                f"Phase: {phase_name(before)} → *{phase_name(phase)}* "
                f"(reported by <@{actor.slack_user_id}>)",
            )
            name = project.name
        return Outcome(f"*{plain(name, 100)}* is now {in_phase(phase)}. The card is updated.")

    def set_status(self, actor: Actor, args: str) -> Outcome:
        """Report a one-line status; the card shows the latest with its date."""
        with self._changing(actor, args, with_text=True) as change:
            if not change.text:
                raise UserError("Say what the status is: `/makers status <project> <text>`.")
            project, text = change.project, change.text[:2000]
            person = self._require_member(change.session, actor, project)
            project.status_text = text
            project.status_at = change.at
            change.record("status", text, by=person.id)
            change.announce(
                f"status:{actor.request_key}",
                f"Status from <@{actor.slack_user_id}>: {plain(change.text, 2000)}",
            )
            name = project.name
        return Outcome(f"Status of *{plain(name, 100)}* updated.")
