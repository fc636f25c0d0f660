"""acro replies pushed in: which workflow asked each ACRO request, and each reply
delivered, keyed on ACRO's reply ID (issue 22)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty at first: requests made before this revision polled for their replies, and
    # are neither routed to nor reconciled (their cases keep polling until they close).
    op.create_table(
        "acro_request",
        sa.Column("request_ref", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("replied_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("request_ref"),
    )
    with op.batch_alter_table("acro_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acro_request_workflow_id"), ["workflow_id"])
        batch_op.create_index(batch_op.f("ix_acro_request_requested_at"), ["requested_at"])
        batch_op.create_index(batch_op.f("ix_acro_request_replied_at"), ["replied_at"])
    op.create_table(
        "acro_reply",
        sa.Column("reply_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("request_ref", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("reply_id"),
    )
    with op.batch_alter_table("acro_reply", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acro_reply_request_ref"), ["request_ref"])
        batch_op.create_index(batch_op.f("ix_acro_reply_status"), ["status"])


def downgrade() -> None:
    with op.batch_alter_table("acro_reply", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acro_reply_status"))
        batch_op.drop_index(batch_op.f("ix_acro_reply_request_ref"))
    op.drop_table("acro_reply")
    with op.batch_alter_table("acro_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acro_request_replied_at"))
        batch_op.drop_index(batch_op.f("ix_acro_request_requested_at"))
        batch_op.drop_index(batch_op.f("ix_acro_request_workflow_id"))
    op.drop_table("acro_request")
