"""The people of a console session: who you are playing, everyone else, and their Slack ids.

Each name is one Slack user id, so two people can share a database and nobody becomes two
people by accident: `:as U001 alice` when alice is already `U0ALICE` is refused, not a
second alice. People the bot has met are read back from the database, so a console started
again knows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session, col, select

from makersbot.db import Database
from makersbot.domain.people import TOOLS
from makersbot.store import people as people_store
from makersbot.store.models import Person, Project

SLACK_ID = re.compile(r"^[UW][A-Z0-9]*\d[A-Z0-9]*$")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,40}$")


class CastError(ValueError):
    """A name or id that cannot be used, worded for the person at the console."""


@dataclass(frozen=True)
class Member:
    """One person as the console lists them."""

    slack_user_id: str
    name: str
    council: str | None = None
    council_verified: bool = False
    github: str | None = None
    trello: str | None = None
    admin: bool = False
    proven: frozenset[str] = frozenset()  # the tools whose login is proven or confirmed


def derived_id(name: str) -> str:
    """The Slack id the console gives a new name: `alice` → `U0ALICE`."""
    return "U0" + re.sub(r"[^A-Z0-9]", "", name.upper())[:9]


def looks_like_id(word: str) -> bool:
    return bool(SLACK_ID.match(word.upper())) and word[:1] in "UWuw" and len(word) >= 3


class Cast:
    """Names ↔ Slack ids for the session, and who is an admin."""

    def __init__(self, db: Database, admins: frozenset[str]) -> None:
        self.db = db
        self.names: dict[str, str] = {}  # Slack id → name
        self.admins: set[str] = set(admins)
        with db.session(read_only=True) as session:
            for person in session.exec(select(Person).order_by(col(Person.id))).all():
                name = _clean(person.display_name) or person.slack_user_id.lower()
                if self.id_of(name) is None:
                    self.names[person.slack_user_id] = name

    def id_of(self, name: str) -> str | None:
        name = name.lower()
        return next((i for i, n in self.names.items() if n == name), None)

    def resolve(self, words: list[str]) -> tuple[str, str]:
        """(Slack id, name) for `:as` and `--user/--name`: `[name]`, `[id]` or `[id, name]`.

        A known name keeps its id; a new name gets `derived_id(name)`; an id with a name
        that someone else already has is refused, naming who has it.
        """
        if not words or len(words) > 2:
            raise CastError("Say who: `:as <name>` or `:as <user id> <name>`.")
        if len(words) == 1 and not looks_like_id(words[0]):
            name = _name(words[0])
            known = self.id_of(name)
            return (known, name) if known else (self._free_id(derived_id(name), name), name)
        user_id = words[0].upper()
        if not looks_like_id(user_id):
            raise CastError(
                f"“{words[0]}” is not a Slack user id (U followed by letters and digits)."
            )
        current = self.names.get(user_id)
        name = _name(words[1]) if len(words) == 2 else (current or user_id.lower())
        holder = self.id_of(name)
        if holder is not None and holder != user_id:
            raise CastError(
                f"{name} is already {holder}. Type `:as {name}` to be them, or give {user_id} "
                "another name."
            )
        if current is not None and current != name:
            raise CastError(
                f"{user_id} is {current}. Type `:as {user_id}` to be them, or pick another id "
                f"for {name}."
            )
        return user_id, name

    def _free_id(self, user_id: str, name: str) -> str:
        # Two names can squash to the same id ("jo-ann" and "joann"): number the second.
        candidate, n = user_id, 2
        while candidate in self.names and self.names[candidate] != name:
            candidate, n = f"{user_id[:9]}{n}", n + 1
        return candidate

    def add(self, user_id: str, name: str) -> None:
        self.names[user_id] = name

    def members(self) -> list[Member]:
        """Everyone in the session, with what the bot knows of them."""
        with self.db.session(read_only=True) as session:
            return [
                _member(session, user_id, name, admin=user_id in self.admins)
                for user_id, name in self.names.items()
            ]

    def member(self, user_id: str) -> Member:
        return next(m for m in self.members() if m.slack_user_id == user_id)


def _member(session: Session, user_id: str, name: str, *, admin: bool) -> Member:
    person = people_store.get_person(session, slack_user_id=user_id)
    if person is None:
        return Member(slack_user_id=user_id, name=name, admin=admin)
    council = None
    if person.council_code:
        row = people_store.councils_by_code(session, codes=[person.council_code])
        council = row[person.council_code].name if row else None
    return Member(
        slack_user_id=user_id,
        name=name,
        council=council,
        council_verified=people_store.council_verified(person),
        github=person.github_login,
        trello=person.trello_username,
        admin=admin,
        proven=frozenset(t for t in TOOLS if people_store.login_verified(person, t)),
    )


def slack_names(db: Database) -> dict[str, str]:
    """Slack ids the bot knows a name for: project channels and people, for showing
    `<#C…>` and `<@U…>` as words outside Slack."""
    with db.session(read_only=True) as session:
        channels = session.exec(select(Project.channel_id, Project.channel_name)).all()
        people = session.exec(select(Person.slack_user_id, Person.display_name)).all()
    names = {user: name for user, name in people if name}
    names.update({channel: name for channel, name in channels if channel and name})
    return names


def describe(member: Member, *, you: bool = False) -> str:
    """One line: `@alice (U0ALICE) · Guildford Borough Council · GitHub alice · admin`."""
    parts = [f"@{member.name} ({member.slack_user_id})"]
    parts.append(council_words(member) or "no council yet")
    for tool, login in (("GitHub", member.github), ("Trello", member.trello)):
        if login:
            claimed = "" if tool.lower() in member.proven else " (not proven)"
            parts.append(f"{tool} {login}{claimed}")
    if member.admin:
        parts.append("admin")
    return ("you: " if you else "") + " · ".join(parts)


def council_words(member: Member) -> str | None:
    """The member's council, marked when it is a claim nobody has verified yet."""
    if member.council is None or member.council_verified:
        return member.council
    return f"{member.council} (not verified yet)"


def _clean(name: str) -> str:
    name = name.strip().split()[0].lower() if name.strip() else ""
    return name if NAME.match(name) else ""


def _name(word: str) -> str:
    name = _clean(word)
    if not name:
        raise CastError(f"“{word}” cannot be a name here: use letters and digits, like priya.")
    return name
