"""link: per-link webhook secrets, Trello callback tokens and the private flag

Existing links get none: their hooks keep working on the global GITHUB_WEBHOOK_SECRET and
the old /trello/webhook callback.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("link", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("webhook_secret", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
        batch_op.add_column(
            sa.Column("callback_token", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
        batch_op.add_column(
            sa.Column("private", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(batch_op.f("ix_link_callback_token"), ["callback_token"])


def downgrade() -> None:
    with op.batch_alter_table("link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_callback_token"))
        batch_op.drop_column("private")
        batch_op.drop_column("callback_token")
        batch_op.drop_column("webhook_secret")
