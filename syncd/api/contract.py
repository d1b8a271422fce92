"""The answer DTOs of the SimplyMeet API, declared once: every documented field, its kind and its shape.

This is the single source the mirror derives its tables, columns and row mapping from, and that
`docs/schema.md` lists. A test checks it against the field lists parsed from the reference text, so
a field the docs add cannot be forgotten here.

Shapes of a field:
- `Scalar`: one column of the given kind;
- `Embedded`: a 1:1 object flattened into its parent with the field name as column prefix;
- `Ref`: another top-level object: its id becomes `<field>_id`, and the copy is upserted into its table;
- `RefList`: an array of top-level objects: a link table;
- `Children`: an array of objects: a child table named `<parent singular>_<field>`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    """A scalar's kind; the mirror maps each to one PostgreSQL type."""

    ID = "bigint"
    INT = "integer"
    TEXT = "text"
    BOOL = "boolean"
    NUMERIC = "numeric"
    TIMESTAMP = "timestamptz"
    DATE = "date"
    TIME = "time"
    JSON = "jsonb"
    ID_ARRAY = "bigint[]"
    TEXT_ARRAY = "text[]"


@dataclass(frozen=True)
class Scalar:
    name: str
    kind: Kind
    doc: str


@dataclass(frozen=True)
class Embedded:
    name: str
    dto: str
    doc: str


@dataclass(frozen=True)
class Ref:
    name: str
    dto: str
    doc: str


@dataclass(frozen=True)
class RefList:
    name: str
    dto: str
    doc: str


@dataclass(frozen=True)
class Children:
    name: str
    dto: str
    doc: str


Field = Scalar | Embedded | Ref | RefList | Children


@dataclass(frozen=True)
class Dto:
    name: str
    title: str  # the section title in the reference text
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(f"{self.name} has no field {name!r}")


def _s(name: str, kind: Kind, doc: str) -> Scalar:
    return Scalar(name, kind, doc)


ID, N, T, B, M, TS, D, J = (
    Kind.ID,
    Kind.INT,
    Kind.TEXT,
    Kind.BOOL,
    Kind.NUMERIC,
    Kind.TIMESTAMP,
    Kind.DATE,
    Kind.JSON,
)

