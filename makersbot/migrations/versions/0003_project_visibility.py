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

INDEXES = {
    "ix_ledger_project_occurred": ["project_id", "occurred_at", "kind"],
    "ix_ledger_project_kind_council": ["project_id", "kind", "council_code", "occurred_at"],
    "ix_ledger_council_kind_occurred": ["council_code", "kind", "occurred_at"],
}


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
    # Covering indexes for the catalogue: a project's last activity and gives per month;
    # its gives per council (CHAOSS); each council's gives and takes in a period.
    for name, columns in INDEXES.items():
        op.create_index(name, "ledger_entry", columns, unique=False)


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="ledger_entry")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_column("visibility")
