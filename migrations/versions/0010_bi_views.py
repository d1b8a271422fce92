"""Views for analysts in schema `simplymeet_bi`: bookings, weekly bookings, cancellation and no-show rates.

One row per live booking with its event type, owner, invitee, state, local times, lead time,
cancellation and no-show; three rollups built on it. Times are in the owner's zone
(`simplymeet.users.timezone`), else the event type's, else UTC: a zone PostgreSQL does not know
falls back instead of failing the query (`simplymeet_bi.known_zone`). docs/analytics.md documents the
columns (a test keeps it equal to the comments below) and the questions they answer.

The SQL is frozen here, as a migration must be: later changes come as new revisions.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "simplymeet_bi"

KNOWN_ZONE = """
CREATE FUNCTION simplymeet_bi.known_zone(zone text) RETURNS text
LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
    -- A name, not a POSIX offset: PostgreSQL reads '+05:30' as five and a half hours WEST of UTC.
    IF zone !~ '^[A-Za-z]' THEN
        RETURN NULL;
    END IF;
    PERFORM now() AT TIME ZONE zone;
    RETURN zone;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN NULL;
END
$$
"""

# (name, SQL, what a row is, {column: meaning}) in creation order: later views read earlier ones.
VIEWS: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    (
        "bookings",
        """
WITH owners AS MATERIALIZED (  -- the zone checked once per user, not once per event
    SELECT id, email, full_name, simplymeet_bi.known_zone(timezone) AS zone FROM simplymeet.users
), types AS MATERIALIZED (
    SELECT id, name, simplymeet_bi.known_zone(timezone) AS zone FROM simplymeet.event_types
), zoned AS (
    SELECT e.*, t.name AS event_type_name, o.email AS owner_email, o.full_name AS owner_name,
           coalesce(o.zone, t.zone, 'UTC') AS zone
    FROM simplymeet.events e
    LEFT JOIN owners o ON o.id = e.user_id
    LEFT JOIN types t ON t.id = e.event_type_id
    WHERE e.deleted_at IS NULL
)
SELECT
    z.id AS event_id,
    z.uuid AS event_uuid,
    z.event_type_id,
    z.event_type_name,
    z.user_id AS owner_user_id,
    z.owner_email,
    z.owner_name,
    z.invitee_full_name AS invitee_name,
    z.invitee_email,
    z.invitee_timezone,
    z.state,
    z.zone,
    z.scheduled_at,
    z.end_date AS end_at,
    z.scheduled_at AT TIME ZONE z.zone AS scheduled_at_local,
    z.end_date AT TIME ZONE z.zone AS end_at_local,
    (z.scheduled_at AT TIME ZONE z.zone)::date AS scheduled_on,
    date_trunc('week', z.scheduled_at AT TIME ZONE z.zone)::date AS scheduled_week,
    z.duration AS duration_minutes,
    z.created_at AS booked_at,
    z.scheduled_at - z.created_at AS lead_time,
    round(extract(epoch FROM z.scheduled_at - z.created_at) / 3600, 1) AS lead_time_hours,
    coalesce(z.state = 'canceled', false) OR z.canceled_at IS NOT NULL AS canceled,
    z.canceled_at,
    z.cancellation_reason,
    z.cancellation_canceler AS canceled_by,
    coalesce(z.state = 'no_show', false) AS no_show,
    (SELECT count(*) FROM simplymeet.event_rescheduling r WHERE r.event_id = z.id) AS times_rescheduled,
    z.location_type,
    z.payment_status,
    z.payment_amount,
    z.payment_currency,
    z.updated_at
FROM zoned z
""",
        "One row per booking (simplymeet.events not deleted upstream), with its event type, owner "
        "and invitee, in the owner's local time.",
        {
            "event_id": "The event's id (simplymeet.events.id).",
            "event_uuid": "The event's UUID.",
            "event_type_id": "Its event type (simplymeet.event_types.id).",
            "event_type_name": "The event type's name.",
            "owner_user_id": "The event's owner, the host (simplymeet.users.id).",
            "owner_email": "The owner's e-mail address.",
            "owner_name": "The owner's full name.",
            "invitee_name": "The invitee's full name.",
            "invitee_email": "The invitee's e-mail address.",
            "invitee_timezone": "The invitee's zone, as the API gives it.",
            "state": "The event's state as the API gives it: active, canceled or no_show.",
            "zone": "The zone of the _local columns: the owner's, else the event type's, else UTC "
            "(a zone PostgreSQL does not know counts as none).",
            "scheduled_at": "When it starts (timestamptz: an instant; shown in the session's TimeZone).",
            "end_at": "When it ends (timestamptz).",
            "scheduled_at_local": "When it starts, wall-clock time in zone.",
            "end_at_local": "When it ends, wall-clock time in zone.",
            "scheduled_on": "The local date it starts on.",
            "scheduled_week": "Monday of the local week it starts in.",
            "duration_minutes": "Its length in minutes.",
            "booked_at": "When it was booked (the event's createdAt).",
            "lead_time": "How long ahead it was booked: scheduled_at - booked_at.",
            "lead_time_hours": "lead_time in hours, to one decimal.",
            "canceled": "Whether it was canceled (state canceled, or a canceledAt).",
            "canceled_at": "When it was canceled.",
            "cancellation_reason": "The reason given when it was canceled.",
            "canceled_by": "Who canceled it, as the API names them.",
            "no_show": "Whether it was marked a no-show (state no_show).",
            "times_rescheduled": "How many times it was rescheduled (rows in simplymeet.event_rescheduling).",
            "location_type": "Where it takes place: custom, zoom, google_meet, ...",
            "payment_status": "The payment's status, when the event type is priced.",
            "payment_amount": "The amount paid or due (numeric).",
            "payment_currency": "The payment's currency.",
            "updated_at": "When the API last changed the event.",
        },
    ),
    (
        "weekly_bookings_by_event_type",
        """
