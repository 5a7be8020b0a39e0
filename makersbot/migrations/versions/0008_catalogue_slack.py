"""projects can be private; a start held back as a look-alike waits in pending_start; a
project's quiet spells are recorded so that its leads are asked once

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "visibility",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                nullable=False,
                server_default="public",
            )
        )
    op.create_table(
        "pending_start",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("slack_user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("pending_start", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pending_start_slack_user_id"), ["slack_user_id"], unique=False
        )
    op.create_table(
        "quiet_spell",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("quiet_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("flagged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("resumed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "quiet_since", name="uq_quiet_spell"),
    )
    with op.batch_alter_table("quiet_spell", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quiet_spell_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quiet_spell", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quiet_spell_project_id"))
    op.drop_table("quiet_spell")
    with op.batch_alter_table("pending_start", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_start_slack_user_id"))
    op.drop_table("pending_start")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_column("visibility")
