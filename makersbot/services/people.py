"""People: who someone is across Slack, GitHub and Trello, and which council they are with."""

from __future__ import annotations

import re

from sqlmodel import Session

from makersbot.councils import CouncilRegister
from makersbot.db import Database
from makersbot.domain.people import Identity
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.publishing import Publisher
from makersbot.render import plain, plural
from makersbot.store import people as people_store
from makersbot.store import projects as project_store
from makersbot.store.models import Person

# GitHub: 1-39 characters, letters, digits and single inner hyphens.
GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
# Trello: 3+ characters of lowercase letters, digits and underscores (we accept any case).
TRELLO_USERNAME = re.compile(r"^[A-Za-z0-9_]{3,100}$")


class PeopleService:
    """`/makers iam …`: links a Slack user to a council and to their other accounts."""

    def __init__(self, db: Database, register: CouncilRegister, publisher: Publisher) -> None:
        self.db = db
        self.register = register
        self.publisher = publisher

    def identity(self, actor: Actor) -> Identity:
        with self.db.session(read_only=True) as session:
            person = people_store.get_person(session, slack_user_id=actor.slack_user_id)
            if person is None or person.id is None:
                return Identity(actor.slack_user_id, None, None, None)
            council = None
            if person.council_code:
                row = people_store.councils_by_code(session, codes=[person.council_code])
                council = row[person.council_code].name if row else None
            projects = tuple(
                p.name for p in project_store.projects_of(session, person_id=person.id)
            )
            return Identity(
                actor.slack_user_id,
                council,
                person.github_login,
                person.trello_username,
                projects,
            )

    def set_council(self, actor: Actor, text: str) -> Outcome:
        """Match `text` against the UK register, forgivingly; ask when it is ambiguous."""
        match = self.register.match(text)
        if match.council is None:
            if match.choices:
                options = "\n".join(
                    f"• {plain(c.name, 200)} — `/makers iam council {c.code}`"
                    for c in match.choices
                )
                raise UserError(f"Which council do you mean by “{plain(text, 100)}”?\n{options}")
            raise UserError(
                f"No UK council matches “{plain(text, 100)}”. Try its full name, "
                "e.g. `/makers iam council Guildford Borough Council`."
            )
        council = match.council
        with self.db.session() as session:
            people_store.ensure_council(session, council=council)
            person = people_store.ensure_person(
                session, slack_user_id=actor.slack_user_id, display_name=actor.display_name
            )
            person.council_code = council.code
            session.add(person)
            session.flush()
            counted = people_store.attribute_past_entries(session, person=person)
            self._refresh_cards(session, person)
        reply = f"You are with *{plain(council.name, 200)}*."
        if counted:
            verb = "counts" if counted == 1 else "count"
            reply += f" {plural(counted, 'earlier contribution')} now {verb} for it."
        return Outcome(reply)

    def set_github(self, actor: Actor, login: str) -> Outcome:
        login = login.strip().lstrip("@")
        if not GITHUB_LOGIN.match(login):
            raise UserError(f"“{plain(login, 60)}” is not a GitHub login (letters, digits, -).")
        return self._link(actor, github=login)

    def set_trello(self, actor: Actor, username: str) -> Outcome:
        username = username.strip().lstrip("@")
        if not TRELLO_USERNAME.match(username):
            raise UserError(
                f"“{plain(username, 60)}” is not a Trello username (letters, digits, _)."
            )
        return self._link(actor, trello=username)

    def _link(
        self, actor: Actor, *, github: str | None = None, trello: str | None = None
    ) -> Outcome:
        tool = "GitHub" if github else "Trello"
        name = github or trello or ""
        with self.db.session() as session:
            person = people_store.ensure_person(
                session, slack_user_id=actor.slack_user_id, display_name=actor.display_name
            )
            owner = people_store.person_by_login(session, github=github, trello=trello)
            if owner is not None and owner.id != person.id:
                raise UserError(
                    f"{tool} `{plain(name, 100)}` is already linked to <@{owner.slack_user_id}>."
                    " If that is wrong, ask them (or an admin) to change it."
                )
            if github:
                person.github_login = github
            else:
                person.trello_username = trello
            session.add(person)
            session.flush()
            counted = people_store.attribute_past_entries(session, person=person)
            has_council = person.council_code is not None
        reply = f"Your {tool} account is `{plain(name, 100)}`."
        if counted:
            verb = "counts" if counted == 1 else "count"
            reply += f" {plural(counted, 'earlier contribution')} now {verb} for your council."
        if not has_council:
            reply += " Set your council too: `/makers iam council <name>`."
        return Outcome(reply)

    def _refresh_cards(self, session: Session, person: Person) -> None:
        # The cards of the person's projects list councils: show the new one.
        if person.id is None:
            return
        for project in project_store.projects_of(session, person_id=person.id):
            project_store.touch_project(session, project=project, at=project.updated_at)
            self.publisher.project_card(session, project)
