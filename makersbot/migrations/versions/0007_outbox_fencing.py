"""outbox: fenced claims (claim_token) and per-channel gates shared by every sender

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_gate",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("next_call_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("parked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("parked_reason", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("slack_message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claim_token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("slack_message", schema=None) as batch_op:
        batch_op.drop_column("claim_token")
    op.drop_table("outbox_gate")