DTOS: dict[str, Dto] = {
    dto.name: dto
    for dto in (
        Dto(
            "SocialLinkDTO",
            "SocialLinkDTO",
            (
                _s("id", ID, "The unique identifier of the social link."),
                _s("facebookUrl", T, "The URL of the Facebook profile."),
                _s("twitterUrl", T, "The URL of the Twitter profile."),
                _s("instagramUrl", T, "The URL of the Instagram profile."),
                _s("linkedinUrl", T, "The URL of the LinkedIn profile."),
                _s("whatsappUrl", T, "The URL of the WhatsApp profile."),
            ),
        ),
        Dto(
            "OrganizationDTO",
            "OrganizationDTO",
            (
                _s("id", ID, "The unique identifier of the organization."),
                _s("uuid", T, "The unique UUID identifier of the organization."),
                _s("slug", T, "Slug (unique identifier for the organization)"),
                _s("name", T, "The name of the organization."),
                _s("createdAt", TS, "The date and time when the organization was created."),
                _s("locale", T, "The locale of the organization."),
                _s("rtl", B, "The right-to-left layout of the organization."),
                _s("calendarLayout", T, "The calendar layout of the organization."),
                _s("hideUnavailableDates", B, "Hide unavailable dates."),
                _s("sundayIsFirstDay", B, "Sunday is the first day of the week."),
                _s("email", T, "The email associated with the organization."),
                _s("intro", T, "The intro associated with the organization."),
                _s("domain", T, "The custom domain associated with the organization."),
                Embedded("socialLink", "SocialLinkDTO", "The social links associated with the organization."),
            ),
        ),
        Dto(
            "UserDTO",
            "User",
            (
                _s("id", ID, "The unique identifier of the user."),
                _s("uuid", T, "The UUID of the user"),
                _s("email", T, "The email address of the user."),
                _s("fullName", T, "The full name of the user."),
                _s("slug", T, "Slug (unique identifier for the user)"),
                _s("subscriptionUsersLimit", N, "The limit of users that can be added to the subscription."),
                _s("isSecondFactorConfigured", B, "Whether second factor authentication is configured."),
                _s("isEnabled", B, "Whether the user account is enabled."),
                _s("dateFormat", T, "The date format of the user."),
                _s("address", T, "The address of the user."),
                _s("state", T, "The state of the user's address."),
                _s("city", T, "The city of the user's address."),
                _s("zip", T, "The zip code of the user's address."),
                _s("countryId", T, "The country ID of the user's address (a string in the docs)."),
                _s("lat", M, "The latitude coordinate of the user's location."),
                _s("lng", M, "The longitude coordinate of the user's location."),
                _s("domain", T, "The custom domain associated with the user."),
                _s("phone", T, "The phone number associated with the user."),
                _s("companyLogoName", T, "The name of the company logo associated with the user."),
                _s("avatarName", T, "The name of the avatar associated with the user."),
                Ref("organization", "OrganizationDTO", "The organization details associated with the user."),
                _s("createdAt", TS, "The date and time when the user was created."),
                _s("lastLogin", TS, "The date and time of the user's last login."),
                _s("connections", J, "List of OAuth connections (free-form)."),
                _s("hasPaidSubscription", B, "Whether the user has a paid subscription."),
                _s("timezone", T, "timezone"),
                _s("timeFormat", T, "timeFormat"),
                _s("timezoneOffset", T, "timezoneOffset"),
            ),
        ),
        Dto(
            "InviteeDTO",
            "Invitee",
            (
                _s("id", ID, "The unique identifier of the invitee."),
                _s("email", T, "The email address of the invitee."),
                _s("fullName", T, "The full name of the invitee."),
                _s("timezone", T, "The timezone of the invitee."),
                _s("phoneNumber", T, "The phone number of the invitee."),
                _s("locale", T, "The locale of the invitee."),
                _s("cancellationPolicy", T, "The cancellation policy of the invitee."),
                _s("uuid", T, "The UUID of the invitee"),
            ),
        ),
        Dto(
            "CancellationDTO",
            "Cancellation",
            (
                _s("id", ID, "The unique identifier of the cancellation."),
                _s("canceler", T, "The user of the cancellation."),
                _s("reason", T, "The reason of the cancellation."),
            ),
        ),
        Dto(
            "ParticipantDTO",
            "Participant",
            (
                _s("id", ID, "The unique identifier of the participant."),
                _s("email", T, "The email address of the participant."),
                _s("createdAt", TS, "The creation date of the participant."),
            ),
        ),
        Dto(
            "AnswerDTO",
            "Answer",
            (
                _s("id", ID, "The unique identifier of the answer."),
                _s("questionLabel", T, "The label of the question."),
                _s("questionType", T, "The type of the question."),
                _s("value", T, "The value of the answer."),
                _s("plainValue", T, "The plain value of the answer."),
                _s("questionUuid", T, "questionUuid"),
            ),
        ),
        Dto(
            "ReschedulingDTO",
            "Rescheduling",
            (
                _s("id", ID, "The unique identifier of the rescheduling."),
                _s("rescheduler", T, "The user of the rescheduling."),
                _s("reason", T, "The reason of the rescheduling."),
                _s("previouslyScheduledAt", TS, "The date and time of the rescheduling."),
                Ref("previousUser", "UserDTO", "The user of the previous appointment."),
            ),
        ),
        Dto(
            "EventPaymentDTO",
            "EventPaymentDTO",
            (
                _s("provider", T, "provider"),
                _s("amount", M, "amount"),
                _s("currency", T, "currency"),
                _s("status", T, "status"),
                _s("system", T, "system"),
                _s("referenceId", ID, "referenceId"),
                _s("overwritePersonal", B, "overwritePersonal"),
            ),
        ),
        Dto(
            "EventTypeDurationDTO",
            "EventTypeDurationDTO",
            (
                _s("id", ID, "The unique identifier of the duration."),
                _s("duration", N, "Duration in minutes"),
            ),
        ),
        Dto(
            "EventTypeRequestLocationTypeDTO",
            "EventTypeRequestLocationTypeDTO",
            (
                _s("id", ID, "The unique identifier"),
                _s("locationType", T, "Location type: custom, zoom, request, whereby, google_meet, ..."),
            ),
        ),
        Dto(
            "QuestionDTO",
            "QuestionDTO",
            (
                _s("label", T, "The label of the question."),
                _s("type", T, "The type of the question."),
                _s("required", B, "Determines if the question is required or not."),
                _s("config", J, "Question config, free-form: [{label: 'value'}, ...]"),
                _s("uuid", T, "The unique identifier of the question."),
                _s("position", N, "The position/order of the question."),
            ),
        ),
        Dto(
            "EventTypeDTO",
            "Event type DTO",
            (
                _s("id", ID, "Unique identifier for the event type"),
                _s("name", T, "Name of the event type"),
                _s("color", T, "Color"),
                Ref("user", "UserDTO", "Event type owner"),
                _s("type", T, "Type: regular, round-robin, collective"),
                _s("duration", N, "Duration in minutes"),
                _s("slug", T, "Slug (unique identifier for the event type)"),
                _s("amount", M, "Amount"),
                _s("currency", T, "Currency"),
                _s("locationType", T, "Location type: custom, zoom, request, whereby, google_meet, ..."),
                _s("location", T, "Event location - custom text"),
                _s("isEnabled", B, "Whether the event type is enabled"),
                _s("isSecret", B, "Whether the event type is secret"),
                RefList("users", "UserDTO", "Users assigned to the event type"),
                _s("timezone", T, "Timezone"),
                _s("isLocalized", B, "Whether the booking page shows in the client's timezone"),
                _s("durationType", T, "Duration type: fixed or flexible"),
                Children("eventTypeDurations", "EventTypeDurationDTO", "Flexible durations"),
                _s("position", N, "Position"),
                Children(
                    "eventTypeRequestLocationTypes",
                    "EventTypeRequestLocationTypeDTO",
                    "Request location types",
                ),
                _s("uuid", T, "UUID attribute"),
                _s("isAllowCancel", B, "Display cancellation link in notifications"),
                _s("isAllowReschedule", B, "Display reschedule link in notifications"),
                _s("isShowPhone", B, "Whether phone is to be shown"),
                _s("isPhoneFieldRequired", B, "Whether the phone field is required"),
                Children("questions", "QuestionDTO", "Event type questions"),
                _s("isMultipleMeeting", B, "Allow clients to book multiple event slots"),
                _s("locationLabel", T, "Location question if location type = request"),
                _s("groupMeetingLimit", N, "Group meeting limit"),
                _s("showGroupMeetingRest", B, "Show group meeting rest"),
            ),
        ),
        Dto(
            "EventDTO",
            "Event DTO",
            (
                _s("id", ID, "Event ID"),
                _s("uuid", T, "Event UUID"),
                Ref("user", "UserDTO", "Event owner"),
                Ref("eventType", "EventTypeDTO", "Event type"),
                Embedded("invitee", "InviteeDTO", "Invitee"),
                Embedded("cancellation", "CancellationDTO", "Cancellation (null unless cancelled)"),
                Children("participants", "ParticipantDTO", "Participants"),
                Children("answers", "AnswerDTO", "Answers"),
                Children("rescheduling", "ReschedulingDTO", "Reschedulings"),
                Embedded("payment", "EventPaymentDTO", "Payment"),
                _s("createdAt", TS, "When the event was created."),
                _s("updatedAt", TS, "When the event was last updated."),
                _s("scheduledAt", TS, "When the event is scheduled (its start)."),
                _s("endDate", TS, "When the event ends."),
                _s("canceledAt", TS, "When the event was canceled."),
                _s("state", T, "Event state"),
                _s("notes", T, "Event notes"),
                _s("details", T, "Event details"),
                _s("location", T, "Event location"),
                _s("locationType", T, "Event location type"),
                _s("onlineEventId", T, "Online event ID"),
                _s("sentEmailReminder", N, "Sent email reminder"),
                _s("lastSentInviteeEmailReminder", N, "Last sent invitee email reminder"),
                _s("lastSentInviteeEmailFollowUp", N, "Last sent invitee email follow up"),
                _s("duration", N, "Event duration"),
                RefList("users", "UserDTO", "Users assigned to the event"),
                _s("relatedEventIds", Kind.ID_ARRAY, "Related event IDs"),
                _s("name", T, "Event name"),
                _s("description", T, "Event description"),
            ),
        ),
        Dto(
            "PollResultDTO",
            "Data Transfer Object (DTO) for Poll Result",
            (
                _s("email", T, "Email address of the client"),
                _s("comment", T, "Comment of the client"),
            ),
        ),
        Dto(
            "PollAvailabilityDTO",
            "Data Transfer Object (DTO) for Poll Availability",
            (
                _s("id", ID, "Poll availability slot ID"),
                _s("date", TS, "Slot date and time, ISO 8601"),
                Children("results", "PollResultDTO", "Poll results"),
            ),
        ),
        Dto(
            "PollDTO",
            "Data Transfer Object (DTO) for Poll",
            (
                _s("id", ID, "Poll ID"),
                _s("uuid", T, "Poll UUID"),
                Ref("user", "UserDTO", "Poll owner"),
                Ref("eventType", "EventTypeDTO", "Event type"),
                _s("voteVisibility", B, "Visibility of the poll vote"),
                _s("commentVisibility", B, "Visibility of the poll comment"),
                _s("emailNotification", B, "Email notification for the poll"),
                _s("duration", N, "Duration of the poll in minutes"),
                _s("name", T, "Name of the poll"),
                _s("createdAt", TS, "Creation date of the poll, ISO 8601"),
                Children("availability", "PollAvailabilityDTO", "Availability slots of the poll"),
            ),
        ),
        Dto(
            "EventTypeTagDTO",
            "Event Type Tag",
            (
                _s("id", ID, "The id of the event type tag"),
                _s("name", T, "The name of the event type tag"),
                _s("color", T, "The color of the event type tag"),
                _s("position", N, "The position of the event type tag"),
                _s("enabled", B, "Whether the event type tag is enabled"),
            ),
        ),
        Dto(
            "UserEventTypeTagDTO",
            "User Event Type Tag",
            (
                _s("id", ID, "The unique identifier of the event type tag."),
                _s("name", T, "The name of the event type tag."),
                _s("color", T, "The color of the event type tag."),
                _s("position", N, "The position of the event type tag."),
                Ref("user", "UserDTO", "The user associated with the event type tag."),
            ),
        ),
        Dto(
            "CancellationPolicyDTO",
            "Cancellation policy data transfer object",
            (
                _s("enabled", B, "Enabled status"),
                _s("period", N, "Cancellation policy period in minutes"),
                _s("label", T, "Cancellation policy label"),
                _s("text", T, "Cancellation policy text"),
                _s("version", N, "Version"),
                _s("type", T, "Type of the cancellation policy: 'user' or 'organization'"),
                _s("overwrite_personal", B, "Overwrite personal cancellation policy"),
            ),
        ),
        Dto(
            "AclRuleDTO",
            "Access Control List Rule schema",
            (
                _s("resource", T, "Resource name"),
                _s("attributes", Kind.TEXT_ARRAY, "Resource attributes"),
                _s("allowedAttributes", Kind.TEXT_ARRAY, "Allowed attributes for current user"),
            ),
        ),
        Dto(
            "EventTypeAvailabilityHoursDTO",
            "Event Type Availability Hours",
            (
                _s("start", T, "The start time of the availability hour"),
                _s("available", B, "Whether the hour is available"),
            ),
        ),
        Dto(
            "EventTypeAvailabilityDTO",
            "Event Type Availability",
            (
                _s("date", D, "The date of the availability"),
                Children("hours", "EventTypeAvailabilityHoursDTO", "Availability hours"),
                _s("available", B, "Whether the date is available"),
            ),
        ),
    )
}
