"""The outbox tables: the desired state of each bot message, the senders' fenced claims on
them, and the per-channel gates every sender process shares.

Session first, keyword-only. The sending rules (what to call in Slack, what each answer
means) are in `makersbot/outbox.py`; here are only the rows they read and write. Every
write that ends a claim names the claim's token and does nothing without it.

For /healthz: `outbox_gates.parked_channels(session)` lists the channels whose messages wait because
Slack refuses the channel for good (the bot was removed, the channel archived or deleted);
`oldest_pending(session)` is when the longest-waiting change outside them was published.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    update,
)
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from makersbot.store.models import OutboxGate, SlackMessage
from makersbot.store.outbox_gates import unsent
from makersbot.store.rows import insert_ignore


@dataclass
class ClaimedMessage:
    """A message a sender holds under `token` until `until` (moved on when the sender
    extends its lease)."""

    id: int
    token: str
    until: datetime
    key: str
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None
    pin: bool
    ts: str | None
    version: int
    thread_ts: str | None
    created_at: datetime
    recover: bool = False  # an earlier claim ended unrecorded: the post may be in Slack


@dataclass(frozen=True)
class Failure:
    """A failed attempt as recorded: enough for the sender to decide and to log."""

    key: str
    channel: str
    attempts: int


def message(session: Session, *, key: str) -> SlackMessage | None:
    """The message stored under `key`, if any."""
    return session.exec(select(SlackMessage).where(SlackMessage.key == key)).first()


@dataclass(frozen=True)
class Desired:
    """What one message should show: the content `set_messages` stores under `key`."""

    key: str
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None
    pin: bool = False
    thread_key: str | None = None


def set_message(
    session: Session,
    *,
    key: str,
    channel: str,
    text: str,
    blocks: list[dict[str, Any]] | None,
    pin: bool,
    thread_key: str | None,
    now: datetime,
) -> bool:
    """Store the desired content of message `key`; False when it is already exactly that."""
    desired = Desired(key, channel, text, blocks, pin, thread_key)
    return bool(set_messages(session, messages=[desired], now=now))


# Keys per IN (...) list: well under SQLite's limit on bound parameters.
_CHUNK = 500


def set_messages(session: Session, *, messages: Sequence[Desired], now: datetime) -> int:
    """Store the desired content of several messages: one query reads those already
    stored, one flush writes the changes. Returns how many changed (a message already
    exactly so costs no call to Slack). A key given twice keeps its last content."""
    keys = list(dict.fromkeys(m.key for m in messages))
    stored: dict[str, SlackMessage] = {}
    for start in range(0, len(keys), _CHUNK):
        query = select(SlackMessage).where(col(SlackMessage.key).in_(keys[start : start + _CHUNK]))
        stored.update((row.key, row) for row in session.exec(query))
    changed = 0
    for desired in messages:
        row = stored.get(desired.key)
        if row is None:
            stored[desired.key] = row = SlackMessage(
                key=desired.key,
                channel=desired.channel,
                thread_key=desired.thread_key,
                text=desired.text,
                blocks=desired.blocks,
                pin=desired.pin,
                created_at=now,
                updated_at=now,
                next_attempt_at=now,
            )
        elif row.text == desired.text and row.blocks == desired.blocks:
            continue
        elif row.id is None:  # added above, not yet written: one INSERT with the last content
            row.text, row.blocks = desired.text, desired.blocks
        else:
            row.text = desired.text
            row.blocks = desired.blocks
            row.version += 1
            row.updated_at = now
            row.next_attempt_at = min(row.next_attempt_at, now)
        session.add(row)
        changed += 1
    if changed:
        session.flush()
    return changed


def depth(session: Session) -> int:
    """How many messages wait to be sent (for /healthz)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(SlackMessage)
            .where(col(SlackMessage.version) > col(SlackMessage.sent_version))
        ).one()
    )


