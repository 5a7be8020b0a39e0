"""ledger entries keep who recorded them, how they were checked and whether they were undone;
every project gets a lead

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Entries written in Slack by a person; the rest come from GitHub or Trello ("github:…").
SLACK_SOURCES = ("start", "gave", "adopt")


def upgrade() -> None:
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "recorded_by",
                sqlmodel.sql.sqltypes.AutoString(length=40),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column(
                "verification",
                sqlmodel.sql.sqltypes.AutoString(length=20),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column("voided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("voided_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
    _audit_existing_entries()
    _give_every_project_a_lead()


def _audit_existing_entries() -> None:
    """Say who recorded the entries already there and how far they were checked.

    Tool credits came from GitHub or Trello. Starts and adoptions made their person a member.
    A `gave` was not checked before this revision: it is marked `member` only when its giver
    is a member of the project now, and left empty (unchecked) otherwise.
    """
    ledger = sa.table(
        "ledger_entry",
        sa.column("source", sa.String),
        sa.column("person_id", sa.Integer),
        sa.column("project_id", sa.Integer),
        sa.column("recorded_by", sa.String),
        sa.column("verification", sa.String),
    )
    person = sa.table("person", sa.column("id", sa.Integer), sa.column("slack_user_id", sa.String))
    membership = sa.table(
        "membership", sa.column("project_id", sa.Integer), sa.column("person_id", sa.Integer)
    )
    for tool in ("github", "trello"):
        op.execute(
            ledger.update()
            .where(ledger.c.source.like(f"{tool}:%"))
            .values(recorded_by=tool, verification="webhook")
        )
    op.execute(
        ledger.update()
        .where(ledger.c.source.in_(SLACK_SOURCES), ledger.c.person_id.is_not(None))
        .values(
            recorded_by=sa.select(person.c.slack_user_id)
            .where(person.c.id == ledger.c.person_id)
            .scalar_subquery()
        )
    )
    op.execute(
        ledger.update().where(ledger.c.source.in_(("start", "adopt"))).values(verification="member")
    )
    is_member = (
        sa.exists()
        .where(
            membership.c.project_id == ledger.c.project_id,
            membership.c.person_id == ledger.c.person_id,
        )
        .correlate(ledger)
    )
    op.execute(
        ledger.update().where(ledger.c.source == "gave", is_member).values(verification="member")
    )


def _give_every_project_a_lead() -> None:
    """A project without a lead gets one: its starter if still a maker, else its earliest."""
    bind = op.get_bind()
    leaderless = bind.execute(
        sa.text(
            "SELECT p.id, p.created_by_id FROM project p WHERE NOT EXISTS "
            "(SELECT 1 FROM membership m WHERE m.project_id = p.id AND m.role = 'lead')"
        )
    ).all()
    for project_id, starter in leaderless:
        makers = bind.execute(
            sa.text(
                "SELECT id, person_id FROM membership WHERE project_id = :p AND role = 'maker' "
                "ORDER BY joined_at, id"
            ),
            {"p": project_id},
        ).all()
        chosen = next((m for m, who in makers if who == starter), None)
        if chosen is None and makers:
            chosen = makers[0][0]
        if chosen is not None:
            bind.execute(
                sa.text("UPDATE membership SET role = 'lead' WHERE id = :m"), {"m": chosen}
            )


def downgrade() -> None:
    # Leads chosen by upgrade() stay leads: the older code treats them as makers.
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.drop_column("voided_by")
        batch_op.drop_column("voided_at")
        batch_op.drop_column("verification")
        batch_op.drop_column("recorded_by")
