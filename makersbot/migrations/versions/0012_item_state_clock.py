"""mirrored items keep the source clock of each field, so deliveries apply in any order

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows start with no clocks: the next change to each field sets it, as before.
    with op.batch_alter_table("mirrored_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clocks", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("marks", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("comments_base", sa.Integer(), nullable=False, server_default="0")
        )
    # An existing count is the base that later comments add to.
    op.execute("UPDATE mirrored_item SET comments_base = comments, clocks = '{}', marks = '{}'")


def downgrade() -> None:
    with op.batch_alter_table("mirrored_item", schema=None) as batch_op:
        batch_op.drop_column("comments_base")
        batch_op.drop_column("marks")
        batch_op.drop_column("clocks")
