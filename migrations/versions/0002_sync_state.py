"""The sync engine's state: runs, cursors, keys seen by a full pass, rejected objects.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTERS = ("pages", "requests", "inserted", "updated", "unchanged", "deleted", "restored", "rejected")


def upgrade() -> None:
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "resource", sa.Text(), nullable=False, comment="The resource (mirror table) this run read."
        ),
        sa.Column("mode", sa.Text(), nullable=False, comment="incremental or full."),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "finished_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="NULL while running (or after a crash).",
        ),
        sa.Column("status", sa.Text(), nullable=False, comment="running, succeeded or failed."),
        *(sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False) for name in _COUNTERS),
        sa.Column(
            "fell_back_to_full",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="An incremental run found the order not monotonic and read everything instead.",
        ),
        sa.Column(
            "resumes",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Times a crashed full pass resumed.",
        ),
        sa.Column("error", sa.Text(), nullable=True, comment="Why the run failed (never the API key)."),
        sa.CheckConstraint("mode IN ('incremental', 'full')", name=op.f("ck_sync_runs_mode")),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name=op.f("ck_sync_runs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
        schema="syncd",
        comment="One row per sync run of one resource, with what it did.",
    )
    op.create_index("ix_sync_runs_resource_id", "sync_runs", ["resource", "id"], unique=False, schema="syncd")
    op.create_table(
        "sync_cursors",
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column(
            "high_water_mark",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Newest upstream updatedAt covered by a completed pass (incremental resources).",
        ),
        sa.Column(
            "last_success_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a run of this resource last succeeded.",
        ),
        sa.Column(
            "last_full_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a full pass last completed.",
        ),
        sa.Column(
            "full_run_id",
            sa.BigInteger(),
            nullable=True,
            comment="The unfinished full pass, resumable; NULL when none.",
        ),
        sa.Column(
            "full_next_page",
            sa.Integer(),
            nullable=True,
            comment="The page that unfinished full pass reads next.",
        ),
        sa.Column(
            "full_high_water_mark",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Newest updatedAt when that full pass began: its high-water mark once it completes.",
        ),
        sa.PrimaryKeyConstraint("resource", name=op.f("pk_sync_cursors")),
        schema="syncd",
        comment="Where each resource's sync stands: high-water mark and the progress of a full pass.",
    )
    op.create_table(
        "pass_seen",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False, comment="The mirror row's key values, U+001F-separated."),
        sa.PrimaryKeyConstraint("run_id", "resource", "key", name=op.f("pk_pass_seen")),
        schema="syncd",
        comment="Keys a full pass has seen so far; rows not seen by a completed pass are marked deleted.",
    )
    op.create_table(
        "rejected_items",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("raw", postgresql.JSONB(), nullable=False, comment="The object exactly as received."),
        sa.Column(
            "raw_hash", sa.Text(), nullable=False, comment="Digest of raw: one row per distinct bad object."
        ),
        sa.Column("error", sa.Text(), nullable=False, comment="Why it could not be mapped."),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "seen_at", sa.DateTime(timezone=True), nullable=False, comment="When a run last received it."
        ),
        sa.Column("times_seen", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True, comment="The run that last received it."),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_items")),
        sa.UniqueConstraint("resource", "raw_hash", name=op.f("uq_rejected_items_resource_raw_hash")),
        schema="syncd",
        comment="Objects the API sent that could not be mapped; the rest of their page landed.",
    )


def downgrade() -> None:
    op.drop_table("rejected_items", schema="syncd")
    op.drop_table("pass_seen", schema="syncd")
    op.drop_table("sync_cursors", schema="syncd")
    op.drop_index("ix_sync_runs_resource_id", table_name="sync_runs", schema="syncd")
    op.drop_table("sync_runs", schema="syncd")
