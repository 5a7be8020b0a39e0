"""a covering ledger index for the week's counts: the digest reads no ledger row

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 05:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every column the digest's period queries filter, group or count by, after the time that
# bounds them: the league, first gives, waiting entries, gives and adoptions per project,
# activity and the chart each read one range of this index and never the table.
PERIOD = ["occurred_at", "kind", "source", "council_code", "project_id", "unverified", "voided_at"]


def upgrade() -> None:
    op.create_index("ix_ledger_period", "ledger_entry", PERIOD, unique=False)
    # Its first column: every query that used the old index can use the new one.
    op.drop_index("ix_ledger_occurred", table_name="ledger_entry")


def downgrade() -> None:
    op.create_index("ix_ledger_occurred", "ledger_entry", ["occurred_at"], unique=False)
    op.drop_index("ix_ledger_period", table_name="ledger_entry")
