"""What in the database points at one person or names them: the queries that the privacy
export and erasure (`store/privacy.py`) share. Session-free: each returns a predicate or names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Column, String, cast, func, or_
from sqlmodel import SQLModel, col

from makersbot.store.models import LedgerEntry, MirroredItem, Person, SlackMessage


def references() -> Iterator[tuple[str, Column[Any]]]:
    """(table name, column) of every foreign key to `person.id`, from the models' metadata."""
    for table in SQLModel.metadata.sorted_tables:
        for key in table.foreign_keys:
            if key.column.table.name == "person" and key.column.name == "id":
                yield table.name, key.parent


def ledger_of(person: Person) -> Any:
    """The ledger entries that are a person's: theirs by id, or by their logins."""
    who: list[Any] = [col(LedgerEntry.person_id) == person.id]
    if person.github_login:
        who.append(func.lower(LedgerEntry.github_login) == person.github_login.lower())
    if person.trello_username:
        who.append(func.lower(LedgerEntry.trello_username) == person.trello_username.lower())
    return or_(*who)


def logins_of(person: Person) -> list[str]:
    """The person's GitHub login and Trello username, lower-cased, where they have them."""
    return [login.lower() for login in (person.github_login, person.trello_username) if login]


def messages_to(slack_user_id: str) -> Any:
    """The bot's direct messages to the person. Queued to their user id, they are recorded
    under the DM channel Slack answers with, so they are known by their key too, which ends
    with the user id by convention (`quiet:<project>:<spell>:<user>`)."""
    return or_(
        col(SlackMessage.channel) == slack_user_id,
        col(SlackMessage.key).like(f"%:{slack_user_id}"),
    )


def messages_mentioning(slack_user_id: str) -> Any:
    """Bot messages that mention the person (text or blocks): `<@U…>` or `<@U…|name>`, and
    not a longer id that merely starts with theirs."""
    blocks = cast(col(SlackMessage.blocks), String)
    return or_(
        *(
            column.like(f"%<@{slack_user_id}{end}%")
            for column in (col(SlackMessage.text), blocks)
            for end in (">", "|")
        )
    )


def items_naming(logins: list[str]) -> Any:
    """Mirrored items that may name one of the logins as author or person (a coarse match:
    callers check the item's fields exactly)."""
    people = func.lower(cast(col(MirroredItem.people), String))
    return or_(
        func.lower(col(MirroredItem.author)).in_(logins),
        *(people.like(f"%{like_escaped(login)}%", escape="\\") for login in logins),
    )


def like_escaped(text: str) -> str:
    """`text` with LIKE's wildcards escaped (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
