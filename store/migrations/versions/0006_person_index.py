"""person index: HMAC keys of a referred person (PNC ID, name variants) to their
Criminal Casework case, to find it again on a re-arrest

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty at first: cases referred before this revision are found by their own subject
    # key (the casework workflow ID) until a new referral or an amendment indexes them.
    op.create_table(
        "person_index",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("casework_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("indexed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", "casework_id"),
    )


def downgrade() -> None:
    op.drop_table("person_index")
