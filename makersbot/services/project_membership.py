"""Who takes part in a project: makers join and leave, councils adopt what it made (a take),
and anyone records what they gave that no tool sees (a give)."""

from __future__ import annotations

from makersbot.domain.projects import LedgerKind, Role
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.render import plain
from makersbot.services.cards import load_cards
from makersbot.services.project_flow import NO_COUNCIL_HINT, ProjectFlow
from makersbot.slack_gateway import ChannelError
from makersbot.store import ledger as ledger_store
from makersbot.store import people as people_store
from makersbot.store import projects as project_store


class ProjectMembership(ProjectFlow):
    """`/makers join`, `leave`, `adopt` and `gave`."""

    def join(self, actor: Actor, ref: str | None) -> Outcome:
        """Become a maker of a project: invited to its channel, announced there."""
        with self._changing(actor, ref) as change:
            project, session = change.project, change.session
            person = self._person(session, actor)
            assert person.id is not None
            current = project_store.membership(
                session, project_id=change.project_id, person_id=person.id
            )
            if current is not None and current.role != Role.ADOPTER.value:
                raise UserError(f"You are already in *{plain(project.name, 100)}*.")
            if current is not None:
                current.role = Role.MAKER.value
                session.add(current)
            else:
                project_store.add_membership(
                    session, project_id=change.project_id, person_id=person.id, role=Role.MAKER
                )
            council = self._council_name(session, person)
            who = f"<@{actor.slack_user_id}>" + (f" from {plain(council, 100)}" if council else "")
            change.announce(
                f"join:{person.id}:{actor.request_key}", f"👋 {who} joined the project."
            )
            channel_id, name = project.channel_id, project.name
        if not channel_id:
            return Outcome(f"You joined *{plain(name, 100)}*.")
        try:
            self.channels.invite(channel_id, actor.slack_user_id)
        except ChannelError as exc:
            return Outcome(
                f"You joined *{plain(name, 100)}*, but I could not add you to <#{channel_id}> "
                f"(Slack said `{exc.code}`): open it and join from there."
            )
        return Outcome(f"You joined *{plain(name, 100)}*. Say hello in <#{channel_id}>.")

    def leave(self, actor: Actor, ref: str | None) -> Outcome:
        """Stop being a member; the card shows it."""
        with self._changing(actor, ref) as change:
            # get, not ensure: leaving must not create a person who was never here.
            person = people_store.get_person(change.session, slack_user_id=actor.slack_user_id)
            if (
                person is None
                or person.id is None
                or not project_store.remove_membership(
                    change.session, project_id=change.project_id, person_id=person.id
                )
            ):
                raise UserError(f"You are not a member of *{plain(change.project.name, 100)}*.")
            name = change.project.name
        return Outcome(
            f"You left *{plain(name, 100)}*. You can leave its channel too, or stay to follow it."
        )

    def adopt(self, actor: Actor, ref: str | None) -> Outcome:
        """My council reuses this project's product: a take, celebrated in the channel."""
        with self._changing(actor, ref) as change:
            project, session = change.project, change.session
            person = self._person(session, actor)
            assert person.id is not None
            council = self._council_name(session, person)
            if council is not None and council in load_cards(session, [project])[0].makers:
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
                    occurred_at=change.at,
                    project_id=project.id,
                    person_id=person.id,
                    council_code=person.council_code,
                    description=f"adopted {project.name}",
                ),
            )
            if not new:
                who_uses = f"{plain(council, 100)} already uses" if council else "You already use"
                raise UserError(f"{who_uses} *{plain(project.name, 100)}*.")
            # A maker stays a maker; anyone else becomes an adopter.
            project_store.add_membership(
                session, project_id=change.project_id, person_id=person.id, role=Role.ADOPTER
            )
            whom = plain(council, 100) if council else f"<@{actor.slack_user_id}>'s council"
            change.announce(f"adopt:{who}", f"🎉 {whom} is now using *{plain(project.name, 100)}*.")
            name = project.name
        reply = (
            f"Recorded: your council uses *{plain(name, 100)}*. Thank the makers in its channel!"
        )
        if council is None:
            reply += " " + NO_COUNCIL_HINT
        return Outcome(reply)

    def gave(self, actor: Actor, args: str) -> Outcome:
        """A contribution no tool sees (research, a workshop, money): a give."""
        # A gift changes nothing the card shows: no card refresh.
        with self._changing(actor, args, with_text=True, card=False) as change:
            what = change.text
            if not what:
                raise UserError("Say what you gave: `/makers gave <project> <what>`.")
            person = self._person(change.session, actor)
            ledger_store.add_ledger_entry(
                change.session,
                entry=ledger_store.NewEntry(
                    kind=LedgerKind.GIVE.value,
                    source="gave",
                    dedupe_key=f"gave:{actor.request_key or change.at.isoformat()}:{person.id}",
                    occurred_at=change.at,
                    project_id=change.project_id,
                    person_id=person.id,
                    council_code=person.council_code,
                    description=what[:500],
                ),
            )
            council = self._council_name(change.session, person)
            whom = plain(council, 100) if council else f"<@{actor.slack_user_id}>"
            change.announce(f"gave:{actor.request_key}", f"🙌 {whom} gave: {plain(what, 1000)}")
            name = change.project.name
        reply = f"Thank you! Recorded your contribution to *{plain(name, 100)}*."
        if council is None:
            reply += " " + NO_COUNCIL_HINT
        return Outcome(reply)
