"""Database tables (sqlmodel). Every datetime is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from makersbot.domain.projects import LedgerKind, Phase, Role  # noqa: F401  (column types)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Council(SQLModel, table=True):
    """A council that has appeared in the bot; its details come from the UK register."""

    __tablename__ = "council"

    code: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=200)
    short_name: str = Field(max_length=200)
    nation: str = Field(default="", max_length=40)
    created_at: datetime = Field(default_factory=utcnow)


class Person(SQLModel, table=True):
    """One human across Slack, GitHub and Trello."""

    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    slack_user_id: str = Field(unique=True, max_length=32)
    display_name: str = Field(default="", max_length=200)
    council_code: str | None = Field(default=None, foreign_key="council.code", max_length=16)
    github_login: str | None = Field(default=None, unique=True, max_length=100)
    trello_username: str | None = Field(default=None, unique=True, max_length=100)
    # When the login was proven (OAuth device flow / Trello authorize); None = a typed claim.
    github_verified_at: datetime | None = None
    trello_verified_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # Council verification: None = a claim. `council_verified_by` says how ("email:<domain>",
    # "vouch:<Slack id>", "admin:<Slack id>"); `email_domain` is the listed council domain of
    # the person's confirmed Slack e-mail (kept only when it names a council).
    council_verified_at: datetime | None = None
    council_verified_by: str | None = Field(default=None, max_length=120)
    email_domain: str | None = Field(default=None, max_length=100)
    # How a login was verified: "github" / "trello" (proven by the person), "admin:<Slack id>".
    github_verified_by: str | None = Field(default=None, max_length=60)
    trello_verified_by: str | None = Field(default=None, max_length=60)


class Project(SQLModel, table=True):
    """A cross-council project with its own channel."""

    __tablename__ = "project"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, max_length=60)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    phase: str = Field(default=Phase.IDEA.value, max_length=20)
    lead_council_code: str | None = Field(default=None, foreign_key="council.code", max_length=16)
    channel_id: str | None = Field(default=None, index=True, max_length=32)
    channel_name: str | None = Field(default=None, max_length=80)
    status_text: str = Field(default="", max_length=2000)
    status_at: datetime | None = None
    phase_changed_at: datetime | None = None
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    revision: int = 0  # bumped by every change a card shows: cached cards compare it
    # "public" or "private": a private project appears nowhere public (issue 10, item 3).
    visibility: str = Field(default="public", max_length=10)


class Membership(SQLModel, table=True):
    """A person's part in a project."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("project_id", "person_id", name="uq_membership"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: str = Field(default=Role.MAKER.value, max_length=20)
    joined_at: datetime = Field(default_factory=utcnow)


class ProjectUpdate(SQLModel, table=True):
    """A phase change or status line reported for a project, kept for the digest."""

    __tablename__ = "project_update"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    kind: str = Field(max_length=20)  # "phase" or "status"
    value: str = Field(max_length=2000)
    person_id: int | None = Field(default=None, foreign_key="person.id")
    at: datetime = Field(default_factory=utcnow, index=True)


