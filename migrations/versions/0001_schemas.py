"""The two schemas: simplymeet (the mirror) and syncd (the daemon's own state).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS simplymeet")
    op.execute(
        "COMMENT ON SCHEMA simplymeet IS 'Mirror of the SimplyMeet account, kept by syncd. Read-only for users.'"
    )
    op.execute("CREATE SCHEMA IF NOT EXISTS syncd")
    op.execute("COMMENT ON SCHEMA syncd IS 'State of the syncd service: runs, cursors, write intents.'")


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS simplymeet CASCADE")
    # The version table lives in syncd: alembic removes its row itself, so keep the schema.
