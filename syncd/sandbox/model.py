"""The sandbox's normalized records.

Attribute names are the documented DTO field names (camelCase, as the docs spell them) so that
rendering is a lookup; relations hold ids and are resolved at answer time; instants are UTC epoch
seconds, rendered with an offset only on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SocialLink:
    id: int
    facebookUrl: str | None
    twitterUrl: str | None
    instagramUrl: str | None
    linkedinUrl: str | None
    whatsappUrl: str | None


@dataclass(slots=True)
class Organization:
    id: int
    uuid: str
    slug: str
    name: str
    createdAt: int
    locale: str
    rtl: bool
    calendarLayout: str
    hideUnavailableDates: bool
    sundayIsFirstDay: bool
    email: str
    intro: str | None
    domain: str | None
    socialLink: SocialLink


@dataclass(slots=True)
class User:
    id: int
    uuid: str
    email: str
    fullName: str
    slug: str
    subscriptionUsersLimit: int
    isSecondFactorConfigured: bool
    isEnabled: bool
    dateFormat: str
    address: str | None
    state: str | None
    city: str | None
    zip: str | None
    countryId: str | None
    lat: float | None
    lng: float | None
    domain: str | None
    phone: str | None
    companyLogoName: str | None
    avatarName: str | None
    createdAt: int
    lastLogin: int | None
    connections: list[str]
    hasPaidSubscription: bool
    timezone: str
    timeFormat: str
    timezoneOffset: str


@dataclass(slots=True)
class Duration:
    id: int
    duration: int


@dataclass(slots=True)
class RequestLocationType:
    id: int
    locationType: str


@dataclass(slots=True)
class Question:
    label: str
    type: str
    required: bool
    config: list[dict[str, str]]
    uuid: str
    position: int


@dataclass(slots=True)
class EventType:
    id: int
    name: str
    color: str
    user: int
    type: str
    duration: int
    slug: str
    amount: float | None
    currency: str | None
    locationType: str
    location: str | None
    isEnabled: bool
    isSecret: bool
    users: list[int]
    timezone: str
    isLocalized: bool
    durationType: str
    eventTypeDurations: list[Duration]
    position: int
    eventTypeRequestLocationTypes: list[RequestLocationType]
    uuid: str
    isAllowCancel: bool
    isAllowReschedule: bool
    isShowPhone: bool
    isPhoneFieldRequired: bool
    questions: list[Question]
    isMultipleMeeting: bool
    locationLabel: str | None
    groupMeetingLimit: int | None
    showGroupMeetingRest: bool
    # Not in EventTypeDTO: tag ids, and the weekly pattern behind /event-type/availability
    # (weekday 0=Monday -> [(start minute, end minute)]) plus per-date overrides ("YYYY-MM-DD").
    tags: list[int] = field(default_factory=list)
    weekly: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    dates: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


@dataclass(slots=True)
class Invitee:
    id: int
    email: str
    fullName: str
    timezone: str
    phoneNumber: str | None
    locale: str | None
    cancellationPolicy: str | None
    uuid: str


@dataclass(slots=True)
class Cancellation:
    id: int
    canceler: str
    reason: str | None


@dataclass(slots=True)
class Participant:
    id: int
    email: str
    createdAt: int


@dataclass(slots=True)
class Answer:
    id: int
    questionLabel: str
    questionType: str
    value: str
    plainValue: str
    questionUuid: str


@dataclass(slots=True)
class Rescheduling:
    id: int
    rescheduler: str
    reason: str | None
    previouslyScheduledAt: int
    previousUser: int | None


@dataclass(slots=True)
class Payment:
    provider: str
    amount: float
    currency: str
    status: str
    system: str
    referenceId: int
    overwritePersonal: bool


@dataclass(slots=True)
class Event:
    id: int
    uuid: str
    user: int
    eventType: int
    invitee: Invitee
    cancellation: Cancellation | None
    participants: list[Participant]
    answers: list[Answer]
    rescheduling: list[Rescheduling]
    payment: Payment | None
    createdAt: int
    updatedAt: int
    scheduledAt: int
    endDate: int
    canceledAt: int | None
    state: str
    notes: str | None
    details: str | None
    location: str | None
    locationType: str | None
    onlineEventId: str | None
    sentEmailReminder: int
    lastSentInviteeEmailReminder: int | None
    lastSentInviteeEmailFollowUp: int | None
    duration: int
    users: list[int]
    relatedEventIds: list[int]
    name: str | None
    description: str | None
    # Not in EventDTO: the UTC offset (minutes) this event's date-times are written with.
    offset: int = 0


@dataclass(slots=True)
class Tag:
    """One tag store, seen as EventTypeTagDTO (with `enabled`) and UserEventTypeTagDTO (with `user`)."""

    id: int
    name: str
    color: str
    position: int
    enabled: bool
    user: int


@dataclass(slots=True)
class PollResult:
    email: str
    comment: str | None


@dataclass(slots=True)
class PollSlot:
    id: int
    date: int
    results: list[PollResult]


@dataclass(slots=True)
class Poll:
    id: int
    uuid: str
    user: int
    eventType: int
    voteVisibility: bool
    commentVisibility: bool
    emailNotification: bool
    duration: int
    name: str
    createdAt: int
    availability: list[PollSlot]


@dataclass(slots=True)
class CancellationPolicy:
    enabled: bool
    period: int
    label: str | None
    text: str | None
    version: int
    type: str
    overwrite_personal: bool


EVENT_STATES = ("active", "canceled", "no_show")
