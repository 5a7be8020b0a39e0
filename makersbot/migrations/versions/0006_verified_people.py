"""people: verified councils and who verified logins; ledger entries of unverified councils

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("council_verified_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "council_verified_by", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("email_domain", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "github_verified_by", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "trello_verified_by", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True
            )
        )
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unverified", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    _existing_councils_are_unverified()


def _existing_councils_are_unverified() -> None:
    """Everyone keeps the council they said, as a claim: nobody checked it. Their entries wait
    until an admin confirms the council (`/makers admin verify-council`), someone verified
    vouches, or the person's Slack e-mail verifies it."""
    ledger = sa.table(
        "ledger_entry",
        sa.column("council_code", sa.String),
        sa.column("person_id", sa.Integer),
        sa.column("unverified", sa.Boolean),
    )
    op.execute(
        ledger.update()
        .where(ledger.c.council_code.is_not(None), ledger.c.person_id.is_not(None))
        .values(unverified=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.drop_column("unverified")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("trello_verified_by")
        batch_op.drop_column("github_verified_by")
        batch_op.drop_column("email_domain")
        batch_op.drop_column("council_verified_by")
        batch_op.drop_column("council_verified_at")
