"""Digest runs: the claim of each digest message, its chart, and when a scheduled job last ran.

A `DigestClaim(channel, period, seq)` row is unique: whoever inserts it posts that message,
so two schedulers, a restart or `/makers digest now` never post the same digest twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from makersbot.domain.digest import HUB
from makersbot.store.digest import columns
from makersbot.store.models import DigestClaim, SchedulerRun, SlackMessage
from makersbot.store.rows import insert_ignore

FORCED_ATTEMPTS = 10  # sequence numbers a forced post tries when it races another


@dataclass(frozen=True)
class PendingChart:
    """A hub digest whose message is in Slack and whose chart is not uploaded yet."""

    claim_id: int
    period: str
    claimed_at: datetime
    channel: str
    ts: str


def message_key(channel: str, period: str, seq: int) -> str:
    """The outbox key of a channel's digest message for a period."""
    return f"digest:{channel}:{period}:{seq}"


def is_claimed(session: Session, *, period: str, kind: str) -> bool:
    """True when a weekly digest (seq 0) of this kind is claimed for the period."""
    found = session.exec(
        select(col(DigestClaim.id)).where(
            col(DigestClaim.period) == period,
            col(DigestClaim.seq) == 0,
            col(DigestClaim.kind) == kind,
        )
    ).first()
    return found is not None


def claim_digest(
    session: Session, *, channel: str, period: str, kind: str, force: bool, at: datetime
) -> str | None:
    """Claim the channel's digest for the period; the message key, or None when taken.

    Forced, it takes the next free sequence number instead of giving up.
    """
    seq = 0
    if force:
        top = session.execute(
            select(func.max(col(DigestClaim.seq))).where(
                col(DigestClaim.channel) == channel, col(DigestClaim.period) == period
            )
        ).scalar()
        seq = 0 if top is None else int(top) + 1
    for _ in range(FORCED_ATTEMPTS):
        key = message_key(channel, period, seq)
        values = {
            "channel": channel,
            "period": period,
            "seq": seq,
            "kind": kind,
            "message_key": key,
            "claimed_at": at,
        }
        if insert_ignore(session, DigestClaim, values, conflict=["channel", "period", "seq"]):
            return key
        if not force:
            return None
        seq += 1  # a forced post raced another: take the next number
    return None


def latest_claim(session: Session, *, channel: str, period: str) -> str | None:
    """The message key of the channel's latest digest claim for the period."""
    return session.exec(
        select(col(DigestClaim.message_key))
        .where(col(DigestClaim.channel) == channel, col(DigestClaim.period) == period)
        .order_by(col(DigestClaim.seq).desc())
    ).first()


def posted_message(session: Session, *, key: str) -> tuple[str, str] | None:
    """(channel, ts) of an outbox message once Slack has it; None before."""
    row = session.exec(select(SlackMessage).where(col(SlackMessage.key) == key)).first()
    if row is None or row.ts is None:
        return None
    return row.channel, row.ts


def charts_to_upload(session: Session, *, since: datetime) -> list[PendingChart]:
    """Hub digests claimed since `since`, posted, whose chart is not uploaded yet."""
    rows = session.execute(
        columns(
            col(DigestClaim.id),
            col(DigestClaim.period),
            col(DigestClaim.claimed_at),
            col(SlackMessage.channel),
            col(SlackMessage.ts),
        )
        .join(SlackMessage, col(SlackMessage.key) == col(DigestClaim.message_key))
        .where(
            col(DigestClaim.kind) == HUB,
            col(DigestClaim.chart_uploaded_at).is_(None),
            col(DigestClaim.claimed_at) >= since,
            col(SlackMessage.ts).is_not(None),
        )
    ).all()
    return [PendingChart(*row) for row in rows]


def mark_chart(session: Session, *, claim_id: int, at: datetime | None) -> bool:
    """Set (or clear) a claim's chart_uploaded_at; True when this call changed it.

    Setting only succeeds on an unmarked claim, so two processes never both upload.
    """
    stmt = update(DigestClaim).where(col(DigestClaim.id) == claim_id)
    if at is not None:
        stmt = stmt.where(col(DigestClaim.chart_uploaded_at).is_(None))
    done = session.execute(
        stmt.values(chart_uploaded_at=at).returning(DigestClaim.__table__.c.id)  # type: ignore[attr-defined]
    ).first()
    return done is not None


def record_scheduler_run(session: Session, *, job: str, at: datetime) -> None:
    """Upsert `SchedulerRun(job)`, which /healthz reports as `last_scheduler_run`."""
    if not insert_ignore(session, SchedulerRun, {"job": job, "ran_at": at}, conflict=["job"]):
        row = session.get(SchedulerRun, job)
        if row is not None:
            row.ran_at = at
            session.add(row)


# A SchedulerRun row that is not a job: when the first scheduler started on this database.
INSTALLED = "installed"


def record_installation(session: Session, *, now: datetime) -> datetime:
    """When the bot was installed: the first scheduler start on this database, kept in a
    `SchedulerRun(INSTALLED)` row. A database that already has runs from before this row
    existed was installed no later than its earliest run."""
    row = session.get(SchedulerRun, INSTALLED)
    if row is not None:
        return row.ran_at
    earliest = session.exec(
        select(func.min(col(SchedulerRun.ran_at))).where(col(SchedulerRun.job) != INSTALLED)
    ).one()
    installed = min(now, earliest) if earliest is not None else now
    insert_ignore(session, SchedulerRun, {"job": INSTALLED, "ran_at": installed}, conflict=["job"])
    return installed


def installed_at(session: Session) -> datetime | None:
    """When the bot was installed on this database, if a scheduler has started."""
    return last_scheduler_run(session, job=INSTALLED)


def last_scheduler_run(session: Session, *, job: str) -> datetime | None:
    """When `job` last completed, if ever."""
    row = session.get(SchedulerRun, job)
    return row.ran_at if row is not None else None
