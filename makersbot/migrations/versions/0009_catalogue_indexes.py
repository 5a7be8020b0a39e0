"""covering ledger indexes for the public catalogue

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_ledger_project_occurred": ["project_id", "occurred_at", "kind"],
    "ix_ledger_project_kind_council": ["project_id", "kind", "council_code", "occurred_at"],
    "ix_ledger_council_kind_occurred": ["council_code", "kind", "occurred_at"],
}


def upgrade() -> None:
    # Covering indexes for the catalogue: a project's last activity and gives per month;
    # its gives per council (CHAOSS); each council's gives and takes in a period.
    for name, columns in INDEXES.items():
        op.create_index(name, "ledger_entry", columns, unique=False)


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="ledger_entry")
