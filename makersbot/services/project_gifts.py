"""Contributions no tool sees (`/makers gave`): a give in the ledger, recorded only by the
project's members, capped per person per day, announced in the project channel, and undone
by the giver or an admin."""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session

from makersbot import render
from makersbot.domain.projects import Gift, LedgerKind, Verification
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.render import plain
from makersbot.services.project_flow import DAY, NO_COUNCIL_HINT, Announcement, ProjectFlow
from makersbot.store import ledger as ledger_store
from makersbot.store import people as people_store
from makersbot.store import projects as project_store
from makersbot.store.models import LedgerEntry, Person, Project

SOURCE = "gave"
_NUMBER = re.compile(r"#?(?P<id>\d{1,12})")


def gift_key(entry_id: int) -> str:
    """The key of a gift's announcement (after "project:<id>:"): the undo edits it."""
    return f"gave:{entry_id}"


class ProjectGifts(ProjectFlow):
    """`/makers gave` and `/makers gave undo`."""

    def gave(self, actor: Actor, args: str) -> Outcome:
        """A contribution no tool sees (research, a workshop, money): a give."""
        # A gift changes nothing the card shows: no card refresh.
        with self._changing(actor, args, with_text=True, card=False) as change:
            what, session, project = change.text, change.session, change.project
            if not what:
                raise UserError("Say what you gave: `/makers gave <project> <what>`.")
            person = self._person(session, actor)
            verification = self._giver(session, actor, person, project)
            self._check_gave_cap(session, person, change.at)
            key = f"gave:{actor.request_key or change.at.isoformat()}:{person.id}"
            ledger_store.add_ledger_entry(
                session,
                entry=ledger_store.NewEntry(
                    kind=LedgerKind.GIVE.value,
                    source=SOURCE,
                    dedupe_key=key,
                    occurred_at=change.at,
                    project_id=change.project_id,
                    person_id=person.id,
                    council_code=person.council_code,
                    description=what[:500],
                    recorded_by=actor.slack_user_id,
                    verification=verification,
                ),
            )
            entry = ledger_store.entry_by_key(session, dedupe_key=key)
            assert entry is not None and entry.id is not None
            message = render.gift_message(self._gift(session, entry))
            change.announce(gift_key(entry.id), message.text, message)
            name, number = project.name, entry.id
            council = self._council_name(session, person)
        reply = (
            f"Thank you! Recorded your contribution to *{plain(name, 100)}* (#{number}). "
            "If it was a mistake: `/makers gave undo`."
        )
        if council is None:
            reply += " " + NO_COUNCIL_HINT
        return Outcome(reply)

    def undo_gift(self, actor: Actor, ref: str = "") -> Outcome:
        """Undo a gift: your latest, or #number (yours, or anyone's for an admin)."""
        with self.db.session() as session:
            entry = self._gift_to_undo(session, actor, ref)
            if entry.voided_at is not None:
                raise UserError(f"Contribution #{entry.id} was already undone.")
            if entry.recorded_by != actor.slack_user_id and not actor.is_admin:
                raise UserError(
                    f"Only <@{entry.recorded_by}>, who recorded contribution #{entry.id}, "
                    "or an admin can undo it."
                )
            ledger_store.void_entry(session, entry=entry, by=actor.slack_user_id, at=self.clock())
            project = (
                project_store.get_project(session, project_id=entry.project_id)
                if entry.project_id is not None
                else None
            )
            if project is not None:
                self._announce_undone(session, project, entry)
            what, where = entry.description, project.name if project else "the project"
            number = entry.id
        return Outcome(
            f"Undone: contribution #{number} to *{plain(where, 100)}* "
            f"(“{plain(what, 200)}”) no longer counts."
        )

    # Steps -----------------------------------------------------------------------------

    def _giver(self, session: Session, actor: Actor, person: Person, project: Project) -> str:
        """How the gift is verified: the giver is a member (any role) or an admin."""
        if self._role(session, person, project) is not None:
            return Verification.MEMBER.value
        if actor.is_admin:
            return Verification.ADMIN.value
        raise UserError(
            f"Only the members of *{plain(project.name, 100)}* can record what they gave to it. "
            f"Join it first with `/makers join {project.slug}`, or `/makers adopt "
            f"{project.slug}` if your council uses it."
        )

    def _check_gave_cap(self, session: Session, person: Person, now: datetime) -> None:
        """Refuse a gift beyond MAKERS_GAVE_DAILY_CAP in the last 24 hours."""
        assert person.id is not None
        cap = self.rules.gave_daily_cap
        if cap == 0:
            raise UserError(
                "Recording contributions is switched off here (MAKERS_GAVE_DAILY_CAP is 0)."
            )
        times = ledger_store.recorded_since(
            session, source=SOURCE, person_id=person.id, since=now - DAY
        )
        again = self._over_cap(times, cap, now)
        if again is not None:
            raise UserError(
                f"You have recorded {len(times)} contributions in the last 24 hours, and one "
                f"person can record {cap} a day (undone ones count too). You can record "
                f"another after {again}."
            )

    def _gift_to_undo(self, session: Session, actor: Actor, ref: str) -> LedgerEntry:
        ref = ref.strip()
        if not ref:
            latest = ledger_store.latest_entry(
                session, source=SOURCE, recorded_by=actor.slack_user_id
            )
            if latest is None:
                raise UserError("You have no contribution to undo.")
            return latest
        number = _NUMBER.fullmatch(ref)
        if number is None:
            raise UserError("Which one? `/makers gave undo` (your latest) or `gave undo #12`.")
        entry = ledger_store.get_entry(session, entry_id=int(number["id"]))
        if entry is None or entry.source != SOURCE:
            raise UserError(f"There is no contribution #{int(number['id'])} to undo.")
        return entry

    def _gift(self, session: Session, entry: LedgerEntry) -> Gift:
        """What the announcement shows of a ledger entry."""
        assert entry.id is not None
        code = entry.council_code
        council = people_store.councils_by_code(session, codes=[code]).get(code) if code else None
        return Gift(
            id=entry.id,
            recorded_by=entry.recorded_by,
            council=council.short_name if council else None,
            what=entry.description,
            undone_by=entry.voided_by,
        )

    def _announce_undone(self, session: Session, project: Project, entry: LedgerEntry) -> None:
        """Edit the gift's announcement in place (a gift from before 0005 gets a new line)."""
        assert entry.id is not None
        message = render.gift_message(self._gift(session, entry))
        self._publish_announcement(
            session, project, Announcement(gift_key(entry.id), message.text, message)
        )
