"""Each write-intent kind declared once: its payload fields and limits, its API call, and its read-back.

A kind's declaration (`IntentKind`) holds everything the write side needs of it: the payload's
fields and limits, the command-line spelling, the endpoint (and the list endpoint with the
batching rule), how the request body is built from the payload, and how an event read back tells
whether the write is in place. The INSERT trigger, `check_intent`, `syncd intent`'s subcommands,
the replay's dispatcher (`syncd.api.dispatcher`) and docs/write-back.md's kinds table all read it:
adding a kind is one declaration here plus a generated migration (docs/write-back.md, "Adding an
intent kind").

This declaration drives both checks of an intent: `check_intent` here (Python: `syncd intent`,
`syncd.db.intents.enqueue`) and the INSERT trigger, whose PL/pgSQL `syncd.db.intent_check` renders
from it (frozen into a migration; a test keeps the two equal). Both refuse exactly the same
intents with the same one-line message, in the same order of checks:

    kind → event_id → idempotency_key → payload is an object → no unexpected key
    → each field in declared order → the kind's span (start before end)
    → not into the past (unless allow_past) → the payload's size

"The past" is the database's `now()` (the INSERT's transaction start; Python is handed the same
instant or reads its clock). A time with an offset is an instant; a plain `Y-m-d H:i:s` is in the
zone syncd sends in, which the database does not know, so the trigger refuses it only when it is
past in every zone (earlier than now less 14:59); `syncd intent` knows the zone and refuses exactly.

The payload's size is PostgreSQL's measure, `octet_length(payload::text)`: the UTF-8 bytes of the
jsonb text form (`{"key": value, ...}`, `", "` and `": "` between items, non-ASCII as is, control
characters escaped). `jsonb_text` computes that form in Python. It is checked last, once every
value is known to be text, a whole number or a list of text, whose text form both sides agree on.

A leaf module (standard library only): what needs the API's date-times reaches the builders and
checks through `ApiTimes`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

FieldType = Literal["string", "id", "emails", "datetime"]

# What every refusal starts with (SQLSTATE 23514, check_violation, from the trigger).
REFUSED = "write intent refused"
MAX_PAYLOAD_BYTES = 65_536  # octet_length(payload::text): 64 KiB
MAX_IDEMPOTENCY_KEY_CHARS = 255  # Stripe's limit; 1,020 bytes at most, far under a btree row's ~2.7 KB
MAX_EMAIL_CHARS = 254  # RFC 5321's longest path, less the angle brackets
# Written years of a date-time. Every instant in it stays a four-digit year in any zone (offsets up to
# 14:59), which the API's `Y-m-d H:i:s`, Python's strftime and PostgreSQL all handle; year 1 does not.
YEARS = (2000, 2100)
MAX_OFFSET_HOURS = 14  # the widest real UTC offset is +14:00 (Kiribati)
# The widest offset a written date-time may carry: a plain time is this far from UTC at most.
WIDEST_OFFSET = dt.timedelta(hours=MAX_OFFSET_HOURS, minutes=59)

# Patterns without anchors, in the syntax Python's `re` and PostgreSQL's regular expressions share:
# Python uses re.fullmatch, the trigger `~ '^(?:...)$'`. No \s or \d, whose meaning depends on locale.
PLAIN_FORM = r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
ISO_FORM = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.,][0-9]{1,6})?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)"
# local@domain.tld, without spaces or control characters, one @.
EMAIL_FORM = r"[^@\x01-\x20\x7f]+@[^@\x01-\x20\x7f]+\.[^@\x01-\x20\x7f.]+"


@dataclass(frozen=True)
class Field:
    """One payload key: its JSON type, whether it must be there, and its limits."""

    name: str
    type: FieldType
    required: bool
    max_chars: int | None = None  # strings: most characters (code points)
    max_items: int | None = None  # emails: most addresses

    def __post_init__(self) -> None:
        if (self.type == "string") != (self.max_chars is not None):
            raise ValueError(f"field {self.name}: a string needs max_chars, nothing else takes it")
        if (self.type == "emails") != (self.max_items is not None):
            raise ValueError(f"field {self.name}: an e-mail list needs max_items, nothing else takes it")


class ApiTimes(Protocol):
    """The API's date-times, as the dispatcher knows them (the zone syncd sends in)."""

    def api_datetime(self, value: Any) -> str:
        """A payload date-time as the API's `Y-m-d H:i:s` in syncd's zone; ValueError if it cannot be."""
        ...

    def same_instant(self, payload_value: Any, answered: Any) -> bool:
        """Whether a date-time an event was answered with is the payload's instant."""
        ...