_PARENT = aliased(SlackMessage)


# The sender's reads run several times a second in every process, so each is built once with
# its moment as a bound parameter: SQLAlchemy then reuses the statement's cache key instead
# of walking a new expression tree for every call (most of an idle round's CPU).
_NOW: BindParameter[datetime] = bindparam("now")  # each comparison types it as its column


def _sendable(*, updates_paused: bool) -> ColumnElement[bool]:
    """Dirty, due at `:now`, held by no live claim, and (a reply) its parent already has a ts.

    A row that must wait is simply not selected, so it never stands in front of others.
    """
    parent = _PARENT
    conditions = [
        unsent(),
        col(SlackMessage.next_attempt_at) <= _NOW,
        or_(col(SlackMessage.claimed_until).is_(None), col(SlackMessage.claimed_until) < _NOW),
        or_(
            col(SlackMessage.thread_key).is_(None),
            exists().where(
                col(parent.key) == col(SlackMessage.thread_key), col(parent.ts).is_not(None)
            ),
        ),
    ]
    if updates_paused:  # chat.update is rate-limited workspace-wide: only first posts
        conditions.append(col(SlackMessage.ts).is_(None))
    return and_(*conditions)


def gate_closed(session: Session, *, name: str, now: datetime) -> bool:
    """True while the gate `name` (a channel, or `method:…`) holds calls back."""
    return session.exec(_gate_closed_query(), params={"name": name, "now": now}).first() is not None


@functools.cache
def _gate_closed_query() -> SelectOfScalar[str]:
    return select(OutboxGate.name).where(
        col(OutboxGate.name) == bindparam("name"),
        or_(col(OutboxGate.parked_at).is_not(None), col(OutboxGate.next_call_at) > _NOW),
    )


def ready_channels(
    session: Session, *, now: datetime, limit: int, updates_paused: bool = False
) -> list[str]:
    """Channels with a sendable message whose gate is open, the longest-waiting first.

    One entry per channel however deep its queue, so every channel gets its turn.
    """
    return list(session.exec(_ready_query(updates_paused, limit), params={"now": now}).all())


@functools.cache
def _ready_query(updates_paused: bool, limit: int) -> SelectOfScalar[str]:
    waited = case((col(OutboxGate.name).is_(None), 0), else_=1)
    return (
        select(SlackMessage.channel)
        .outerjoin(OutboxGate, col(OutboxGate.name) == col(SlackMessage.channel))
        .where(
            _sendable(updates_paused=updates_paused),
            or_(
                col(OutboxGate.name).is_(None),
                and_(col(OutboxGate.parked_at).is_(None), col(OutboxGate.next_call_at) <= _NOW),
            ),
        )
        .group_by(col(SlackMessage.channel), col(OutboxGate.name), col(OutboxGate.next_call_at))
        .order_by(waited, col(OutboxGate.next_call_at), col(SlackMessage.channel))
        .limit(limit)
    )


def claim_next(
    session: Session,
    *,
    channel: str,
    now: datetime,
    lease: timedelta,
    pace: timedelta,
    token: str,
    updates_paused: bool = False,
    skip_locked: bool = False,
) -> ClaimedMessage | None:
    """Take the channel's turn and lease its oldest sendable message under `token`.

    None when the channel is paced, parked or has nothing sendable. The turn is taken by
    moving the gate from <= now to now + pace in one statement, so across every process a
    channel gets at most one claim per `pace`. `skip_locked` (PostgreSQL): rows another
    sender is claiming are skipped, never waited for.
    """
    row = _oldest_sendable(
        session, channel=channel, now=now, updates_paused=updates_paused, skip_locked=skip_locked
    )
    if row is None or row.id is None:
        return None
    if not _take_turn(session, channel=channel, now=now, pace=pace):
        return None
    thread_ts = None
    if row.thread_key:
        parent = message(session, key=row.thread_key)
        thread_ts = parent.ts if parent is not None else None
    # An earlier claim that ended without a ts may have posted: look before posting.
    recover = row.claimed_until is not None and row.ts is None
    row.claimed_until, row.claim_token = now + lease, token
    session.add(row)
    return ClaimedMessage(
        id=row.id,
        token=token,
        until=now + lease,
        key=row.key,
        channel=row.channel,
        text=row.text,
        blocks=row.blocks,
        pin=row.pin,
        ts=row.ts,
        version=row.version,
        thread_ts=thread_ts,
        created_at=row.created_at,
        recover=recover,
    )


