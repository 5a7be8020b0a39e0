"""The outbox table: the desired state of each bot message, and the sender's claims on it.

Session first, keyword-only. The sending logic (pacing, retries, what to call in Slack) is
in `makersbot/outbox.py`; here are only the rows it reads and writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from makersbot.store.models import SlackMessage


@dataclass(frozen=True)
class ClaimedMessage:
    """What the sender read from a message it has claimed."""

    key: str
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None
    pin: bool
    ts: str | None
    version: int
    thread_ts: str | None
    created_at: datetime
    recover: bool = False  # an earlier claim expired: it may have posted without recording


@dataclass(frozen=True)
class Failure:
    """A failed attempt as recorded: enough for the sender to decide and to log."""

    key: str
    channel: str
    attempts: int


def message(session: Session, *, key: str) -> SlackMessage | None:
    """The message stored under `key`, if any."""
    return session.exec(select(SlackMessage).where(SlackMessage.key == key)).first()


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
    row = message(session, key=key)
    if row is None:
        row = SlackMessage(
            key=key,
            channel=channel,
            thread_key=thread_key,
            text=text,
            blocks=blocks,
            pin=pin,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
        )
    else:
        if row.text == text and row.blocks == blocks:
            return False
        row.text = text
        row.blocks = blocks
        row.version += 1
        row.updated_at = now
        row.next_attempt_at = min(row.next_attempt_at, now)
    session.add(row)
    session.flush()
    return True


def depth(session: Session) -> int:
    """How many messages wait to be sent (for /healthz)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(SlackMessage)
            .where(col(SlackMessage.version) > col(SlackMessage.sent_version))
        ).one()
    )


def due_messages(session: Session, *, now: datetime, limit: int) -> list[tuple[int, str]]:
    """(id, channel) of messages due now, oldest change first."""
    rows = session.exec(
        select(SlackMessage.id, SlackMessage.channel)
        .where(
            col(SlackMessage.version) > col(SlackMessage.sent_version),
            col(SlackMessage.next_attempt_at) <= now,
        )
        .order_by(col(SlackMessage.updated_at), col(SlackMessage.id))
        .limit(limit)
    ).all()
    return [(int(row_id), channel) for row_id, channel in rows if row_id is not None]


def claim_message(
    session: Session, *, row_id: int, now: datetime, lease: timedelta, skip_locked: bool
) -> ClaimedMessage | None:
    """Lease one due message to this sender until `now + lease`; None when it is not due,
    already leased, or its thread's parent is not posted yet (then it comes due shortly).

    `skip_locked` (PostgreSQL): a row another sender is claiming is skipped, never waited for.
    """
    stmt = select(SlackMessage).where(SlackMessage.id == row_id)
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    row = session.exec(stmt).first()
    if row is None or row.version <= row.sent_version or row.next_attempt_at > now:
        return None
    if row.claimed_until is not None and row.claimed_until > now:
        return None
    # A lease that ran out means a sender died mid-call: Slack may hold the post.
    recover = row.claimed_until is not None and row.ts is None
    thread_ts: str | None = None
    if row.thread_key:
        parent = message(session, key=row.thread_key)
        if parent is None or parent.ts is None:
            # The parent is not posted yet: try again shortly, after it.
            row.next_attempt_at = now + timedelta(seconds=1)
            session.add(row)
            return None
        thread_ts = parent.ts
    row.claimed_until = now + lease
    session.add(row)
    return ClaimedMessage(
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


def record_sent(session: Session, *, row_id: int, ts: str, channel: str, version: int) -> None:
    """Slack shows `version` of the message as `ts` in `channel`: the claim is done."""
    row = session.get(SlackMessage, row_id)
    if row is not None:
        row.ts, row.channel = ts, channel
        row.sent_version = max(row.sent_version, version)
        row.attempts, row.last_error, row.claimed_until = 0, None, None
        session.add(row)


def record_failure(
    session: Session, *, row_id: int, error: str, claimed_until: datetime | None
) -> Failure | None:
    """Count a failed attempt and end the claim. An expired `claimed_until` (rather than
    None) makes the next attempt look for a post that may have reached Slack."""
    row = session.get(SlackMessage, row_id)
    if row is None:
        return None
    row.claimed_until = claimed_until
    row.attempts += 1
    row.last_error = error[:500]
    session.add(row)
    return Failure(key=row.key, channel=row.channel, attempts=row.attempts)


def give_up(session: Session, *, row_id: int) -> None:
    """Stop trying to send the current version: it counts as sent."""
    row = session.get(SlackMessage, row_id)
    if row is not None:
        row.sent_version = row.version
        session.add(row)


def retry_at(session: Session, *, row_id: int, when: datetime) -> None:
    """The next attempt at this message waits until `when`."""
    row = session.get(SlackMessage, row_id)
    if row is not None:
        row.next_attempt_at = when
        session.add(row)


def release_claims(session: Session, *, now: datetime) -> int:
    """Expire every lease, as if its sender had died: for a single process starting up."""
    result = session.execute(
        update(SlackMessage)
        .where(col(SlackMessage.claimed_until).is_not(None))
        .values(claimed_until=now - timedelta(seconds=1))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