Payload = Mapping[str, Any]
Event = Mapping[str, Any]
# The request body of one intent: its payload, the API's date-times, and a lookup of the event's
# type (asked only when the payload names none). None: the call has no body.
BodyBuilder = Callable[[Payload, ApiTimes, Callable[[], int | None]], dict[str, Any] | None]
# Whether the event read back (None: it is gone) shows the intent's effect; None: no read can tell.
AppliedCheck = Callable[[Payload, Event | None, ApiTimes], bool | None]


def _no_body(payload: Payload, times: ApiTimes, event_type_id: Callable[[], int | None]) -> None:
    return None


def _cannot_tell(payload: Payload, event: Event | None, times: ApiTimes) -> bool | None:
    return None


@dataclass(frozen=True)
class IntentKind:
    """A kind of write intent: the payload it takes (keys in the API request DTO's order), how the
    command line names it (`syncd intent no-show`: dashes, as commands are spelled), the API call
    that carries it, and the read-back that settles it when its answer was lost."""

    name: str
    summary: str  # the help of its `syncd intent` command
    fields: tuple[Field, ...] = ()
    # Two date-time fields in the same form, the second after the first (a reschedule's start, end).
    span: tuple[str, str] | None = None
    # A date-time field that may not be in the past at the INSERT, unless the intent allows it.
    not_in_past: str | None = None
    command: str | None = None  # the command-line spelling, when it is not the name
    endpoint: str = ""  # its call in the endpoint table (syncd.api.endpoints), `{id}` the event
    body: BodyBuilder = _no_body
    applied: AppliedCheck = _cannot_tell
    settled_when: str = ""  # what `applied` looks for, in words (docs/write-back.md's table)
    # The list call that carries many intents of this kind at once (`{"ids": [...]}`), and the
    # payload field whose value they must share (it goes into the list call's body too).
    list_endpoint: str | None = None
    batch_by: str | None = None
    # The write removes the event: a 404 means it is done, the mirror marks the event deleted, and
    # there is nothing to read back.
    deletes: bool = False

    def list_body(self, event_ids: list[int], payload: Payload) -> dict[str, Any]:
        value = payload.get(self.batch_by) if self.batch_by is not None else None
        return {"ids": event_ids, **({self.batch_by: value} if self.batch_by and value is not None else {})}

    def batch_value(self, payload: Payload) -> str | None:
        """The value intents of one list call share (None when the kind has no `batch_by`)."""
        value = payload.get(self.batch_by) if self.batch_by is not None else None
        return value if isinstance(value, str) else None

    @property
    def command_name(self) -> str:
        return self.command or self.name

    @property
    def shape(self) -> str:
        """`{start, end, eventTypeId?, userId?}`: what a refusal's DETAIL says the kind takes."""
        return "{" + ", ".join(f.name + ("" if f.required else "?") for f in self.fields) + "}"


# --- request bodies and read-back checks, per kind ---------------------------------------------------


