"""`content_hash` digests what an object says (its typed form), not how the API wrote it.

Only the column's comment changes here; the digests themselves change in code (`syncd.mapping.
state_digest`). Rows written before this revision hold a digest of `raw`, so the first sync after it
rewrites each row once (`raw` as read then); the change feed records nothing where `raw` is the same.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "users",
    "organizations",
    "event_types",
    "event_type_tags",
    "event_type_availability",
    "user_event_type_tags",
    "polls",
    "events",
    "cancellation_policies",
    "acl_rules",
    "integrations",
)
NEW = "Digest of what the object says (typed row, child rows, undocumented fields): an unchanged object is not rewritten."
OLD = "Digest of raw: an unchanged object is not rewritten."


def _comment(text: str, previous: str) -> None:
    for table in TABLES:
        op.alter_column(
            table,
            "content_hash",
            existing_type=sa.Text(),
            existing_nullable=False,
            comment=text,
            existing_comment=previous,
            schema="simplymeet",
        )


def upgrade() -> None:
    _comment(NEW, OLD)


def downgrade() -> None:
    _comment(OLD, NEW)