class LedgerEntry(SQLModel, table=True):
    """One act of giving or taking. `council_code` stays empty until the actor is known."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        # The digest's week (migration 0013): every column its period queries read, so they
        # never touch the table.
        Index(
            "ix_ledger_period",
            "occurred_at",
            "kind",
            "source",
            "council_code",
            "project_id",
            "unverified",
            "voided_at",
        ),
        Index("ix_ledger_council_occurred", "council_code", "occurred_at"),
        # The public catalogue (bench/catalogue.py), each read without touching the table:
        # a project's last activity and gives per month; its gives per council (CHAOSS);
        # each council's gives and takes in a period.
        Index("ix_ledger_project_occurred", "project_id", "occurred_at", "kind"),
        Index(
            "ix_ledger_project_kind_council", "project_id", "kind", "council_code", "occurred_at"
        ),
        Index("ix_ledger_council_kind_occurred", "council_code", "kind", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=10)
    source: str = Field(max_length=40)
    council_code: str | None = Field(default=None, foreign_key="council.code", max_length=16)
    project_id: int | None = Field(default=None, foreign_key="project.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    github_login: str | None = Field(default=None, index=True, max_length=100)
    trello_username: str | None = Field(default=None, index=True, max_length=100)
    description: str = Field(default="", max_length=500)
    occurred_at: datetime = Field(default_factory=utcnow)
    dedupe_key: str = Field(unique=True, max_length=200)
    # The audit trail: who recorded it (a Slack user id, or the tool: "github", "trello") and
    # how it was checked (domain.projects.Verification); an undone entry keeps its row, voided.
    recorded_by: str = Field(default="", max_length=40)
    verification: str = Field(default="", max_length=20)
    voided_at: datetime | None = None
    voided_by: str | None = Field(default=None, max_length=40)
    # Recorded for a council its person had not verified: out of the league until they are.
    unverified: bool = False


class SeenRequest(SQLModel, table=True):
    """Keys of Slack requests already handled (trigger_id, event_id): retries act once."""

    __tablename__ = "seen_request"

    key: str = Field(primary_key=True, max_length=200)
    seen_at: datetime = Field(default_factory=utcnow)


class SlackMessage(SQLModel, table=True):
    """The desired state of one bot message; the outbox sender makes Slack match it.

    A message is dirty while `version > sent_version`. Several changes before the sender
    gets to it become one post or one `chat.update`, and a restart resumes from here.
    A sender holds a message while `claimed_until` is in the future, under `claim_token`:
    only that token may record the outcome. `claimed_until` in the past while `ts` is None
    means a claim ended without recording: the post may be in Slack (see makersbot/outbox.py).
    """

    __tablename__ = "slack_message"
    __table_args__ = (Index("ix_slack_message_dirty", "sent_version", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)
    channel: str = Field(max_length=32)
    thread_key: str | None = Field(default=None, max_length=200)
    text: str = Field(default="")
    blocks: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    pin: bool = False
    ts: str | None = Field(default=None, max_length=32)
    version: int = 1
    sent_version: int = 0
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    claimed_until: datetime | None = None
    claim_token: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class OutboxGate(SQLModel, table=True):
    """When the outbox may next call Slack for one channel, shared by every sender process.

    `name` is a channel id, or `method:<Web API method>` for a limit Slack applies to the
    whole workspace (a 429 from `chat.update`). A sender takes a channel's turn by moving
    `next_call_at` forward in the same statement that checks it (see store/outbox.py), so
    two processes never call one channel faster than SLACK_CHANNEL_PACE. A channel Slack
    refuses for good (`not_in_channel`, `is_archived`, …) is parked: its messages wait, and
    `next_call_at` is then when to check the channel again.
    """

    __tablename__ = "outbox_gate"

    name: str = Field(primary_key=True, max_length=64)
    next_call_at: datetime = Field(default_factory=utcnow)
    parked_at: datetime | None = None
    parked_reason: str | None = Field(default=None, max_length=100)


class SchedulerRun(SQLModel, table=True):
    """When a scheduled job last ran, for /healthz and catch-up."""

    __tablename__ = "scheduler_run"

    job: str = Field(primary_key=True, max_length=60)
    ran_at: datetime = Field(default_factory=utcnow)


class Link(SQLModel, table=True):
    """A GitHub repository or Trello board mirrored into a project's channel."""

    __tablename__ = "link"
    __table_args__ = (UniqueConstraint("project_id", "source", "target", name="uq_link"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    source: str = Field(max_length=10)  # "github" or "trello"
    target: str = Field(index=True, max_length=200)  # "owner/repo" (lower case) or board id
    target_name: str = Field(default="", max_length=200)  # as people know it
    url: str = Field(default="", max_length=500)
    filters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    webhook_id: str | None = Field(default=None, max_length=100)
    webhook_error: str | None = Field(default=None, max_length=500)
    etag: str | None = Field(default=None, max_length=200)
    cursor: str | None = Field(default=None, max_length=200)
    last_polled_at: datetime | None = None
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)
    # The secret of this link's own GitHub webhook (None: an older hook on the global
    # GITHUB_WEBHOOK_SECRET), and the unguessable path of its Trello webhook.
    webhook_secret: str | None = Field(default=None, max_length=100)
    callback_token: str | None = Field(default=None, max_length=100, index=True)
    private: bool = False  # a private repo or board, linked into a private channel


class Delivery(SQLModel, table=True):
    """A webhook delivery, stored before it is acknowledged and processed from here."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("source", "delivery_id", name="uq_delivery"),
        Index("ix_delivery_pending", "processed_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=10)
    delivery_id: str = Field(max_length=200)
    event: str = Field(default="", max_length=100)
    # The body exactly as received (JSON text): stored as it came, parsed when processed.
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None
    claimed_until: datetime | None = None
    attempts: int = 0
    error: str | None = Field(default=None, max_length=500)


class MirroredItem(SQLModel, table=True):
    """The current state of one GitHub issue/PR or Trello card in one linked project."""

    __tablename__ = "mirrored_item"
    __table_args__ = (UniqueConstraint("link_id", "item_key", name="uq_mirrored_item"),)

    id: int | None = Field(default=None, primary_key=True)
    link_id: int = Field(foreign_key="link.id", index=True)
    item_key: str = Field(max_length=200)
    kind: str = Field(max_length=10)  # issue, pr, card
    number: int | None = None
    title: str = Field(default="", max_length=1000)
    url: str = Field(default="", max_length=500)
    state: str = Field(default="open", max_length=100)
    closed: bool = False
    deleted: bool = False
    labels: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    people: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    author: str | None = Field(default=None, max_length=100)
    due: datetime | None = None
    comments: int = 0
    source_updated_at: datetime | None = None
    last_change: str = Field(default="", max_length=500)
    last_change_at: datetime | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    # Order-independent state (services/item_state.py): the source clock that set each field
    # ("<time>|<tie-break>"), per-element marks of Trello's label / member / comment sets
    # ({"labels": {name: [clock, present]}, ...}), and the comment count of the last full
    # snapshot, to which comments marked after it are added.
    clocks: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    marks: dict[str, dict[str, list[Any]]] = Field(default_factory=dict, sa_column=Column(JSON))
    comments_base: int = 0


class DigestClaim(SQLModel, table=True):
    """One digest message claimed for a channel and ISO week: the guard against doubles."""

    __tablename__ = "digest_claim"
    __table_args__ = (UniqueConstraint("channel", "period", "seq", name="uq_digest_claim"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=100)
    period: str = Field(max_length=10)  # ISO week, e.g. "2026-W47"
    seq: int = 0  # 0 for the weekly digest, 1.. for `digest now --force`
    kind: str = Field(default="hub", max_length=10)  # hub or project
    message_key: str = Field(max_length=200)
    claimed_at: datetime = Field(default_factory=utcnow)
    chart_uploaded_at: datetime | None = None


class MirrorEvent(SQLModel, table=True):
    """One change applied to a mirrored item, kept for the project digests."""

    __tablename__ = "mirror_event"
    __table_args__ = (Index("ix_mirror_event_project_at", "project_id", "occurred_at"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id")
    link_id: int = Field(foreign_key="link.id")
    item_key: str = Field(max_length=200)
    kind: str = Field(max_length=10)  # issue, pr, card
    action: str = Field(max_length=40)  # opened, closed, merged, moved, commented, …
    actor: str | None = Field(default=None, max_length=100)
    summary: str = Field(default="", max_length=500)
    # Facts the digest needs, stored as data rather than re-read from `summary`:
    destination: str | None = Field(default=None, max_length=200)  # list a card moved to
    done: bool = Field(default=False)  # the change completed the item (card moved to done)
    occurred_at: datetime = Field(default_factory=utcnow, index=True)
    dedupe_key: str = Field(unique=True, max_length=300)


class StaleSummary(SQLModel, table=True):
    """A link whose board summary must be rebuilt.

    Written by the transaction that changed the link's items, and taken (deleted) by the
    transaction that rebuilds the summary: a worker that dies in between leaves it here for
    the next flush, by any worker, instead of a summary stale until the link's next change.
    """

    __tablename__ = "stale_summary"

    link_id: int = Field(foreign_key="link.id", primary_key=True)
    marked_at: datetime = Field(default_factory=utcnow)


class PendingStart(SQLModel, table=True):
    """A `/makers start` held back because it looks like an existing project: kept (for a
    day) until its starter presses *Start mine anyway*, which uses it exactly once."""

    __tablename__ = "pending_start"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(unique=True, max_length=40)
    slack_user_id: str = Field(index=True, max_length=32)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None


class QuietSpell(SQLModel, table=True):
    """A project found with no activity for eight weeks: flagged on its card, and its leads
    asked once. `quiet_since` is its last activity, so one spell is one row (unique) and
    activity after it starts a new spell."""

    __tablename__ = "quiet_spell"
    __table_args__ = (UniqueConstraint("project_id", "quiet_since", name="uq_quiet_spell"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    quiet_since: datetime
    flagged_at: datetime = Field(default_factory=utcnow)
    # When the resurfacing run saw activity again and refreshed the card; None while quiet.
    resumed_at: datetime | None = None


class WorkerHeartbeat(SQLModel, table=True):
    """A process doing background work (`serve` or `worker`) says it is alive, for /healthz.

    One row per process, beaten every few seconds. It also carries what Slack said of the bot
    token at the process's last `auth.test`, so that /healthz in any process can report a
    rejected token without calling Slack itself.
    """

    __tablename__ = "worker_heartbeat"

    process: str = Field(primary_key=True, max_length=200)  # host:pid
    started_at: datetime = Field(default_factory=utcnow)
    beat_at: datetime = Field(default_factory=utcnow, index=True)
    slack_checked_at: datetime | None = None
    # Slack's refusal of the token at the last check (one line, no token); None = accepted
    # or not known (Slack unreachable, or not checked yet).
    slack_rejected: str | None = Field(default=None, max_length=300)


# Retention deletes by age: these let each batch find the oldest rows without a table scan.
Index("ix_seen_request_seen_at", SeenRequest.__table__.c.seen_at)  # type: ignore[attr-defined]
Index("ix_slack_message_updated_at", SlackMessage.__table__.c.updated_at)  # type: ignore[attr-defined]