def _present(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _cancel_body(
    payload: Payload, times: ApiTimes, event_type_id: Callable[[], int | None]
) -> dict[str, Any]:
    return _present(reason=payload.get("reason"))


def _cancelled(payload: Payload, event: Event | None, times: ApiTimes) -> bool:
    return event is not None and (event.get("state") == "canceled" or event.get("canceledAt") is not None)


def _reschedule_body(
    payload: Payload, times: ApiTimes, event_type_id: Callable[[], int | None]
) -> dict[str, Any]:
    start, end = times.api_datetime(payload["start"]), times.api_datetime(payload["end"])
    type_id = payload.get("eventTypeId") or event_type_id()
    return _present(start=start, end=end, eventTypeId=type_id, userId=payload.get("userId"))


def _moved(payload: Payload, event: Event | None, times: ApiTimes) -> bool:
    if event is None:
        return False
    try:
        return all(
            times.same_instant(payload[wanted], event.get(answered))
            for wanted, answered in (("start", "scheduledAt"), ("end", "endDate"))
        )
    except (KeyError, ValueError):
        return False


def _notes_body(payload: Payload, times: ApiTimes, event_type_id: Callable[[], int | None]) -> dict[str, Any]:
    notes = payload["notes"]
    if not isinstance(notes, str):
        raise ValueError("notes: must be a string")
    return {"notes": notes}


def _noted(payload: Payload, event: Event | None, times: ApiTimes) -> bool:
    return event is not None and event.get("notes") == payload.get("notes")


def _invite_body(
    payload: Payload, times: ApiTimes, event_type_id: Callable[[], int | None]
) -> dict[str, Any]:
    emails = payload["emails"]
    if not isinstance(emails, list):
        raise ValueError("emails: must be a list of addresses")
    return {"emails": list(emails), **_present(message=payload.get("message"))}


def _invited(payload: Payload, event: Event | None, times: ApiTimes) -> bool:
    if event is None:
        return False
    present = {
        str(item.get("email", "")).casefold()
        for item in event.get("participants") or []
        if isinstance(item, dict)
    }
    return all(str(email).casefold() in present for email in payload.get("emails") or [])


def _no_show(payload: Payload, event: Event | None, times: ApiTimes) -> bool:
    return event is not None and event.get("state") == "no_show"


def _gone(payload: Payload, event: Event | None, times: ApiTimes) -> bool:
    return event is None


INTENT_KINDS: dict[str, IntentKind] = {
    kind.name: kind
    for kind in (
        IntentKind(
            "cancel",
            "Queue a cancellation of an event.",
            (Field("reason", "string", False, max_chars=1_000),),
            endpoint="event.cancel",
            body=_cancel_body,
            applied=_cancelled,
            settled_when="`state` is `canceled` (or `canceledAt` is set)",
            list_endpoint="event.cancel_list",
            batch_by="reason",
        ),
        IntentKind(
            "reschedule",
            "Queue a move of an event to a new start and end.",
            (
                Field("start", "datetime", True),
                Field("end", "datetime", True),
                Field("eventTypeId", "id", False),
                Field("userId", "id", False),
            ),
            span=("start", "end"),
            not_in_past="start",
            endpoint="event.reschedule",
            body=_reschedule_body,
            applied=_moved,
            settled_when="`scheduledAt` and `endDate` are the target instants (compared as instants, in any offset)",
        ),
        IntentKind(
            "notes",
            "Queue new notes for an event (replacing its notes).",
            (Field("notes", "string", True, max_chars=10_000),),
            endpoint="event.notes",
            body=_notes_body,
            applied=_noted,
            settled_when="`notes` equal the intent's",
        ),
        IntentKind(
            "invite",
            "Queue an invitation of more participants (sends them e-mail).",
            (
                Field("emails", "emails", True, max_items=100),
                Field("message", "string", False, max_chars=2_000),
            ),
            endpoint="event.invite",
            body=_invite_body,
            applied=_invited,
            settled_when="every address is among the participants (case-insensitive)",
        ),
        IntentKind(
            "no_show",
            "Queue marking an event as a no-show.",
            command="no-show",
            endpoint="event.no_show",
            applied=_no_show,
            settled_when="`state` is `no_show`",
            list_endpoint="event.no_show_list",
        ),
        IntentKind(
            "delete",
            "Queue deleting an event.",
            endpoint="event.delete",
            applied=_gone,
            settled_when="the event is gone (404)",
            deletes=True,
        ),
        IntentKind(
            "resend_notification",
            "Queue resending an event's notification.",
            command="resend",
            endpoint="event.resend_notification",
            settled_when="cannot be verified (an e-mail leaves no trace on the event): **assumed applied**, "
            "so a lost answer never sends a second notification. At most once, not at least once; the "
            'attempt row says "assumed applied"',
        ),
    )
}

# The refusals' DETAIL and HINT texts, shared with the trigger's rendering.
KNOWN_KINDS_DETAIL = "known kinds: " + ", ".join(INTENT_KINDS)
KIND_HINT = "kind is lower case, with underscores (no_show, resend_notification)"
UNEXPECTED_KEY_HINT = "keys are the API request DTO's, in camelCase (eventTypeId, userId)"
ID_HINT = 'a JSON number such as 5, not a string "5"'
EMAILS_HINT = 'e.g. {"emails": ["ann@example.com"]}'
EMAIL_DETAIL = "an address is local@domain.tld, without spaces"
EMAIL_HINT = 'one address per array element, no display names ("Ann <ann@x.com>")'
DATETIME_HINT = (
    "Y-m-d H:i:s (e.g. 2026-03-01 10:00:00) or ISO 8601 with an offset (2026-03-01T10:00:00+01:00)"
)
DATETIME_DETAIL = (
    "accepted: Y-m-d H:i:s (in the zone syncd sends, UTC by default) or ISO 8601 with an offset or Z, "
    "at most 6 decimals"
)
TIME_OF_DAY_DETAIL = "hours 00-23, minutes and seconds 00-59"
YEARS_DETAIL = f"years {YEARS[0]}-{YEARS[1]}"
OFFSET_DETAIL = f"offsets from -{MAX_OFFSET_HOURS}:59 to +{MAX_OFFSET_HOURS}:59"
REAL_DATE_DETAIL = "months 01-12, days 01 to the month's last"
SAME_FORM_HINT = "both Y-m-d H:i:s, or both ISO 8601 with an offset: a plain time's zone is syncd's setting"
SIZE_DETAIL = "measured as octet_length(payload::text): the UTF-8 bytes of the jsonb text form"
# The way out is in the DETAIL, which `syncd intent`'s one line shows.
PAST_DETAIL = "set allow_past to queue it anyway (syncd intent reschedule --allow-past)"
PLAIN_PAST_DETAIL = (
    f"a Y-m-d H:i:s time counts as past when it is past in every zone (before now less "
    f"{MAX_OFFSET_HOURS}:59); set allow_past to queue it anyway"
)

_PLAIN = re.compile(PLAIN_FORM)
_ISO = re.compile(ISO_FORM)
_EMAIL = re.compile(EMAIL_FORM)
_ECHO = 60  # characters of a refused value shown in the message (of its JSON text, escapes and all)


@dataclass(frozen=True)
class Refusal:
    """Why an intent is refused: `message` (one line, starting with REFUSED) names the field."""

    message: str
    detail: str | None = None
    hint: str | None = None


def check_intent(
    kind: str,
    event_id: int,
    payload: object,
    idempotency_key: str | None = None,
    *,
    allow_past: bool = False,
    now: dt.datetime | None = None,
    plain_zone: dt.tzinfo | None = None,
) -> Refusal | None:
    """None when the INSERT trigger would accept the intent, else the trigger's own refusal.

    `now` is the database's `now()` to compare with (default: this clock). `plain_zone`, when known
    (`syncd intent` knows the zone syncd sends in), reads a plain time exactly: a stricter check
    than the trigger's, which cannot know it.
    """
    declared = INTENT_KINDS.get(kind)
    if declared is None:
        return _refuse(f"unknown kind {_echo(kind)}", KNOWN_KINDS_DETAIL, KIND_HINT)
    if isinstance(event_id, bool) or not 0 < event_id < 2**63:
        return _refuse(f"event_id must be a positive SimplyMeet event id, got {event_id}")
    if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY_CHARS:
        return _refuse(
            f"idempotency_key has {len(idempotency_key)} characters, "
            f"at most {MAX_IDEMPOTENCY_KEY_CHARS} are allowed"
        )
    if not _storable(payload) or not _storable(idempotency_key):
        # PostgreSQL cannot hold these at all: text never reaches the trigger with them.
        return _refuse("text cannot hold a NUL character or an unpaired surrogate")
    shape = f"{kind} takes {declared.shape}"
    if not isinstance(payload, dict):
        return _refuse(f"{kind} payload must be a JSON object, got {json_type(payload)}", shape)
    unexpected = sorted(str(key) for key in payload if key not in {f.name for f in declared.fields})
    if unexpected:
        return _refuse(
            f"{kind} payload has unexpected key {_echo(unexpected[0])}", shape, UNEXPECTED_KEY_HINT
        )
    forms: dict[str, str] = {}
    instants: dict[str, dt.datetime] = {}
    for field in declared.fields:
        value = payload.get(field.name)
        if value is None:
            if field.required:
                return _refuse(f'{kind} payload is missing "{field.name}"', shape)
            continue
        refusal = _check_field(kind, field, value, shape, forms, instants)
        if refusal is not None:
            return refusal
    if declared.span is not None:
        first, second = declared.span
        if first in forms and second in forms:
            span_detail = f"{first} is {payload[first]}, {second} is {payload[second]}"
            if forms[first] != forms[second]:
                return _refuse(
                    f'{kind} payload "{first}" and "{second}" must use the same form',
                    span_detail,
                    SAME_FORM_HINT,
                )
            if instants[second] <= instants[first]:
                return _refuse(f'{kind} payload "{second}" must be after "{first}"', span_detail)
    field_name = declared.not_in_past
    if field_name is not None and field_name in instants and not allow_past:
        at, plain = instants[field_name], forms[field_name] == "plain"
        if plain and plain_zone is not None:
            past = at.replace(tzinfo=plain_zone) < (now or dt.datetime.now(dt.UTC))
        else:
            latest = at.replace(tzinfo=dt.UTC) + WIDEST_OFFSET if plain else at
            past = latest < (now or dt.datetime.now(dt.UTC))
        if past:
            return _refuse(
                f'{kind} payload "{field_name}" is in the past: {_echo(str(payload[field_name]))}',
                PLAIN_PAST_DETAIL if plain and plain_zone is None else PAST_DETAIL,
            )
    size = payload_bytes(payload)
    if size > MAX_PAYLOAD_BYTES:
        return _refuse(
            f"{kind} payload is {size} bytes as JSON, at most {MAX_PAYLOAD_BYTES} are allowed", SIZE_DETAIL
        )
    return None


def _check_field(
    kind: str,
    field: Field,
    value: object,
    shape: str,
    forms: dict[str, str],
    instants: dict[str, dt.datetime],
) -> Refusal | None:
    where = f'{kind} payload "{field.name}"'
    if field.type == "string":
        if not isinstance(value, str):
            return _refuse(f"{where} must be a string, got {json_type(value)}", shape)
        assert field.max_chars is not None
        return _too_long(where, value, field.max_chars)
    if field.type == "id":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 10**18:
            return _refuse(f"{where} must be a positive integer, got {json_type(value)}", shape, ID_HINT)
        return None
    if field.type == "emails":
        if not isinstance(value, list) or not value:
            got = "an empty array" if isinstance(value, list) else json_type(value)
            return _refuse(
                f"{where} must be a non-empty array of e-mail addresses, got {got}", shape, EMAILS_HINT
            )
        assert field.max_items is not None
        if len(value) > field.max_items:
            return _refuse(f"{where} has {len(value)} addresses, at most {field.max_items} are allowed")
        for position, element in enumerate(value):
            at = f'{kind} payload "{field.name}[{position}]"'
            if not isinstance(element, str):
                return _refuse(f"{at} must be a string, got {json_type(element)}", shape)
            if (refusal := _too_long(at, element, MAX_EMAIL_CHARS)) is not None:
                return refusal
            if not _EMAIL.fullmatch(element):
                return _refuse(f"{at} is not an e-mail address: {_echo(element)}", EMAIL_DETAIL, EMAIL_HINT)
        return None
    # datetime
    if not isinstance(value, str):
        return _refuse(f"{where} must be a date-time string, got {json_type(value)}", None, DATETIME_HINT)
    iso = None if _PLAIN.fullmatch(value) else _ISO.fullmatch(value)
    if iso is None and not _PLAIN.fullmatch(value):
        return _refuse(f"{where} is not a date-time: {_echo(value)}", DATETIME_DETAIL, DATETIME_HINT)
    if int(value[11:13]) > 23 or int(value[14:16]) > 59 or int(value[17:19]) > 59:
        return _refuse(f"{where} is not a valid time of day: {_echo(value)}", TIME_OF_DAY_DETAIL)
    if not YEARS[0] <= int(value[0:4]) <= YEARS[1]:
        return _refuse(f"{where} is outside the accepted years: {_echo(value)}", YEARS_DETAIL)
    zone: dt.tzinfo | None = None
    if iso is not None:
        offset = iso.group(2)
        if offset in ("Z", "z"):
            zone = dt.UTC
        else:
            hours, minutes = int(offset[1:3]), int(offset[-2:]) if len(offset) > 3 else 0
            if hours > MAX_OFFSET_HOURS or minutes > 59:
                return _refuse(f"{where} has an impossible UTC offset: {_echo(value)}", OFFSET_DETAIL)
            delta = dt.timedelta(hours=hours, minutes=minutes)
            zone = dt.timezone(-delta if offset[0] == "-" else delta)
    fraction = iso.group(1) if iso is not None else None
    try:
        stamp = dt.datetime(
            int(value[0:4]),
            int(value[5:7]),
            int(value[8:10]),
            int(value[11:13]),
            int(value[14:16]),
            int(value[17:19]),
            int(fraction[1:].ljust(6, "0")) if fraction else 0,
            tzinfo=zone,
        )
    except ValueError:
        return _refuse(f"{where} is not a real date-time: {_echo(value)}", REAL_DATE_DETAIL)
    forms[field.name] = "plain" if iso is None else "iso"
    instants[field.name] = stamp
    return None


def _too_long(where: str, value: str, limit: int) -> Refusal | None:
    if len(value) > limit:
        return _refuse(f"{where} has {len(value)} characters, at most {limit} are allowed")
    return None


def _refuse(message: str, detail: str | None = None, hint: str | None = None) -> Refusal:
    return Refusal(f"{REFUSED}: {message}", detail, hint)


def _echo(text: str) -> str:
    """A refused value as the message shows it: the start of its JSON text (one line, escapes and all)."""
    return jsonb_text(text)[:_ECHO]


def _storable(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, Mapping):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_storable(item) for item in value)
    return True