def _oldest_sendable(
    session: Session, *, channel: str, now: datetime, updates_paused: bool, skip_locked: bool
) -> SlackMessage | None:
    """The channel's message that has waited longest among those sendable now."""
    query = _oldest_query(updates_paused, skip_locked)
    return session.exec(query, params={"now": now, "channel": channel}).first()


@functools.cache
def _oldest_query(updates_paused: bool, skip_locked: bool) -> SelectOfScalar[SlackMessage]:
    stmt = (
        select(SlackMessage)
        .where(
            col(SlackMessage.channel) == bindparam("channel"),
            _sendable(updates_paused=updates_paused),
        )
        .order_by(col(SlackMessage.updated_at), col(SlackMessage.id))
        .limit(1)
    )
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True, of=SlackMessage)
    return stmt


def _take_turn(session: Session, *, channel: str, now: datetime, pace: timedelta) -> bool:
    """Move the channel's gate from <= now to now + pace in one statement; False when it is
    paced or parked (another sender had the turn, or Slack refused the channel)."""
    insert_ignore(session, OutboxGate, {"name": channel, "next_call_at": now}, conflict=["name"])
    turn = session.execute(
        update(OutboxGate)
        .where(
            col(OutboxGate.name) == channel,
            col(OutboxGate.parked_at).is_(None),
            col(OutboxGate.next_call_at) <= now,
        )
        .values(next_call_at=now + pace)
        .returning(col(OutboxGate.name))
    ).first()
    return turn is not None


def _held(row_id: int, token: str) -> ColumnElement[bool]:
    return and_(col(SlackMessage.id) == row_id, col(SlackMessage.claim_token) == token)


def extend_claim(
    session: Session, *, row_id: int, token: str, now: datetime, until: datetime
) -> bool:
    """Move a live claim's lease to `until`; False when `token` no longer holds the row."""
    done = session.execute(
        update(SlackMessage)
        .where(_held(row_id, token), col(SlackMessage.claimed_until) > now)
        .values(claimed_until=until)
        .returning(col(SlackMessage.id))
    ).first()
    return done is not None


def record_sent(
    session: Session, *, row_id: int, token: str, ts: str, channel: str, version: int
) -> bool:
    """Slack shows `version` as `ts` in `channel`; False (nothing written) without the claim."""
    row = session.exec(select(SlackMessage).where(_held(row_id, token))).first()
    if row is None:
        return False
    row.ts, row.channel = ts, channel
    row.sent_version = max(row.sent_version, version)
    row.attempts, row.last_error = 0, None
    row.claimed_until, row.claim_token = None, None
    session.add(row)
    return True


def release(
    session: Session,
    *,
    row_id: int,
    token: str,
    error: str,
    retry_at: datetime,
    maybe_posted: bool,
    now: datetime,
    count_attempt: bool = True,
) -> Failure | None:
    """End a claim that did not succeed; the message comes due again at `retry_at`.

    `maybe_posted` leaves an expired lease instead of none, so the next claim looks for a
    post that may have reached Slack. None (nothing written) when `token` lost the row.
    """
    row = session.exec(select(SlackMessage).where(_held(row_id, token))).first()
    if row is None:
        return None
    row.claimed_until = now - timedelta(seconds=1) if maybe_posted else None
    row.claim_token = None
    row.attempts += 1 if count_attempt else 0
    row.last_error = error[:500]
    row.next_attempt_at = retry_at
    session.add(row)
    return Failure(key=row.key, channel=row.channel, attempts=row.attempts)


