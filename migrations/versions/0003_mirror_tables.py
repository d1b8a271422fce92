"""The mirror: one typed table per resource, child and link tables (schema simplymeet).

Generated from syncd.db.mirror's declarations with alembic autogenerate, then reviewed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acl_rules",
        sa.Column("resource", sa.Text(), nullable=False, comment="AclRuleDTO.resource: Resource name"),
        sa.Column(
            "attributes",
            sa.ARRAY(sa.Text()),
            nullable=True,
            comment="AclRuleDTO.attributes: Resource attributes",
        ),
        sa.Column(
            "allowed_attributes",
            sa.ARRAY(sa.Text()),
            nullable=True,
            comment="AclRuleDTO.allowedAttributes: Allowed attributes for current user",
        ),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The object exactly as the API answered it.",
        ),
        sa.Column(
            "content_hash",
            sa.Text(),
            nullable=False,
            comment="Digest of raw: an unchanged object is not rewritten.",
        ),
        sa.Column(
            "first_synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd first saw it."
        ),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd last wrote it."
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a complete pass no longer found it upstream; NULL while it exists.",
        ),
        sa.PrimaryKeyConstraint("resource", name=op.f("pk_acl_rules")),
        schema="simplymeet",
        comment="Access control rules of the current user (`GET /panel/api/acl`).",
    )
    op.create_table(
        "cancellation_policies",
        sa.Column(
            "enabled", sa.Boolean(), nullable=True, comment="CancellationPolicyDTO.enabled: Enabled status"
        ),
        sa.Column(
            "period",
            sa.Integer(),
            nullable=True,
            comment="CancellationPolicyDTO.period: Cancellation policy period in minutes",
        ),
        sa.Column(
            "label",
            sa.Text(),
            nullable=True,
            comment="CancellationPolicyDTO.label: Cancellation policy label",
        ),
        sa.Column(
            "text", sa.Text(), nullable=True, comment="CancellationPolicyDTO.text: Cancellation policy text"
        ),
        sa.Column("version", sa.Integer(), nullable=True, comment="CancellationPolicyDTO.version: Version"),
        sa.Column(
            "type",
            sa.Text(),
            nullable=False,
            comment="CancellationPolicyDTO.type: Type of the cancellation policy: 'user' or 'organization'",
        ),
        sa.Column(
            "overwrite_personal",
            sa.Boolean(),
            nullable=True,
            comment="CancellationPolicyDTO.overwrite_personal: Overwrite personal cancellation policy",
        ),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The object exactly as the API answered it.",
        ),
        sa.Column(
            "content_hash",
            sa.Text(),
            nullable=False,
            comment="Digest of raw: an unchanged object is not rewritten.",
        ),
        sa.Column(
            "first_synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd first saw it."
        ),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd last wrote it."
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a complete pass no longer found it upstream; NULL while it exists.",
        ),
        sa.PrimaryKeyConstraint("type", name=op.f("pk_cancellation_policies")),
        schema="simplymeet",
        comment="The organization's and the user's cancellation policy (`GET /panel/api/organization-cancellation-policy`, `.../user-cancellation-policy`).",
    )
    op.create_table(
        "event_answers",
        sa.Column("event_id", sa.BigInteger(), nullable=False, comment="Key of the parent row (event_id)."),
        sa.Column(
            "item_index", sa.Integer(), nullable=False, comment="Index of the item in the array, from 0."
        ),
        sa.Column(
            "id", sa.BigInteger(), nullable=True, comment="AnswerDTO.id: The unique identifier of the answer."
        ),
        sa.Column(
            "question_label",
            sa.Text(),
            nullable=True,
            comment="AnswerDTO.questionLabel: The label of the question.",
        ),
        sa.Column(
            "question_type",
            sa.Text(),
            nullable=True,
            comment="AnswerDTO.questionType: The type of the question.",
        ),
        sa.Column("value", sa.Text(), nullable=True, comment="AnswerDTO.value: The value of the answer."),
        sa.Column(
            "plain_value",
            sa.Text(),
            nullable=True,
            comment="AnswerDTO.plainValue: The plain value of the answer.",
        ),
        sa.Column("question_uuid", sa.Text(), nullable=True, comment="AnswerDTO.questionUuid: questionUuid"),
        sa.PrimaryKeyConstraint("event_id", "item_index", name=op.f("pk_event_answers")),
        schema="simplymeet",
        comment="EventDTO.answers[]: Answers",
    )
    op.create_table(
        "event_participants",
        sa.Column("event_id", sa.BigInteger(), nullable=False, comment="Key of the parent row (event_id)."),
        sa.Column(
            "item_index", sa.Integer(), nullable=False, comment="Index of the item in the array, from 0."
        ),
        sa.Column(
            "id",
            sa.BigInteger(),
            nullable=True,
            comment="ParticipantDTO.id: The unique identifier of the participant.",
        ),
        sa.Column(
            "email",
            sa.Text(),
            nullable=True,
            comment="ParticipantDTO.email: The email address of the participant.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="ParticipantDTO.createdAt: The creation date of the participant.",
        ),
        sa.PrimaryKeyConstraint("event_id", "item_index", name=op.f("pk_event_participants")),
        schema="simplymeet",
        comment="EventDTO.participants[]: Participants",
    )
    op.create_table(
        "event_rescheduling",
        sa.Column("event_id", sa.BigInteger(), nullable=False, comment="Key of the parent row (event_id)."),
        sa.Column(
            "item_index", sa.Integer(), nullable=False, comment="Index of the item in the array, from 0."
        ),
        sa.Column(
            "id",
            sa.BigInteger(),
            nullable=True,
            comment="ReschedulingDTO.id: The unique identifier of the rescheduling.",
        ),
        sa.Column(
            "rescheduler",
            sa.Text(),
            nullable=True,
            comment="ReschedulingDTO.rescheduler: The user of the rescheduling.",
        ),
        sa.Column(
            "reason",
            sa.Text(),
            nullable=True,
            comment="ReschedulingDTO.reason: The reason of the rescheduling.",
        ),
        sa.Column(
            "previously_scheduled_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="ReschedulingDTO.previouslyScheduledAt: The date and time of the rescheduling.",
        ),
        sa.Column(
            "previous_user_id",
            sa.BigInteger(),
            nullable=True,
            comment="ReschedulingDTO.previousUser.id: The user of the previous appointment. (UserDTO)",
        ),
        sa.PrimaryKeyConstraint("event_id", "item_index", name=op.f("pk_event_rescheduling")),
        schema="simplymeet",
        comment="EventDTO.rescheduling[]: Reschedulings",
    )
    op.create_table(
        "event_type_availability",
        sa.Column(
            "event_type_id", sa.BigInteger(), nullable=False, comment="The event type this row was read for."
        ),
        sa.Column(
            "date",
            sa.Date(),
            nullable=False,
            comment="EventTypeAvailabilityDTO.date: The date of the availability",
        ),
        sa.Column(
            "available",
            sa.Boolean(),
            nullable=True,
            comment="EventTypeAvailabilityDTO.available: Whether the date is available",
        ),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The object exactly as the API answered it.",
        ),
        sa.Column(
            "content_hash",
            sa.Text(),
            nullable=False,
            comment="Digest of raw: an unchanged object is not rewritten.",
        ),
        sa.Column(
            "first_synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd first saw it."
        ),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd last wrote it."
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a complete pass no longer found it upstream; NULL while it exists.",
        ),
        sa.PrimaryKeyConstraint("event_type_id", "date", name=op.f("pk_event_type_availability")),
        schema="simplymeet",
        comment="Bookable days and hours of each event type for the next N days (`GET /panel/api/event-type/availability/{id}`).",
    )
    op.create_table(
        "event_type_availability_hours",
        sa.Column(
            "event_type_id", sa.BigInteger(), nullable=False, comment="Key of the parent row (event_type_id)."
        ),
        sa.Column("date", sa.Date(), nullable=False, comment="Key of the parent row (date)."),
        sa.Column(
            "item_index", sa.Integer(), nullable=False, comment="Index of the item in the array, from 0."
        ),
        sa.Column(
            "start",
            sa.Text(),
            nullable=True,
            comment="EventTypeAvailabilityHoursDTO.start: The start time of the availability hour",
        ),
        sa.Column(
            "available",
            sa.Boolean(),
            nullable=True,
            comment="EventTypeAvailabilityHoursDTO.available: Whether the hour is available",
        ),
        sa.PrimaryKeyConstraint(
            "event_type_id", "date", "item_index", name=op.f("pk_event_type_availability_hours")
        ),
        schema="simplymeet",
        comment="EventTypeAvailabilityDTO.hours[]: Availability hours",
    )
    op.create_table(
        "event_type_durations",
        sa.Column(
            "event_type_id", sa.BigInteger(), nullable=False, comment="Key of the parent row (event_type_id)."
        ),
        sa.Column(
            "item_index", sa.Integer(), nullable=False, comment="Index of the item in the array, from 0."
        ),
        sa.Column(
            "id",
            sa.BigInteger(),
            nullable=True,
            comment="EventTypeDurationDTO.id: The unique identifier of the duration.",
        ),
        sa.Column(
            "duration",
            sa.Integer(),
            nullable=True,
            comment="EventTypeDurationDTO.duration: Duration in minutes",
        ),
        sa.PrimaryKeyConstraint("event_type_id", "item_index", name=op.f("pk_event_type_durations")),
        schema="simplymeet",
        comment="EventTypeDTO.eventTypeDurations[]: Flexible durations",
    )
    op.create_table(
        "event_type_questions",
        sa.Column(
            "event_type_id", sa.BigInteger(), nullable=False, comment="Key of the parent row (event_type_id)."
        ),
        sa.Column(
            "item_index", sa.Integer(), nullable=False, comment="Index of the item in the array, from 0."
        ),
        sa.Column("label", sa.Text(), nullable=True, comment="QuestionDTO.label: The label of the question."),
        sa.Column("type", sa.Text(), nullable=True, comment="QuestionDTO.type: The type of the question."),
        sa.Column(
            "required",
            sa.Boolean(),
            nullable=True,
            comment="QuestionDTO.required: Determines if the question is required or not.",
        ),
        sa.Column(
            "config",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
            comment="QuestionDTO.config: Question config, free-form: [{label: 'value'}, ...]",
        ),
        sa.Column(
            "uuid",
            sa.Text(),
            nullable=True,
            comment="QuestionDTO.uuid: The unique identifier of the question.",
        ),
        sa.Column(
            "position",
            sa.Integer(),
            nullable=True,
            comment="QuestionDTO.position: The position/order of the question.",
        ),
        sa.PrimaryKeyConstraint("event_type_id", "item_index", name=op.f("pk_event_type_questions")),
        schema="simplymeet",
        comment="EventTypeDTO.questions[]: Event type questions",
    )
    op.create_table(
        "event_type_request_location_types",
        sa.Column(
            "event_type_id", sa.BigInteger(), nullable=False, comment="Key of the parent row (event_type_id)."
        ),
        sa.Column(
            "item_index", sa.Integer(), nullable=False, comment="Index of the item in the array, from 0."
        ),
        sa.Column(
            "id",
            sa.BigInteger(),
            nullable=True,
            comment="EventTypeRequestLocationTypeDTO.id: The unique identifier",
        ),
        sa.Column(
            "location_type",
            sa.Text(),
            nullable=True,
            comment="EventTypeRequestLocationTypeDTO.locationType: Location type: custom, zoom, request, whereby, google_meet, ...",
        ),
        sa.PrimaryKeyConstraint(
            "event_type_id", "item_index", name=op.f("pk_event_type_request_location_types")
        ),
        schema="simplymeet",
        comment="EventTypeDTO.eventTypeRequestLocationTypes[]: Request location types",
    )
    op.create_table(
        "event_type_tags",
        sa.Column(
            "event_type_id", sa.BigInteger(), nullable=False, comment="The event type this row was read for."
        ),
        sa.Column(
            "id", sa.BigInteger(), nullable=False, comment="EventTypeTagDTO.id: The id of the event type tag"
        ),
        sa.Column(
            "name", sa.Text(), nullable=True, comment="EventTypeTagDTO.name: The name of the event type tag"
        ),
        sa.Column(
            "color",
            sa.Text(),
            nullable=True,
            comment="EventTypeTagDTO.color: The color of the event type tag",
        ),
        sa.Column(
            "position",
            sa.Integer(),
            nullable=True,
            comment="EventTypeTagDTO.position: The position of the event type tag",
        ),
        sa.Column(
            "enabled",
            sa.Boolean(),
            nullable=True,
            comment="EventTypeTagDTO.enabled: Whether the event type tag is enabled",
        ),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The object exactly as the API answered it.",
        ),
        sa.Column(
            "content_hash",
            sa.Text(),
            nullable=False,
            comment="Digest of raw: an unchanged object is not rewritten.",
        ),
        sa.Column(
            "first_synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd first saw it."
        ),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd last wrote it."
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a complete pass no longer found it upstream; NULL while it exists.",
        ),
        sa.PrimaryKeyConstraint("event_type_id", "id", name=op.f("pk_event_type_tags")),
        schema="simplymeet",
        comment="Tags attached to each event type (`GET /panel/api/event-type/{id}/tag/list`).",
    )
    op.create_table(
        "event_type_users",
        sa.Column(
            "event_type_id", sa.BigInteger(), nullable=False, comment="Key of the parent row (event_type_id)."
        ),
        sa.Column(
            "item_index", sa.Integer(), nullable=False, comment="Index of the item in the array, from 0."
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=False, comment="EventTypeDTO.users[].id"),
        sa.PrimaryKeyConstraint("event_type_id", "item_index", name=op.f("pk_event_type_users")),
        schema="simplymeet",
        comment="Users assigned to the event type",
    )
    op.create_table(
        "event_types",
        sa.Column(
            "id",
            sa.BigInteger(),
            nullable=False,
            comment="EventTypeDTO.id: Unique identifier for the event type",
        ),
        sa.Column("name", sa.Text(), nullable=True, comment="EventTypeDTO.name: Name of the event type"),
        sa.Column("color", sa.Text(), nullable=True, comment="EventTypeDTO.color: Color"),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            nullable=True,
            comment="EventTypeDTO.user.id: Event type owner (UserDTO)",
        ),
        sa.Column(
            "type",
            sa.Text(),
            nullable=True,
            comment="EventTypeDTO.type: Type: regular, round-robin, collective",
        ),
        sa.Column(
            "duration", sa.Integer(), nullable=True, comment="EventTypeDTO.duration: Duration in minutes"
        ),
        sa.Column(
            "slug",
            sa.Text(),
            nullable=True,
            comment="EventTypeDTO.slug: Slug (unique identifier for the event type)",
        ),
        sa.Column("amount", sa.Numeric(), nullable=True, comment="EventTypeDTO.amount: Amount"),
        sa.Column("currency", sa.Text(), nullable=True, comment="EventTypeDTO.currency: Currency"),
        sa.Column(
            "location_type",
            sa.Text(),
            nullable=True,
            comment="EventTypeDTO.locationType: Location type: custom, zoom, request, whereby, google_meet, ...",
        ),
        sa.Column(
            "location",
            sa.Text(),
            nullable=True,
            comment="EventTypeDTO.location: Event location - custom text",
        ),
        sa.Column(
            "is_enabled",
            sa.Boolean(),
            nullable=True,
            comment="EventTypeDTO.isEnabled: Whether the event type is enabled",
        ),
        sa.Column(
            "is_secret",
            sa.Boolean(),
            nullable=True,
            comment="EventTypeDTO.isSecret: Whether the event type is secret",
        ),
        sa.Column("timezone", sa.Text(), nullable=True, comment="EventTypeDTO.timezone: Timezone"),
        sa.Column(
            "is_localized",
            sa.Boolean(),
            nullable=True,
            comment="EventTypeDTO.isLocalized: Whether the booking page shows in the client's timezone",
        ),
        sa.Column(
            "duration_type",
            sa.Text(),
            nullable=True,
            comment="EventTypeDTO.durationType: Duration type: fixed or flexible",
        ),
        sa.Column("position", sa.Integer(), nullable=True, comment="EventTypeDTO.position: Position"),
        sa.Column("uuid", sa.Text(), nullable=True, comment="EventTypeDTO.uuid: UUID attribute"),
        sa.Column(
            "is_allow_cancel",
            sa.Boolean(),
            nullable=True,
            comment="EventTypeDTO.isAllowCancel: Display cancellation link in notifications",
        ),
        sa.Column(
            "is_allow_reschedule",
            sa.Boolean(),
            nullable=True,
            comment="EventTypeDTO.isAllowReschedule: Display reschedule link in notifications",
        ),
        sa.Column(
            "is_show_phone",
            sa.Boolean(),
            nullable=True,
            comment="EventTypeDTO.isShowPhone: Whether phone is to be shown",
        ),
        sa.Column(
            "is_phone_field_required",
            sa.Boolean(),
            nullable=True,
            comment="EventTypeDTO.isPhoneFieldRequired: Whether the phone field is required",
        ),
        sa.Column(
            "is_multiple_meeting",
            sa.Boolean(),
            nullable=True,
            comment="EventTypeDTO.isMultipleMeeting: Allow clients to book multiple event slots",
        ),
        sa.Column(
            "location_label",
            sa.Text(),
            nullable=True,
            comment="EventTypeDTO.locationLabel: Location question if location type = request",
        ),
        sa.Column(
            "group_meeting_limit",
            sa.Integer(),
            nullable=True,
            comment="EventTypeDTO.groupMeetingLimit: Group meeting limit",
        ),
        sa.Column(
            "show_group_meeting_rest",
            sa.Boolean(),
            nullable=True,
            comment="EventTypeDTO.showGroupMeetingRest: Show group meeting rest",
        ),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The object exactly as the API answered it.",
        ),
        sa.Column(
            "content_hash",
            sa.Text(),
            nullable=False,
            comment="Digest of raw: an unchanged object is not rewritten.",
        ),
        sa.Column(
            "first_synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd first saw it."
        ),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd last wrote it."
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a complete pass no longer found it upstream; NULL while it exists.",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_types")),
        schema="simplymeet",
        comment="Event types (meeting types) (`GET /panel/api/event-type/list`).",
    )
    op.create_table(
        "event_users",
        sa.Column("event_id", sa.BigInteger(), nullable=False, comment="Key of the parent row (event_id)."),
        sa.Column(
            "item_index", sa.Integer(), nullable=False, comment="Index of the item in the array, from 0."
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=False, comment="EventDTO.users[].id"),
        sa.PrimaryKeyConstraint("event_id", "item_index", name=op.f("pk_event_users")),
        schema="simplymeet",
        comment="Users assigned to the event",
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), nullable=False, comment="EventDTO.id: Event ID"),
        sa.Column("uuid", sa.Text(), nullable=True, comment="EventDTO.uuid: Event UUID"),
        sa.Column(
            "user_id", sa.BigInteger(), nullable=True, comment="EventDTO.user.id: Event owner (UserDTO)"
        ),
        sa.Column(
            "event_type_id",
            sa.BigInteger(),
            nullable=True,
            comment="EventDTO.eventType.id: Event type (EventTypeDTO)",
        ),
        sa.Column(
            "invitee_id",
            sa.BigInteger(),
            nullable=True,
            comment="InviteeDTO.invitee.id: The unique identifier of the invitee.",
        ),
        sa.Column(
            "invitee_email",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.email: The email address of the invitee.",
        ),
        sa.Column(
            "invitee_full_name",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.fullName: The full name of the invitee.",
        ),
        sa.Column(
            "invitee_timezone",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.timezone: The timezone of the invitee.",
        ),
        sa.Column(
            "invitee_phone_number",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.phoneNumber: The phone number of the invitee.",
        ),
        sa.Column(
            "invitee_locale",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.locale: The locale of the invitee.",
        ),
        sa.Column(
            "invitee_cancellation_policy",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.cancellationPolicy: The cancellation policy of the invitee.",
        ),
        sa.Column(
            "invitee_uuid",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.uuid: The UUID of the invitee",
        ),
        sa.Column(
            "cancellation_id",
            sa.BigInteger(),
            nullable=True,
            comment="CancellationDTO.cancellation.id: The unique identifier of the cancellation.",
        ),
        sa.Column(
            "cancellation_canceler",
            sa.Text(),
            nullable=True,
            comment="CancellationDTO.cancellation.canceler: The user of the cancellation.",
        ),
        sa.Column(
            "cancellation_reason",
            sa.Text(),
            nullable=True,
            comment="CancellationDTO.cancellation.reason: The reason of the cancellation.",
        ),
        sa.Column(
            "payment_provider", sa.Text(), nullable=True, comment="EventPaymentDTO.payment.provider: provider"
        ),
        sa.Column(
            "payment_amount", sa.Numeric(), nullable=True, comment="EventPaymentDTO.payment.amount: amount"
        ),
        sa.Column(
            "payment_currency", sa.Text(), nullable=True, comment="EventPaymentDTO.payment.currency: currency"
        ),
        sa.Column(
            "payment_status", sa.Text(), nullable=True, comment="EventPaymentDTO.payment.status: status"
        ),
        sa.Column(
            "payment_system", sa.Text(), nullable=True, comment="EventPaymentDTO.payment.system: system"
        ),
        sa.Column(
            "payment_reference_id",
            sa.BigInteger(),
            nullable=True,
            comment="EventPaymentDTO.payment.referenceId: referenceId",
        ),
        sa.Column(
            "payment_overwrite_personal",
            sa.Boolean(),
            nullable=True,
            comment="EventPaymentDTO.payment.overwritePersonal: overwritePersonal",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="EventDTO.createdAt: When the event was created.",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="EventDTO.updatedAt: When the event was last updated.",
        ),
        sa.Column(
            "scheduled_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="EventDTO.scheduledAt: When the event is scheduled (its start).",
        ),
        sa.Column(
            "end_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="EventDTO.endDate: When the event ends.",
        ),
        sa.Column(
            "canceled_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="EventDTO.canceledAt: When the event was canceled.",
        ),
        sa.Column("state", sa.Text(), nullable=True, comment="EventDTO.state: Event state"),
        sa.Column("notes", sa.Text(), nullable=True, comment="EventDTO.notes: Event notes"),
        sa.Column("details", sa.Text(), nullable=True, comment="EventDTO.details: Event details"),
        sa.Column("location", sa.Text(), nullable=True, comment="EventDTO.location: Event location"),
        sa.Column(
            "location_type", sa.Text(), nullable=True, comment="EventDTO.locationType: Event location type"
        ),
        sa.Column(
            "online_event_id", sa.Text(), nullable=True, comment="EventDTO.onlineEventId: Online event ID"
        ),
        sa.Column(
            "sent_email_reminder",
            sa.Integer(),
            nullable=True,
            comment="EventDTO.sentEmailReminder: Sent email reminder",
        ),
        sa.Column(
            "last_sent_invitee_email_reminder",
            sa.Integer(),
            nullable=True,
            comment="EventDTO.lastSentInviteeEmailReminder: Last sent invitee email reminder",
        ),
        sa.Column(
            "last_sent_invitee_email_follow_up",
            sa.Integer(),
            nullable=True,
            comment="EventDTO.lastSentInviteeEmailFollowUp: Last sent invitee email follow up",
        ),
        sa.Column("duration", sa.Integer(), nullable=True, comment="EventDTO.duration: Event duration"),
        sa.Column(
            "related_event_ids",
            sa.ARRAY(sa.BigInteger()),
            nullable=True,
            comment="EventDTO.relatedEventIds: Related event IDs",
        ),
        sa.Column("name", sa.Text(), nullable=True, comment="EventDTO.name: Event name"),
        sa.Column("description", sa.Text(), nullable=True, comment="EventDTO.description: Event description"),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The object exactly as the API answered it.",
        ),
        sa.Column(
            "content_hash",
            sa.Text(),
            nullable=False,
            comment="Digest of raw: an unchanged object is not rewritten.",
        ),
        sa.Column(
            "first_synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd first saw it."
        ),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd last wrote it."
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a complete pass no longer found it upstream; NULL while it exists.",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        schema="simplymeet",
        comment="Events (bookings) (`GET /panel/api/event/list`).",
    )
    op.create_index("ix_events_event_type_id", "events", ["event_type_id"], unique=False, schema="simplymeet")
    op.create_index("ix_events_scheduled_at", "events", ["scheduled_at"], unique=False, schema="simplymeet")
    op.create_index("ix_events_updated_at", "events", ["updated_at"], unique=False, schema="simplymeet")
    op.create_index("ix_events_user_id", "events", ["user_id"], unique=False, schema="simplymeet")
    op.create_table(
        "integrations",
        sa.Column(
            "key",
            sa.Text(),
            nullable=False,
            comment="The integration's id when it has one, else a digest of the object.",
        ),
        sa.Column("scope", sa.Text(), nullable=False, comment="Whose integration: 'user' or 'organization'."),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The object exactly as the API answered it.",
        ),
        sa.Column(
            "content_hash",
            sa.Text(),
            nullable=False,
            comment="Digest of raw: an unchanged object is not rewritten.",
        ),
        sa.Column(
            "first_synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd first saw it."
        ),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd last wrote it."
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a complete pass no longer found it upstream; NULL while it exists.",
        ),
        sa.PrimaryKeyConstraint("key", "scope", name=op.f("pk_integrations")),
        schema="simplymeet",
        comment="Connected integrations, user and organization (`GET /panel/api/integration/list`); the docs give no fields, so each is kept whole in `raw`.",
    )
    op.create_table(
        "organizations",
        sa.Column(
            "id",
            sa.BigInteger(),
            nullable=False,
            comment="OrganizationDTO.id: The unique identifier of the organization.",
        ),
        sa.Column(
            "uuid",
            sa.Text(),
            nullable=True,
            comment="OrganizationDTO.uuid: The unique UUID identifier of the organization.",
        ),
        sa.Column(
            "slug",
            sa.Text(),
            nullable=True,
            comment="OrganizationDTO.slug: Slug (unique identifier for the organization)",
        ),
        sa.Column(
            "name", sa.Text(), nullable=True, comment="OrganizationDTO.name: The name of the organization."
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="OrganizationDTO.createdAt: The date and time when the organization was created.",
        ),
        sa.Column(
            "locale",
            sa.Text(),
            nullable=True,
            comment="OrganizationDTO.locale: The locale of the organization.",
        ),
        sa.Column(
            "rtl",
            sa.Boolean(),
            nullable=True,
            comment="OrganizationDTO.rtl: The right-to-left layout of the organization.",
        ),
        sa.Column(
            "calendar_layout",
            sa.Text(),
            nullable=True,
            comment="OrganizationDTO.calendarLayout: The calendar layout of the organization.",
        ),
        sa.Column(
            "hide_unavailable_dates",
            sa.Boolean(),
            nullable=True,
            comment="OrganizationDTO.hideUnavailableDates: Hide unavailable dates.",
        ),
        sa.Column(
            "sunday_is_first_day",
            sa.Boolean(),
            nullable=True,
            comment="OrganizationDTO.sundayIsFirstDay: Sunday is the first day of the week.",
        ),
        sa.Column(
            "email",
            sa.Text(),
            nullable=True,
            comment="OrganizationDTO.email: The email associated with the organization.",
        ),
        sa.Column(
            "intro",
            sa.Text(),
            nullable=True,
            comment="OrganizationDTO.intro: The intro associated with the organization.",
        ),
        sa.Column(
            "domain",
            sa.Text(),
            nullable=True,
            comment="OrganizationDTO.domain: The custom domain associated with the organization.",
        ),
        sa.Column(
            "social_link_id",
            sa.BigInteger(),
            nullable=True,
            comment="SocialLinkDTO.socialLink.id: The unique identifier of the social link.",
        ),
        sa.Column(
            "social_link_facebook_url",
            sa.Text(),
            nullable=True,
            comment="SocialLinkDTO.socialLink.facebookUrl: The URL of the Facebook profile.",
        ),
        sa.Column(
            "social_link_twitter_url",
            sa.Text(),
            nullable=True,
            comment="SocialLinkDTO.socialLink.twitterUrl: The URL of the Twitter profile.",
        ),
        sa.Column(
            "social_link_instagram_url",
            sa.Text(),
            nullable=True,
            comment="SocialLinkDTO.socialLink.instagramUrl: The URL of the Instagram profile.",
        ),
        sa.Column(
            "social_link_linkedin_url",
            sa.Text(),
            nullable=True,
            comment="SocialLinkDTO.socialLink.linkedinUrl: The URL of the LinkedIn profile.",
        ),
        sa.Column(
            "social_link_whatsapp_url",
            sa.Text(),
            nullable=True,
            comment="SocialLinkDTO.socialLink.whatsappUrl: The URL of the WhatsApp profile.",
        ),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The object exactly as the API answered it.",
        ),
        sa.Column(
            "content_hash",
            sa.Text(),
            nullable=False,
            comment="Digest of raw: an unchanged object is not rewritten.",
        ),
        sa.Column(
            "first_synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd first saw it."
        ),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd last wrote it."
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a complete pass no longer found it upstream; NULL while it exists.",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        schema="simplymeet",
        comment="Organizations, as they arrive nested in users (no endpoint lists them).",
    )
    op.create_table(
        "poll_availability",
        sa.Column("poll_id", sa.BigInteger(), nullable=False, comment="Key of the parent row (poll_id)."),
        sa.Column(
            "item_index", sa.Integer(), nullable=False, comment="Index of the item in the array, from 0."
        ),
        sa.Column(
            "id", sa.BigInteger(), nullable=True, comment="PollAvailabilityDTO.id: Poll availability slot ID"
        ),
        sa.Column(
            "date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="PollAvailabilityDTO.date: Slot date and time, ISO 8601",
        ),
        sa.PrimaryKeyConstraint("poll_id", "item_index", name=op.f("pk_poll_availability")),
        schema="simplymeet",
        comment="PollDTO.availability[]: Availability slots of the poll",
    )
    op.create_table(
        "poll_availability_results",
        sa.Column("poll_id", sa.BigInteger(), nullable=False, comment="Key of the parent row (poll_id)."),
        sa.Column(
            "availability_index",
            sa.Integer(),
            nullable=False,
            comment="Key of the parent row (availability_index).",
        ),
        sa.Column(
            "item_index", sa.Integer(), nullable=False, comment="Index of the item in the array, from 0."
        ),
        sa.Column(
            "email", sa.Text(), nullable=True, comment="PollResultDTO.email: Email address of the client"
        ),
        sa.Column(
            "comment", sa.Text(), nullable=True, comment="PollResultDTO.comment: Comment of the client"
        ),
        sa.PrimaryKeyConstraint(
            "poll_id", "availability_index", "item_index", name=op.f("pk_poll_availability_results")
        ),
        schema="simplymeet",
        comment="PollAvailabilityDTO.results[]: Poll results",
    )
    op.create_table(
        "polls",
        sa.Column("id", sa.BigInteger(), nullable=False, comment="PollDTO.id: Poll ID"),
        sa.Column("uuid", sa.Text(), nullable=True, comment="PollDTO.uuid: Poll UUID"),
        sa.Column("user_id", sa.BigInteger(), nullable=True, comment="PollDTO.user.id: Poll owner (UserDTO)"),
        sa.Column(
            "event_type_id",
            sa.BigInteger(),
            nullable=True,
            comment="PollDTO.eventType.id: Event type (EventTypeDTO)",
        ),
        sa.Column(
            "vote_visibility",
            sa.Boolean(),
            nullable=True,
            comment="PollDTO.voteVisibility: Visibility of the poll vote",
        ),
        sa.Column(
            "comment_visibility",
            sa.Boolean(),
            nullable=True,
            comment="PollDTO.commentVisibility: Visibility of the poll comment",
        ),
        sa.Column(
            "email_notification",
            sa.Boolean(),
            nullable=True,
            comment="PollDTO.emailNotification: Email notification for the poll",
        ),
        sa.Column(
            "duration",
            sa.Integer(),
            nullable=True,
            comment="PollDTO.duration: Duration of the poll in minutes",
        ),
        sa.Column("name", sa.Text(), nullable=True, comment="PollDTO.name: Name of the poll"),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="PollDTO.createdAt: Creation date of the poll, ISO 8601",
        ),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The object exactly as the API answered it.",
        ),
        sa.Column(
            "content_hash",
            sa.Text(),
            nullable=False,
            comment="Digest of raw: an unchanged object is not rewritten.",
        ),
        sa.Column(
            "first_synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd first saw it."
        ),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd last wrote it."
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a complete pass no longer found it upstream; NULL while it exists.",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polls")),
        schema="simplymeet",
        comment="Polls (meeting polls) with their slots and votes (`GET /panel/api/poll/list`).",
    )
    op.create_table(
        "user_event_type_tags",
        sa.Column(
            "id",
            sa.BigInteger(),
            nullable=False,
            comment="UserEventTypeTagDTO.id: The unique identifier of the event type tag.",
        ),
        sa.Column(
            "name",
            sa.Text(),
            nullable=True,
            comment="UserEventTypeTagDTO.name: The name of the event type tag.",
        ),
        sa.Column(
            "color",
            sa.Text(),
            nullable=True,
            comment="UserEventTypeTagDTO.color: The color of the event type tag.",
        ),
        sa.Column(
            "position",
            sa.Integer(),
            nullable=True,
            comment="UserEventTypeTagDTO.position: The position of the event type tag.",
        ),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            nullable=True,
            comment="UserEventTypeTagDTO.user.id: The user associated with the event type tag. (UserDTO)",
        ),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The object exactly as the API answered it.",
        ),
        sa.Column(
            "content_hash",
            sa.Text(),
            nullable=False,
            comment="Digest of raw: an unchanged object is not rewritten.",
        ),
        sa.Column(
            "first_synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd first saw it."
        ),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd last wrote it."
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a complete pass no longer found it upstream; NULL while it exists.",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_event_type_tags")),
        schema="simplymeet",
        comment="The user's event type tags (`GET /panel/api/user-event-type-tag/list`).",
    )
    op.create_table(
        "users",
        sa.Column(
            "id", sa.BigInteger(), nullable=False, comment="UserDTO.id: The unique identifier of the user."
        ),
        sa.Column("uuid", sa.Text(), nullable=True, comment="UserDTO.uuid: The UUID of the user"),
        sa.Column("email", sa.Text(), nullable=True, comment="UserDTO.email: The email address of the user."),
        sa.Column(
            "full_name", sa.Text(), nullable=True, comment="UserDTO.fullName: The full name of the user."
        ),
        sa.Column(
            "slug", sa.Text(), nullable=True, comment="UserDTO.slug: Slug (unique identifier for the user)"
        ),
        sa.Column(
            "subscription_users_limit",
            sa.Integer(),
            nullable=True,
            comment="UserDTO.subscriptionUsersLimit: The limit of users that can be added to the subscription.",
        ),
        sa.Column(
            "is_second_factor_configured",
            sa.Boolean(),
            nullable=True,
            comment="UserDTO.isSecondFactorConfigured: Whether second factor authentication is configured.",
        ),
        sa.Column(
            "is_enabled",
            sa.Boolean(),
            nullable=True,
            comment="UserDTO.isEnabled: Whether the user account is enabled.",
        ),
        sa.Column(
            "date_format",
            sa.Text(),
            nullable=True,
            comment="UserDTO.dateFormat: The date format of the user.",
        ),
        sa.Column("address", sa.Text(), nullable=True, comment="UserDTO.address: The address of the user."),
        sa.Column(
            "state", sa.Text(), nullable=True, comment="UserDTO.state: The state of the user's address."
        ),
        sa.Column("city", sa.Text(), nullable=True, comment="UserDTO.city: The city of the user's address."),
        sa.Column(
            "zip", sa.Text(), nullable=True, comment="UserDTO.zip: The zip code of the user's address."
        ),
        sa.Column(
            "country_id",
            sa.Text(),
            nullable=True,
            comment="UserDTO.countryId: The country ID of the user's address (a string in the docs).",
        ),
        sa.Column(
            "lat",
            sa.Numeric(),
            nullable=True,
            comment="UserDTO.lat: The latitude coordinate of the user's location.",
        ),
        sa.Column(
            "lng",
            sa.Numeric(),
            nullable=True,
            comment="UserDTO.lng: The longitude coordinate of the user's location.",
        ),
        sa.Column(
            "domain",
            sa.Text(),
            nullable=True,
            comment="UserDTO.domain: The custom domain associated with the user.",
        ),
        sa.Column(
            "phone",
            sa.Text(),
            nullable=True,
            comment="UserDTO.phone: The phone number associated with the user.",
        ),
        sa.Column(
            "company_logo_name",
            sa.Text(),
            nullable=True,
            comment="UserDTO.companyLogoName: The name of the company logo associated with the user.",
        ),
        sa.Column(
            "avatar_name",
            sa.Text(),
            nullable=True,
            comment="UserDTO.avatarName: The name of the avatar associated with the user.",
        ),
        sa.Column(
            "organization_id",
            sa.BigInteger(),
            nullable=True,
            comment="UserDTO.organization.id: The organization details associated with the user. (OrganizationDTO)",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="UserDTO.createdAt: The date and time when the user was created.",
        ),
        sa.Column(
            "last_login",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="UserDTO.lastLogin: The date and time of the user's last login.",
        ),
        sa.Column(
            "connections",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
            comment="UserDTO.connections: List of OAuth connections (free-form).",
        ),
        sa.Column(
            "has_paid_subscription",
            sa.Boolean(),
            nullable=True,
            comment="UserDTO.hasPaidSubscription: Whether the user has a paid subscription.",
        ),
        sa.Column("timezone", sa.Text(), nullable=True, comment="UserDTO.timezone: timezone"),
        sa.Column("time_format", sa.Text(), nullable=True, comment="UserDTO.timeFormat: timeFormat"),
        sa.Column(
            "timezone_offset", sa.Text(), nullable=True, comment="UserDTO.timezoneOffset: timezoneOffset"
        ),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The object exactly as the API answered it.",
        ),
        sa.Column(
            "content_hash",
            sa.Text(),
            nullable=False,
            comment="Digest of raw: an unchanged object is not rewritten.",
        ),
        sa.Column(
            "first_synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd first saw it."
        ),
        sa.Column(
            "synced_at", sa.DateTime(timezone=True), nullable=False, comment="When syncd last wrote it."
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a complete pass no longer found it upstream; NULL while it exists.",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        schema="simplymeet",
        comment="Users of the account (`GET /panel/api/user/list`).",
    )


def downgrade() -> None:
    op.drop_table("users", schema="simplymeet")
    op.drop_table("user_event_type_tags", schema="simplymeet")
    op.drop_table("polls", schema="simplymeet")
    op.drop_table("poll_availability_results", schema="simplymeet")
    op.drop_table("poll_availability", schema="simplymeet")
    op.drop_table("organizations", schema="simplymeet")
    op.drop_table("integrations", schema="simplymeet")
    op.drop_index("ix_events_user_id", table_name="events", schema="simplymeet")
    op.drop_index("ix_events_updated_at", table_name="events", schema="simplymeet")
    op.drop_index("ix_events_scheduled_at", table_name="events", schema="simplymeet")
    op.drop_index("ix_events_event_type_id", table_name="events", schema="simplymeet")
    op.drop_table("events", schema="simplymeet")
    op.drop_table("event_users", schema="simplymeet")
    op.drop_table("event_types", schema="simplymeet")
    op.drop_table("event_type_users", schema="simplymeet")
    op.drop_table("event_type_tags", schema="simplymeet")
    op.drop_table("event_type_request_location_types", schema="simplymeet")
    op.drop_table("event_type_questions", schema="simplymeet")
    op.drop_table("event_type_durations", schema="simplymeet")
    op.drop_table("event_type_availability_hours", schema="simplymeet")
    op.drop_table("event_type_availability", schema="simplymeet")
    op.drop_table("event_rescheduling", schema="simplymeet")
    op.drop_table("event_participants", schema="simplymeet")
    op.drop_table("event_answers", schema="simplymeet")
    op.drop_table("cancellation_policies", schema="simplymeet")
    op.drop_table("acl_rules", schema="simplymeet")
