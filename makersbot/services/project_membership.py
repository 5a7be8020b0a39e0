"""Who takes part in a project: makers join and leave, leads choose more leads, and councils
adopt what it made (a take)."""

from __future__ import annotations

import re

from sqlmodel import Session

from makersbot.domain.projects import LedgerKind, Role, Verification
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.render import plain
from makersbot.services.cards import load_cards
from makersbot.services.project_flow import NO_COUNCIL_HINT, ProjectFlow
from makersbot.slack_gateway import ChannelError
from makersbot.store import ledger as ledger_store
from makersbot.store import people as people_store
from makersbot.store import projects as project_store
from makersbot.store.models import Membership, Person, Project

# A user mention as Slack escapes it (`<@U123>`, `<@U123|name>`) or a bare user id.
_MENTION = re.compile(r"<@(?P<id>[UW][A-Z0-9]+)(?:\|[^>]*)?>|(?P<bare>[UW][A-Z0-9]{6,})")


class ProjectMembership(ProjectFlow):
    """`/makers join`, `leave`, `lead` and `adopt`."""

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
        """Stop being a member; the card shows it. The last lead hands over first."""
        with self._changing(actor, ref) as change:
            project, session = change.project, change.session
            # Two leads leaving at once must not both see the other still there (PostgreSQL;
            # SQLite writers already take turns).
            session.refresh(project, with_for_update=True)
            # get, not ensure: leaving must not create a person who was never here.
            person = people_store.get_person(session, slack_user_id=actor.slack_user_id)
            role = self._role(session, person, project) if person is not None else None
            if person is None or person.id is None or role is None:
                raise UserError(f"You are not a member of *{plain(project.name, 100)}*.")
            leads = project_store.leads(session, project_id=change.project_id)
            if role == Role.LEAD.value and leads == [actor.slack_user_id]:
                raise UserError(
                    f"You are the only lead of *{plain(project.name, 100)}*, so hand it over "
                    f"before you leave: `/makers lead {project.slug} @someone` makes another "
                    f"maker a lead (they join first with `/makers join {project.slug}`), "
                    "then leave."
                )
            project_store.remove_membership(
                session, project_id=change.project_id, person_id=person.id
            )
            name = project.name
        return Outcome(
            f"You left *{plain(name, 100)}*. You can leave its channel too, or stay to follow it."
        )

    def make_lead(self, actor: Actor, args: str) -> Outcome:
        """A lead (or an admin) makes another maker a lead too."""
        with self._changing(actor, args, with_text=True, card=False) as change:
            project, session = change.project, change.session
            if not change.text:
                raise UserError(f"Say who: `/makers lead {project.slug} @person`.")
            person = self._require_lead(session, actor, project, "choose its leads")
            member, named = self._member_named(session, project, change.text)
            if member.role == Role.LEAD.value:
                raise UserError(f"<@{named.slack_user_id}> is already a lead.")
            if member.role == Role.ADOPTER.value:
                raise UserError(
                    f"<@{named.slack_user_id}> uses *{plain(project.name, 100)}* but is not "
                    f"one of its makers: they join first with `/makers join {project.slug}`."
                )
            member.role = Role.LEAD.value
            session.add(member)
            change.record("lead", named.slack_user_id, by=person.id)
            change.announce(
                f"lead:{named.slack_user_id}:{actor.request_key}",
                f"⭐ <@{named.slack_user_id}> is now a lead of *{plain(project.name, 100)}* "
                f"(made lead by <@{actor.slack_user_id}>).",
            )
            name, target = project.name, named.slack_user_id
        return Outcome(
            f"<@{target}> is now a lead of *{plain(name, 100)}*: they can change its phase "
            "and choose leads too."
        )

    def _member_named(
        self, session: Session, project: Project, who: str
    ) -> tuple[Membership, Person]:
        """The member `who` names: a mention (`<@U…>`), a user id, or `@name`. The command's
        text arrives unescaped, so a name is compared without case, spaces or dots ("@Bob
        Smith" finds bob.smith); only members are compared, which keeps names unambiguous."""
        assert project.id is not None
        who = who.strip()
        mention = _MENTION.fullmatch(who)
        members = project_store.members(session, project_id=project.id)
        if mention:
            user_id = mention["id"] or mention["bare"]
            found = [(m, p) for m, p in members if p.slack_user_id == user_id]
            label = f"<@{user_id}>"
        else:
            name = _bare(who)
            found = [(m, p) for m, p in members if name and _bare(p.display_name) == name]
            label = f"“{plain(who, 80)}”"
        if len(found) == 1:
            return found[0]
        makers = [p for m, p in members if m.role != Role.ADOPTER.value]
        listed = ", ".join(f"<@{p.slack_user_id}>" for p in makers) or "nobody yet"
        if found:
            raise UserError(f"More than one member is called {label}: mention them with @.")
        raise UserError(
            f"{label} is not a member of *{plain(project.name, 100)}*. Its makers: {listed}. "
            f"Others join first with `/makers join {project.slug}`."
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
                    recorded_by=actor.slack_user_id,
                    verification=Verification.MEMBER.value,
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


def _bare(name: str) -> str:
    """A person's name reduced to lower-case letters and digits, for comparing."""
    return re.sub(r"[\W_]+", "", name.lower())
