"""A partial index on pending intents: the claim no longer walks the queue's whole history.

Measured: one claim took 9-12 ms with 19,000 finished intents, 0.1-0.25 ms with this index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_write_intents_pending_id",
        "write_intents",
        ["id"],
        schema="syncd",
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_write_intents_pending_id", table_name="write_intents", schema="syncd")