def give_up(
    session: Session, *, row_id: int, token: str, error: str, now: datetime
) -> Failure | None:
    """Stop trying the current version (it counts as sent). Replies waiting for a parent
    that was never posted are given up with it, so none waits for ever."""
    failure = release(
        session,
        row_id=row_id,
        token=token,
        error=error,
        retry_at=now,
        maybe_posted=False,
        now=now,
    )
    row = session.get(SlackMessage, row_id)
    if failure is None or row is None:
        return None
    row.sent_version = row.version
    session.add(row)
    if row.ts is None:
        session.execute(
            update(SlackMessage)
            .where(
                col(SlackMessage.thread_key) == row.key, col(SlackMessage.ts).is_(None), unsent()
            )
            .values(
                sent_version=SlackMessage.version,
                last_error=f"parent not posted: {error}"[:500],
            )
        )
    return failure


def retry_at(session: Session, *, row_id: int, when: datetime) -> None:
    """The next attempt at this message waits until `when`."""
    row = session.get(SlackMessage, row_id)
    if row is not None:
        row.next_attempt_at = when
        session.add(row)


def next_opening(session: Session, *, now: datetime, update_gate: str) -> datetime | None:
    """The soonest moment after `now` a waiting message may become sendable (None: nothing
    waits for a time): a paced channel opening with messages waiting, the end of a backoff
    or a Retry-After, or the gate `update_gate` (chat.update's) opening while edits wait.

    A sender sleeps until then instead of polling: a message due in 0.3 s is sent in 0.3 s.
    """
    times = session.exec(_next_opening_query(), params={"now": now, "gate": update_gate}).one()
    return min((t for t in times if t is not None), default=None)


@functools.cache
def _next_opening_query() -> Select[datetime | None, datetime | None, datetime | None]:
    """The three candidates of `next_opening` in one round trip."""
    open_channel = or_(col(OutboxGate.parked_at).is_(None), col(OutboxGate.name).is_(None))
    waiting = exists().where(
        col(SlackMessage.channel) == col(OutboxGate.name),
        unsent(),
        col(SlackMessage.next_attempt_at) <= col(OutboxGate.next_call_at),
    )
    gate = select(func.min(OutboxGate.next_call_at)).where(
        col(OutboxGate.parked_at).is_(None), col(OutboxGate.next_call_at) > _NOW, waiting
    )
    backoff = (
        select(func.min(SlackMessage.next_attempt_at))
        .outerjoin(OutboxGate, col(OutboxGate.name) == col(SlackMessage.channel))
        .where(unsent(), col(SlackMessage.next_attempt_at) > _NOW, open_channel)
    )
    edits = exists().where(unsent(), col(SlackMessage.ts).is_not(None))
    updates = select(OutboxGate.next_call_at).where(
        col(OutboxGate.name) == bindparam("gate"), col(OutboxGate.next_call_at) > _NOW, edits
    )
    return select(gate.scalar_subquery(), backoff.scalar_subquery(), updates.scalar_subquery())


def oldest_pending(session: Session, *, now: datetime | None = None) -> datetime | None:
    """When the longest-waiting unsent change was published, parked channels left out; with
    `now`, only messages due by then (one waiting out a `Retry-After` or back-off is not late).

    For /healthz: a late outbox shows here, a parked channel in `parked_channels`.
    """
    parked = select(OutboxGate.name).where(col(OutboxGate.parked_at).is_not(None))
    due = [col(SlackMessage.next_attempt_at) <= now] if now is not None else []
    return session.exec(
        select(func.min(SlackMessage.updated_at)).where(
            unsent(), col(SlackMessage.channel).not_in(parked), *due
        )
    ).one()