SELECT scheduled_week AS week, event_type_id, event_type_name,
       count(*) AS bookings,
       count(*) FILTER (WHERE canceled) AS canceled,
       count(*) FILTER (WHERE no_show) AS no_shows
FROM simplymeet_bi.bookings
GROUP BY scheduled_week, event_type_id, event_type_name
""",
        "Bookings per local week they are scheduled in and event type.",
        {
            "week": "Monday of the local week (bookings.scheduled_week).",
            "event_type_id": "The event type.",
            "event_type_name": "The event type's name.",
            "bookings": "Bookings scheduled that week, canceled ones included.",
            "canceled": "Of those, canceled.",
            "no_shows": "Of those, marked no-show.",
        },
    ),
    (
        "cancellation_rates",
        """
SELECT date_trunc('month', scheduled_on)::date AS month, event_type_id, event_type_name,
       count(*) AS bookings,
       count(*) FILTER (WHERE canceled) AS canceled,
       round(count(*) FILTER (WHERE canceled)::numeric / count(*), 4) AS cancellation_rate
FROM simplymeet_bi.bookings
GROUP BY 1, event_type_id, event_type_name
""",
        "Share of bookings canceled, per local month they were scheduled in and event type.",
        {
            "month": "First day of the local month the bookings are scheduled in.",
            "event_type_id": "The event type.",
            "event_type_name": "The event type's name.",
            "bookings": "Bookings scheduled that month, canceled ones included.",
            "canceled": "Of those, canceled.",
            "cancellation_rate": "canceled / bookings, from 0 to 1, to four decimals.",
        },
    ),
    (
        "no_show_rates",
        """
SELECT date_trunc('month', scheduled_on)::date AS month, event_type_id, event_type_name,
       count(*) AS due,
       count(*) FILTER (WHERE no_show) AS no_shows,
       round(count(*) FILTER (WHERE no_show)::numeric / count(*), 4) AS no_show_rate
FROM simplymeet_bi.bookings
WHERE NOT canceled AND (scheduled_at <= now() OR no_show)
GROUP BY 1, event_type_id, event_type_name
""",
        "Share of meetings due that were no-shows, per local month and event type.",
        {
            "month": "First day of the local month the meetings were scheduled in.",
            "event_type_id": "The event type.",
            "event_type_name": "The event type's name.",
            "due": "Meetings that were due to take place: not canceled, and started by now "
            "(or already marked no-show).",
            "no_shows": "Of those, marked no-show.",
            "no_show_rate": "no_shows / due, from 0 to 1, to four decimals.",
        },
    ),
)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    op.execute(
        f"COMMENT ON SCHEMA {SCHEMA} IS 'Views for analysts over the simplymeet mirror (docs/analytics.md).'"
    )
    op.execute(KNOWN_ZONE)
    op.execute(
        f"COMMENT ON FUNCTION {SCHEMA}.known_zone(text) IS "
        + _literal("The zone if PostgreSQL knows it by that name, else NULL.")
    )
    for name, query, doc, columns in VIEWS:
        op.execute(f"CREATE VIEW {SCHEMA}.{name} AS {query.strip()}")
        op.execute(f"COMMENT ON VIEW {SCHEMA}.{name} IS {_literal(doc)}")
        for column, meaning in columns.items():
            op.execute(f"COMMENT ON COLUMN {SCHEMA}.{name}.{column} IS {_literal(meaning)}")


def downgrade() -> None:
    for name, *_ in reversed(VIEWS):
        op.execute(f"DROP VIEW {SCHEMA}.{name}")
    op.execute(f"DROP FUNCTION {SCHEMA}.known_zone(text)")
    op.execute(f"DROP SCHEMA {SCHEMA}")
