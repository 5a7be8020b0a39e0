"""mirror events keep the destination list and whether the change completed the item

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mirror_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("destination", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.add_column(
            sa.Column("done", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("mirror_event", schema=None) as batch_op:
        batch_op.drop_column("done")
        batch_op.drop_column("destination")
