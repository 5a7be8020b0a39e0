"""Everything the bot holds about one person, and erasing it (issue 10, item 6). Session
first, keyword-only.

A person is their `person` row, and everything that points at it or names them: their Slack
user id in the audit fields of the ledger and in the bot's messages, and their GitHub login
or Trello username in the ledger and in mirrored activity. Tables added later that point at
`person.id` are found through the metadata, so an export stays complete and an erasure never
leaves a row pointing at nobody (see `references`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from makersbot.domain.privacy import FORGOTTEN
from makersbot.domain.projects import Role
from makersbot.store.models import (
    Council,
    Delivery,
    LedgerEntry,
    Link,
    Membership,
    MirroredItem,
    MirrorEvent,
    OutboxGate,
    PendingStart,
    Person,
    Project,
    ProjectUpdate,
    SlackMessage,
)
from makersbot.store.person_refs import (
    items_naming,
    ledger_of,
    like_escaped,
    logins_of,
    messages_mentioning,
    messages_to,
    references,
)

_MENTION = re.compile(r"<@(?P<id>[UW][A-Z0-9]+)(?:\|[^>]*)?>|^(?P<bare>[UW][A-Z0-9]{6,})$")
# Tables the export lays out by hand; any other table pointing at a person is dumped whole.
_DESCRIBED = {"membership", "project", "project_update", "ledger_entry", "link"}
STAND_IN = "a former member"  # replaces a forgotten person's mention in the bot's messages


# Finding the person ----------------------------------------------------------------------


def people_named(session: Session, *, who: str) -> list[Person]:
    """The people `who` names: a mention (`<@U…>`), a user id, or a name as Slack shows it
    (`@Bob Smith` finds bob.smith: compared without case, spaces or dots)."""
    who = who.strip()
    mention = _MENTION.search(who)
    if mention:
        user_id = mention["id"] or mention["bare"]
        found = session.exec(select(Person).where(Person.slack_user_id == user_id)).first()
        return [found] if found is not None else []
    wanted = _bare(who)
    if not wanted:
        return []
    return [p for p in session.exec(select(Person)).all() if _bare(p.display_name) == wanted]


def _bare(name: str) -> str:
    return re.sub(r"[\W_]+", "", name.lower())


def mentioned_user(who: str) -> str | None:
    """The Slack user id in a mention or bare id, if `who` is one."""
    mention = _MENTION.search(who.strip())
    return (mention["id"] or mention["bare"]) if mention else None


# Export ----------------------------------------------------------------------------------


def _row(model: SQLModel) -> dict[str, Any]:
    return {key: _plain(value) for key, value in model.model_dump().items()}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def export_person(session: Session, *, person: Person) -> dict[str, Any]:
    """Everything held about a person, as JSON-ready data."""
    assert person.id is not None
    slugs = dict(session.execute(select(col(Project.id), col(Project.slug))).all())
    council = session.get(Council, person.council_code) if person.council_code else None
    data: dict[str, Any] = {
        "person": {**_row(person), "council_name": council.name if council else None},
        "memberships": [
            {"project": slugs.get(m.project_id), "role": m.role, "joined_at": _plain(m.joined_at)}
            for m in session.exec(select(Membership).where(Membership.person_id == person.id))
        ],
        "projects_started": [
            {"project": p.slug, "name": p.name, "started_at": _plain(p.created_at)}
            for p in session.exec(select(Project).where(Project.created_by_id == person.id))
        ],
        "project_updates": _project_updates(session, person, slugs),
        "ledger_entries": _ledger_entries(session, person, slugs),
        "links_created": [
            {"project": slugs.get(k.project_id), "source": k.source, "target": k.target}
            for k in session.exec(select(Link).where(Link.created_by_id == person.id))
        ],
        "held_back_starts": [
            {"name": s.name, "description": s.description, "at": _plain(s.created_at)}
            for s in session.exec(
                select(PendingStart).where(PendingStart.slack_user_id == person.slack_user_id)
            )
        ],
    }
    data.update(_mirrored(session, person, slugs))
    data["bot_messages"] = _bot_messages(session, person)
    data["other_records"] = _other_records(session, person)
    return data


def _project_updates(
    session: Session, person: Person, slugs: dict[int, str]
) -> list[dict[str, Any]]:
    """Project updates the person made, and those that made them a lead."""
    return [
        {
            "project": slugs.get(u.project_id),
            "kind": u.kind,
            "value": u.value,
            "at": _plain(u.at),
        }
        for u in session.exec(
            select(ProjectUpdate).where(
                or_(
                    col(ProjectUpdate.person_id) == person.id,
                    (col(ProjectUpdate.kind) == "lead")
                    & (col(ProjectUpdate.value) == person.slack_user_id),
                )
            )
        )
    ]


def _ledger_entries(
    session: Session, person: Person, slugs: dict[int, str]
) -> list[dict[str, Any]]:
    """Ledger entries that are the person's, or that they recorded or voided."""
    return [
        {**_row(e), "project": slugs.get(e.project_id) if e.project_id else None}
        for e in session.exec(
            select(LedgerEntry).where(
                or_(
                    ledger_of(person),
                    col(LedgerEntry.recorded_by) == person.slack_user_id,
                    col(LedgerEntry.voided_by) == person.slack_user_id,
                )
            )
        )
    ]


