"""Outgoing webhooks: subscriptions to the change feed and the audit trail of their deliveries.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTCOMES = ("delivered", "failed", "gone")


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "url", sa.Text(), nullable=False, comment="Where each change is POSTed (http:// or https://)."
        ),
        sa.Column(
            "secret",
            sa.Text(),
            nullable=False,
            comment="The signing secret, whsec_<base64 key> (Standard Webhooks); never printed or logged.",
        ),
        sa.Column(
            "kinds",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
            comment="Kinds filter: a change is sent when one of its kinds is listed; 'event.*' matches a "
            "prefix; empty: every change.",
        ),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "description", sa.Text(), nullable=True, comment="The operator's note: who receives it, and why."
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "cursor_id",
            sa.BigInteger(),
            server_default="0",
            nullable=False,
            comment="The delivery cursor: the last change id delivered (or passed over as not wanted).",
        ),
        sa.Column(
            "attempts",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="Failed attempts in the current failure streak (0: healthy).",
        ),
        sa.Column(
            "failing_since",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="First failure of the current streak.",
        ),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Not delivered to before this instant (backoff after a failure).",
        ),
        sa.Column(
            "last_error",
            sa.Text(),
            nullable=True,
            comment="Why the last attempt failed (cleared by a delivery).",
        ),
        sa.Column(
            "disabled_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When it was disabled; NULL while enabled.",
        ),
        sa.Column(
            "disabled_reason",
            sa.Text(),
            nullable=True,
            comment="Why: failing longer than webhook_retry_for_s, a 410 Gone answer, or an operator.",
        ),
        sa.Column(
            "replay_through",
            sa.BigInteger(),
            nullable=True,
            comment="A `replay --to`: once the cursor reaches this id it jumps back to resume_after.",
        ),
        sa.Column("resume_after", sa.BigInteger(), nullable=True, comment="The cursor before that replay."),
        sa.CheckConstraint("enabled = (disabled_at IS NULL)", name=op.f("ck_webhook_subscriptions_disabled")),
        sa.CheckConstraint("url ~* '^https?://'", name=op.f("ck_webhook_subscriptions_url")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
        schema="syncd",
        comment="Outgoing webhook subscriptions: each receives the change feed in order, at least once.",
    )
    op.create_index(
        "ix_webhook_subscriptions_due",
        "webhook_subscriptions",
        ["next_attempt_at"],
        unique=False,
        schema="syncd",
        postgresql_where=sa.text("enabled"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "change_id",
            sa.BigInteger(),
            nullable=True,
            comment="The change sent; NULL for a `syncd webhooks test` ping.",
        ),
        sa.Column(
            "attempt",
            sa.Integer(),
            nullable=False,
            comment="1 for the change's first try, 2 for the first retry, ...",
        ),
        sa.Column(
            "attempted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "status_code",
            sa.Integer(),
            nullable=True,
            comment="HTTP status of the answer; NULL when none came.",
        ),
        sa.Column(
            "error",
            sa.Text(),
            nullable=True,
            comment="Why it failed: the status and the answer's first characters, or the error.",
        ),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column(
            "outcome",
            sa.Text(),
            nullable=False,
            comment="delivered (2xx), failed (retried later), gone (410: the subscription was disabled).",
        ),
        sa.CheckConstraint(
            f"outcome IN ({', '.join(repr(o) for o in _OUTCOMES)})",
            name=op.f("ck_webhook_deliveries_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["syncd.webhook_subscriptions.id"],
            name=op.f("fk_webhook_deliveries_subscription_id_webhook_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        schema="syncd",
        comment="Every webhook delivery attempt: the audit trail (pruned by age).",
    )
    op.create_index(
        "ix_webhook_deliveries_subscription",
        "webhook_deliveries",
        ["subscription_id", "id"],
        unique=False,
        schema="syncd",
    )
    op.create_index(
        "ix_webhook_deliveries_attempted_at",
        "webhook_deliveries",
        ["attempted_at"],
        unique=False,
        schema="syncd",
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_attempted_at", table_name="webhook_deliveries", schema="syncd")
    op.drop_index("ix_webhook_deliveries_subscription", table_name="webhook_deliveries", schema="syncd")
    op.drop_table("webhook_deliveries", schema="syncd")
    op.drop_index(
        "ix_webhook_subscriptions_due",
        table_name="webhook_subscriptions",
        schema="syncd",
        postgresql_where=sa.text("enabled"),
    )
    op.drop_table("webhook_subscriptions", schema="syncd")
