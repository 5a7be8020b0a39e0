"""The outbox's gates: a channel's (or a method's) next allowed call, and parked channels.

Every sender process shares these rows, so pacing and parking hold across processes: a gate
is taken with one conditional UPDATE, never decided in a process's memory. Session first,
keyword-only. For /healthz: `parked_channels(session)`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, func, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from makersbot.store.models import OutboxGate, SlackMessage
from makersbot.store.rows import insert_ignore


def unsent() -> ColumnElement[bool]:
    """A message whose latest version is not in Slack yet."""
    return col(SlackMessage.version) > col(SlackMessage.sent_version)


@dataclass(frozen=True)
class ParkedChannel:
    """A channel Slack refuses for good; its messages wait (for /healthz)."""

    channel: str
    reason: str
    since: datetime
    waiting: int


def hold_gate(session: Session, *, name: str, until: datetime) -> None:
    """No call through gate `name` (a channel, or `method:…`) before `until` (a 429)."""
    insert_ignore(session, OutboxGate, {"name": name, "next_call_at": until}, conflict=["name"])
    session.execute(
        update(OutboxGate)
        .where(col(OutboxGate.name) == name, col(OutboxGate.next_call_at) < until)
        .values(next_call_at=until)
    )


def park(session: Session, *, channel: str, reason: str, now: datetime, probe_at: datetime) -> bool:
    """Hold every message of `channel` until it is unparked; True when newly parked.

    While parked, `next_call_at` is when a sender may next check whether the channel
    works again (`claim_probe`).
    """
    insert_ignore(session, OutboxGate, {"name": channel, "next_call_at": now}, conflict=["name"])
    done = session.execute(
        update(OutboxGate)
        .where(col(OutboxGate.name) == channel, col(OutboxGate.parked_at).is_(None))
        .values(parked_at=now, parked_reason=reason[:100], next_call_at=probe_at)
        .returning(col(OutboxGate.name))
    ).first()
    return done is not None


def unpark(session: Session, *, channel: str, now: datetime) -> bool:
    """Let `channel`'s messages go again; True when it was parked."""
    done = session.execute(
        update(OutboxGate)
        .where(col(OutboxGate.name) == channel, col(OutboxGate.parked_at).is_not(None))
        .values(parked_at=None, parked_reason=None, next_call_at=now)
        .returning(col(OutboxGate.name))
    ).first()
    return done is not None


def probes_due(session: Session, *, now: datetime, limit: int = 20) -> list[tuple[str, str]]:
    """(channel, reason) of parked channels due a check that they work again."""
    rows = session.exec(_probes_due_query(limit), params={"now": now}).all()
    return [(name, reason or "") for name, reason in rows]


@functools.cache
def _probes_due_query(limit: int) -> Select[str, str | None]:
    # Asked before every round of every sender: built once (see store/outbox.py's _NOW).
    return (
        select(OutboxGate.name, OutboxGate.parked_reason)
        .where(
            col(OutboxGate.parked_at).is_not(None),
            col(OutboxGate.next_call_at) <= bindparam("now"),
        )
        .order_by(col(OutboxGate.next_call_at))
        .limit(limit)
    )


def claim_probe(session: Session, *, channel: str, now: datetime, next_probe: datetime) -> bool:
    """Take the turn to check a parked channel (one process checks, the next in a while)."""
    done = session.execute(
        update(OutboxGate)
        .where(
            col(OutboxGate.name) == channel,
            col(OutboxGate.parked_at).is_not(None),
            col(OutboxGate.next_call_at) <= now,
        )
        .values(next_call_at=next_probe)
        .returning(col(OutboxGate.name))
    ).first()
    return done is not None


def parked_channels(session: Session) -> list[ParkedChannel]:
    """Channels Slack refuses for good, with why, since when and how many messages wait.

    For /healthz: any entry means some channel shows stale messages until the bot is
    back in it (the sender checks parked channels every minute and resumes by itself).
    """
    waiting = (
        select(func.count())
        .select_from(SlackMessage)
        .where(col(SlackMessage.channel) == col(OutboxGate.name), unsent())
        .scalar_subquery()
    )
    rows = session.exec(
        select(OutboxGate.name, OutboxGate.parked_reason, OutboxGate.parked_at, waiting)
        .where(col(OutboxGate.parked_at).is_not(None))
        .order_by(col(OutboxGate.parked_at))
    ).all()
    return [
        ParkedChannel(channel=name, reason=reason or "", since=since, waiting=int(count))
        for name, reason, since, count in rows
        if since is not None
    ]