def _bot_messages(session: Session, person: Person) -> list[dict[str, Any]]:
    """The bot's direct messages to the person and its messages that mention them."""
    return [
        {"key": m.key, "channel": m.channel, "text": m.text, "ts": m.ts}
        for m in session.exec(
            select(SlackMessage).where(
                or_(messages_to(person.slack_user_id), messages_mentioning(person.slack_user_id))
            )
        )
    ]


def _other_records(session: Session, person: Person) -> dict[str, list[dict[str, Any]]]:
    """Rows of any other table that points at the person, dumped whole."""
    return {
        table: [
            {key: _plain(value) for key, value in row._mapping.items()}
            for row in session.execute(sa_select(column.table).where(column == person.id))
        ]
        for table, column in references()
        if table not in _DESCRIBED
    }


def _mirrored(session: Session, person: Person, slugs: dict[int, str]) -> dict[str, Any]:
    """Mirrored GitHub and Trello activity under the person's logins."""
    logins = logins_of(person)
    if not logins:
        return {"mirrored_activity": [], "mirrored_items": []}
    events = session.exec(
        select(MirrorEvent).where(func.lower(MirrorEvent.actor).in_(logins))
    ).all()
    items = [
        item
        for item in session.exec(select(MirroredItem).where(items_naming(logins)))
        if (item.author or "").lower() in logins or {p.lower() for p in item.people} & set(logins)
    ]
    return {
        "mirrored_activity": [
            {
                "project": slugs.get(e.project_id),
                "item": e.item_key,
                "action": e.action,
                "summary": e.summary,
                "at": _plain(e.occurred_at),
            }
            for e in events
        ],
        "mirrored_items": [
            {
                "item": i.item_key,
                "title": i.title,
                "url": i.url,
                "author": i.author,
                "people": i.people,
            }
            for i in items
        ],
    }


# Erasure ---------------------------------------------------------------------------------


@dataclass
class Erased:
    """Counts of what `erase_person` changed, and the projects it touched."""

    memberships: int = 0
    ledger_entries: int = 0
    messages_edited: int = 0
    messages_deleted: int = 0
    other_rows: int = 0
    project_ids: tuple[int, ...] = ()


def sole_lead_of(session: Session, *, person: Person) -> list[Project]:
    """Projects whose only lead is this person."""
    led = session.exec(
        select(Project)
        .join(Membership, col(Membership.project_id) == Project.id)
        .where(Membership.person_id == person.id, Membership.role == Role.LEAD.value)
    ).all()
    alone = []
    for project in led:
        leads = session.exec(
            select(func.count()).where(
                Membership.project_id == project.id, Membership.role == Role.LEAD.value
            )
        ).one()
        if int(leads) == 1:
            alone.append(project)
    return alone


def count_mine(session: Session, *, person: Person) -> tuple[int, int]:
    """(memberships, ledger entries) of a person: what a confirmation shows."""
    memberships = session.exec(
        select(func.count()).select_from(Membership).where(Membership.person_id == person.id)
    ).one()
    entries = session.exec(
        select(func.count()).select_from(LedgerEntry).where(ledger_of(person))
    ).one()
    return int(memberships), int(entries)


