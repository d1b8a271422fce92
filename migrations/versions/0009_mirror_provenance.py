"""Provenance of mirror rows, and rejected objects by key.

`nested_only` on every top-level mirror table: true while an object has been seen only nested in
others (a nested copy then merges into it), false once read directly (nested copies leave it alone).
Existing rows count as read directly, except organizations, which are only ever seen nested.
`syncd.rejected_items.key` names the mirror row a rejected object belongs to, so storing the
object again clears its rejection; rows recorded before this revision get it when received again.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The top-level mirror tables of this revision (a test checks the models and migrations agree).
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


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table,
            sa.Column(
                "nested_only",
                sa.Boolean(),
                server_default=sa.text("false"),
                nullable=False,
                comment="True while syncd has seen it only nested in other objects, never read directly.",
            ),
            schema="simplymeet",
        )
    # Changes neither raw nor deleted_at: the change-feed triggers record nothing.
    op.execute("UPDATE simplymeet.organizations SET nested_only = true")
    op.add_column(
        "rejected_items",
        sa.Column(
            "key",
            sa.Text(),
            nullable=True,
            comment="The mirror row's key values, U+001F-separated; NULL when the key itself was unreadable.",
        ),
        schema="syncd",
    )
    op.create_index("ix_rejected_items_resource_key", "rejected_items", ["resource", "key"], schema="syncd")
    op.create_table_comment(
        "rejected_items",
        "Objects the API sends that cannot be mapped; the rest of their page landed. Cleared when "
        "the object is stored again, or when a complete full pass no longer receives it.",
        existing_comment="Objects the API sent that could not be mapped; the rest of their page landed.",
        schema="syncd",
    )


def downgrade() -> None:
    op.create_table_comment(
        "rejected_items",
        "Objects the API sent that could not be mapped; the rest of their page landed.",
        schema="syncd",
    )
    op.drop_index("ix_rejected_items_resource_key", table_name="rejected_items", schema="syncd")
    op.drop_column("rejected_items", "key", schema="syncd")
    for table in TABLES:
        op.drop_column(table, "nested_only", schema="simplymeet")
