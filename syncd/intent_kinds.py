"""Each write-intent kind declared once: its payload fields, their types and limits, and the global limits.

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

A leaf module (standard library only): the later declaration of everything else an intent kind
has (its endpoint, request builder, read-back check) will grow here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

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


@dataclass(frozen=True)
class IntentKind:
    """A kind of write intent: the payload it takes (keys in the API request DTO's order), and how
    the command line names it (`syncd intent no-show`: dashes, as commands are spelled)."""

    name: str
    summary: str  # the help of its `syncd intent` command
    fields: tuple[Field, ...] = ()
    # Two date-time fields in the same form, the second after the first (a reschedule's start, end).
    span: tuple[str, str] | None = None
    # A date-time field that may not be in the past at the INSERT, unless the intent allows it.
    not_in_past: str | None = None
    command: str | None = None  # the command-line spelling, when it is not the name

    @property
    def command_name(self) -> str:
        return self.command or self.name

    @property
    def shape(self) -> str:
        """`{start, end, eventTypeId?, userId?}`: what a refusal's DETAIL says the kind takes."""
        return "{" + ", ".join(f.name + ("" if f.required else "?") for f in self.fields) + "}"


INTENT_KINDS: dict[str, IntentKind] = {
    kind.name: kind
    for kind in (
        IntentKind(
            "cancel",
            "Queue a cancellation of an event.",
            (Field("reason", "string", False, max_chars=1_000),),
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
        ),
        IntentKind(
            "notes",
            "Queue new notes for an event (replacing its notes).",
            (Field("notes", "string", True, max_chars=10_000),),
        ),
        IntentKind(
            "invite",
            "Queue an invitation of more participants (sends them e-mail).",
            (
                Field("emails", "emails", True, max_items=100),
                Field("message", "string", False, max_chars=2_000),
            ),
        ),
        IntentKind("no_show", "Queue marking an event as a no-show.", command="no-show"),
        IntentKind("delete", "Queue deleting an event."),
        IntentKind("resend_notification", "Queue resending an event's notification.", command="resend"),
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
