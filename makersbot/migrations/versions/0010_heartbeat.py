"""worker heartbeats for /healthz; indexes that let retention delete by age

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeat",
        sa.Column("process", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("beat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("slack_checked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("slack_rejected", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.PrimaryKeyConstraint("process"),
    )
    op.create_index(
        op.f("ix_worker_heartbeat_beat_at"), "worker_heartbeat", ["beat_at"], unique=False
    )
    # Plain CREATE INDEX (no batch mode): SQLite needs no table copy for it.
    op.create_index("ix_seen_request_seen_at", "seen_request", ["seen_at"], unique=False)
    op.create_index("ix_slack_message_updated_at", "slack_message", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_slack_message_updated_at", table_name="slack_message")
    op.drop_index("ix_seen_request_seen_at", table_name="seen_request")
    op.drop_index(op.f("ix_worker_heartbeat_beat_at"), table_name="worker_heartbeat")
    op.drop_table("worker_heartbeat")