def erase_person(session: Session, *, person: Person) -> Erased:
    """Erase a person: their row goes; what others need stays, without them.

    Ledger entries keep counting for the council (given it if it had none) but lose the
    person, their logins and their Slack id; the bot's messages that mention them are edited
    to say "a former member" (the outbox sends the edits); its direct messages to them and
    their held-back starts are deleted; memberships and anything else pointing at them go.
    """
    assert person.id is not None
    user = person.slack_user_id
    erased = Erased()
    erased.project_ids = tuple(
        session.exec(select(Membership.project_id).where(Membership.person_id == person.id))
    )
    erased.ledger_entries = _detach_ledger(session, person)
    session.execute(
        update(ProjectUpdate)
        .where(col(ProjectUpdate.kind) == "lead", col(ProjectUpdate.value) == user)
        .values(value=FORGOTTEN)
    )
    _forget_logins(session, person)
    erased.messages_deleted = _count(session.execute(delete(SlackMessage).where(messages_to(user))))
    # The outbox paces direct messages by the user's id: that gate goes with them.
    session.execute(delete(OutboxGate).where(col(OutboxGate.name) == user))
    erased.messages_edited = _edit_mentions(session, user)
    session.execute(delete(PendingStart).where(col(PendingStart.slack_user_id) == user))
    for table, column in references():
        table_obj = column.table
        if column.nullable:
            changed = session.execute(
                update(table_obj).where(column == person.id).values({column.name: None})
            )
        else:
            changed = session.execute(delete(table_obj).where(column == person.id))
        if table == "membership":
            erased.memberships = _count(changed)
        elif table not in _DESCRIBED:
            erased.other_rows += _count(changed)
    session.execute(delete(Person).where(col(Person.id) == person.id))
    return erased


def _count(result: Any) -> int:
    return int(result.rowcount or 0)


def _detach_ledger(session: Session, person: Person) -> int:
    mine = ledger_of(person)
    detached = _count(
        session.execute(
            update(LedgerEntry)
            .where(mine)
            .values(
                council_code=func.coalesce(col(LedgerEntry.council_code), person.council_code),
                person_id=None,
                github_login=None,
                trello_username=None,
            )
        )
    )
    for field in (LedgerEntry.recorded_by, LedgerEntry.voided_by):
        session.execute(
            update(LedgerEntry).where(col(field) == person.slack_user_id).values({field: FORGOTTEN})
        )
    return detached


def _forget_logins(session: Session, person: Person) -> None:
    """Mirrored activity and items no longer name the person's logins; processed webhook
    deliveries that carry them are dropped early (they are only kept for a while anyway)."""
    logins = logins_of(person)
    if not logins:
        return
    session.execute(
        update(MirrorEvent).where(func.lower(MirrorEvent.actor).in_(logins)).values(actor=None)
    )
    for item in session.exec(select(MirroredItem).where(items_naming(logins))).all():
        if (item.author or "").lower() in logins:
            item.author = None
        item.people = [p for p in item.people if p.lower() not in logins]
        session.add(item)
    body = func.lower(col(Delivery.body))
    session.execute(
        delete(Delivery).where(
            col(Delivery.processed_at).is_not(None),
            or_(*(body.like(f'%"{like_escaped(login)}"%', escape="\\") for login in logins)),
        )
    )


def _edit_mentions(session: Session, slack_user_id: str) -> int:
    """Replace the person's mentions in the bot's messages; bump each so Slack is edited."""
    mention = re.compile(rf"<@{re.escape(slack_user_id)}(?:\|[^>]*)?>")
    edited = 0
    for message in session.exec(
        select(SlackMessage).where(messages_mentioning(slack_user_id))
    ).all():
        message.text = mention.sub(STAND_IN, message.text)
        message.blocks = _replace(message.blocks, mention)
        message.version += 1
        session.add(message)
        edited += 1
    return edited


def _replace(node: Any, mention: re.Pattern[str]) -> Any:
    if isinstance(node, str):
        return mention.sub(STAND_IN, node)
    if isinstance(node, list):
        return [_replace(item, mention) for item in node]
    if isinstance(node, dict):
        return {key: _replace(value, mention) for key, value in node.items()}
    return node
