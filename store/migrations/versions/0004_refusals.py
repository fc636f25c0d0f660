"""refusal log: the decisions a case refused, out of its Temporal history

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Refusals were signalled into the case's history before: those stay on its
    # timeline there; new ones are kept here (bounded per case) and counted.
    op.create_table(
        "decision_refusal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("decision_refusal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decision_refusal_case_id"), ["case_id"], unique=False)
    op.create_table(
        "refusal_tally",
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("first_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )


def downgrade() -> None:
    op.drop_table("refusal_tally")
    with op.batch_alter_table("decision_refusal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decision_refusal_case_id"))
    op.drop_table("decision_refusal")
