"""`/makers admin …`: what admins (MAKERS_ADMINS) can fix about people and projects.

Confirm everyone who says they are with a council (after the upgrade that made every
council a claim), set someone's council, link or unlink a GitHub login or Trello username
whoever holds it, correct a project's lead council, and re-read everyone's Slack e-mail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlmodel import Session

from makersbot.db import Database
from makersbot.domain.people import TOOL_NAMES
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.publishing import Publisher
from makersbot.render import plain
from makersbot.services.people import GITHUB_LOGIN, TRELLO_USERNAME, PeopleService
from makersbot.store import people as people_store
from makersbot.store import projects as project_store
from makersbot.store.models import Project

log = logging.getLogger(__name__)

ResolveProject = Callable[[Session, Actor, str], tuple[Project, str]]
LOGIN_SHAPES = {"github": GITHUB_LOGIN, "trello": TRELLO_USERNAME}


class IdentityAdmin:
    """Admins' fixes; every method refuses anyone not in MAKERS_ADMINS."""

    def __init__(
        self,
        db: Database,
        people: PeopleService,
        publisher: Publisher,
        *,
        resolve: ResolveProject,
    ) -> None:
        self.db = db
        self.people = people
        self.publisher = publisher
        self.resolve = resolve

    def verify_council(self, actor: Actor, text: str) -> Outcome:
        """Confirm every person who says they are with a council."""
        _require_admin(actor)
        council = self.people.match_council(text)
        verified = counted = 0
        with self.db.session() as session:
            for person in people_store.claimants(session, council_code=council.code):
                settled = self.people.verify(
                    session, person, council, by=f"admin:{actor.slack_user_id}"
                )
                verified, counted = verified + 1, counted + settled.counted
        log.info("%s verified %d people of %s", actor.slack_user_id, verified, council.code)
        if not verified:
            return Outcome(f"Nobody is waiting to be verified with *{plain(council.name, 200)}*.")
        return Outcome(
            f"Verified {verified} person(s) with *{plain(council.name, 200)}*; "
            f"{counted} of their contribution(s) now count."
        )

    def set_council_of(self, actor: Actor, who: str, text: str) -> Outcome:
        """Set (and verify) someone's council, whatever it was."""
        _require_admin(actor)
        council = self.people.match_council(text)
        with self.db.session() as session:
            person = self.people.person_named(session, who)
            settled = self.people.verify(
                session, person, council, by=f"admin:{actor.slack_user_id}"
            )
            self.people.tell(
                session,
                person.slack_user_id,
                f"An admin (<@{actor.slack_user_id}>) set your council to "
                f"*{plain(council.name, 200)}*, verified.",
            )
            target = person.slack_user_id
        return Outcome(
            f"<@{target}> is with *{plain(council.name, 200)}*, verified."
            + (f" {settled.counted} contribution(s) now count." if settled.counted else "")
        )

    def assign_login(self, actor: Actor, tool: str, who: str, login: str) -> Outcome:
        """Link a login to someone, confirmed, taking it from whoever held it."""
        _require_admin(actor)
        login = _login(tool, login)
        with self.db.session() as session:
            target = self.people.person_named(session, who).slack_user_id
        outcome = self.people.record_proof(target, tool, login, by=f"admin:{actor.slack_user_id}")
        with self.db.session() as session:
            self.people.tell(
                session,
                target,
                f"An admin (<@{actor.slack_user_id}>) linked {TOOL_NAMES[tool]} "
                f"`{plain(login, 100)}` to you, confirmed.",
            )
        return outcome

    def forget_login(self, actor: Actor, tool: str, login: str) -> Outcome:
        """Unlink a login from whoever holds it; what it did waits for whoever proves it."""
        _require_admin(actor)
        login = _login(tool, login)
        name, shown = TOOL_NAMES[tool], f"`{plain(login, 100)}`"
        with self.db.session() as session:
            holder = people_store.login_holder(session, tool=tool, login=login)
            if holder is None:
                raise UserError(f"Nobody has {name} {shown}.")
            taken = people_store.uncredit_login_entries(
                session, person=holder, tool=tool, login=login
            )
            people_store.set_login(session, person=holder, tool=tool, login=None)
            self.people.tell(
                session,
                holder.slack_user_id,
                f"An admin (<@{actor.slack_user_id}>) unlinked {name} {shown} from you.",
            )
            target = holder.slack_user_id
        reply = f"Unlinked {name} {shown} from <@{target}>."
        if taken:
            reply += f" {taken} contribution(s) made as {shown} wait for whoever proves it."
        return Outcome(reply)

    def lead_council(self, actor: Actor, text: str) -> Outcome:
        """Correct a project's lead council."""
        _require_admin(actor)
        with self.db.session() as session:
            project, rest = self.resolve(session, actor, text)
            if not rest:
                raise UserError(
                    f"Which council? `/makers admin lead-council {project.slug} <council>`."
                )
            council = self.people.match_council(rest)
            people_store.ensure_council(session, council=council)
            project.lead_council_code = council.code
            project_store.touch_project(session, project=project)
            self.publisher.project_card(session, project)
            name = project.name
        return Outcome(
            f"The lead council of *{plain(name, 100)}* is now *{plain(council.name, 200)}*."
        )

    def check_emails(self, actor: Actor) -> Outcome:
        """Read the Slack e-mail of everyone whose council is not verified (slow: after the
        acknowledgement), and verify those whose address names a council."""
        _require_admin(actor)
        with self.db.session(read_only=True) as session:
            people = [p.slack_user_id for p in people_store.unverified_people(session)]
        verified = sum(1 for user in people if self.people.check_email(user, force=True))
        return Outcome(
            f"Checked {len(people)} person(s) whose council was not verified: "
            f"{verified} verified by their Slack e-mail."
        )


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise UserError("Only admins (MAKERS_ADMINS) can do that.")


def _login(tool: str, login: str) -> str:
    login = login.strip().lstrip("@")
    if not LOGIN_SHAPES[tool].match(login):
        raise UserError(f"“{plain(login, 60)}” is not a {TOOL_NAMES[tool]} login.")
    return login