def json_type(value: object) -> str:
    """jsonb_typeof's name for a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def jsonb_text(value: object) -> str:
    """PostgreSQL's text form of a jsonb value (`value::text`), for text, whole numbers, null, lists, objects.

    Objects list their keys in jsonb's order (shorter first, then by bytes). Floats are refused: their
    form depends on PostgreSQL's numeric, and no checked payload holds one.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        escaped = "".join(_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if c < " " else c) for c in value)
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(item) for item in value) + "]"
    if isinstance(value, Mapping):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(f"{jsonb_text(k)}: {jsonb_text(value[k])}" for k in keys) + "}"
    raise TypeError(f"no jsonb text form for {type(value).__name__} values here")


def payload_bytes(payload: Mapping[str, object]) -> int:
    """The payload's size as the trigger measures it: octet_length(payload::text)."""
    return len(jsonb_text(payload).encode())


def limits_table() -> str:
    """The limits as the Markdown table in docs/write-back.md (a test keeps the page in step)."""
    rows = ["| what | limit |", "|---|---|"]
    for kind in INTENT_KINDS.values():
        for f in kind.fields:
            if f.max_chars is not None:
                rows.append(f"| `{kind.name}` `{f.name}` | {f.max_chars:,} characters |")
            if f.max_items is not None:
                rows.append(
                    f"| `{kind.name}` `{f.name}` | {f.max_items:,} addresses of {MAX_EMAIL_CHARS} characters each |"
                )
    rows += [
        f"| date-times (`start`, `end`) | years {YEARS[0]}-{YEARS[1]} as written; offsets up to "
        f"±{MAX_OFFSET_HOURS}:59; at most 6 decimals |",
        f"| the whole payload | {MAX_PAYLOAD_BYTES:,} bytes (64 KiB) as `octet_length(payload::text)` |",
        f"| `idempotency_key` | {MAX_IDEMPOTENCY_KEY_CHARS} characters |",
    ]
    return "\n".join(rows) + "\n"
