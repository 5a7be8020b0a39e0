"""projects can be private (kept out of the public catalogue); covering ledger indexes for it

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("project", schema=None) as batch_op:
        # Existing projects stay public: the catalogue shows them as before.
        batch_op.add_column(
            sa.Column(
                "visibility",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                nullable=False,
                server_default="public",
            )
        )
    # Covering indexes for the catalogue: a project's latest entry and its gives by council;
    # every council's gives and takes in a period, without reading the table.
    op.create_index(
        "ix_ledger_project_occurred",
        "ledger_entry",
        ["project_id", "occurred_at", "kind", "council_code"],
        unique=False,
    )
    op.create_index(
        "ix_ledger_occurred_council_kind",
        "ledger_entry",
        ["occurred_at", "council_code", "kind"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_occurred_council_kind", table_name="ledger_entry")
    op.drop_index("ix_ledger_project_occurred", table_name="ledger_entry")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_column("visibility")
