"""Variation profiles: one switch per choice the API documentation leaves open (docs/sandbox.md).

The default profile answers the way the sandbox always has. Each named profile flips one switch and
names combine (`partial-nested,string-ids`). Most switches change only the wire (variation.py);
`local-datetimes`, `same-updated-at`, `silent-changes`, `short-pages` and `shifting-pages` also change
how the world behaves, always seeded: same seed, profile and requests give the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from syncd.sandbox.query import ListParams

Datetimes = Literal["default", "offsets", "local"]

# local-datetimes: the account's zone (the current user's `timezone` says so); it has daylight saving.
ACCOUNT_ZONE = "Europe/Berlin"
SHORT_PAGE = 15  # short-pages: the most items a page holds, whatever onPage asks for
SAME_UPDATED_AT_RUN = 45  # same-updated-at: generated events share updatedAt in runs this long
SILENT_EVERY = 4  # silent-changes: every 4th /event/list request changes an event without moving updatedAt
HIDDEN_SHARE = 20  # shifting-pages: 1 generated event in 20 is held back, to appear during a later pass
MALFORMED_ONE_IN = 6  # malformed-objects: about 1 object in 6 of each resource is chosen...
MALFORMED_READS = 2  # ...and answered malformed on its first 2 reads, then healed


@dataclass(frozen=True, slots=True)
class Profile:
    """The switches; the default value of each is the sandbox's documented default behaviour."""

    partial_nested: bool = False  # nested users/event types/organizations carry a per-site subset of keys
    absent_optional: bool = False  # null fields are left out instead of written as null
    extra_fields: bool = False  # undocumented fields in every object, the list envelope and meta
    datetimes: Datetimes = "default"  # offsets: varied ISO 8601 forms; local: Y-m-d H:i:s, account zone
    string_ids: bool = False  # `id` fields and relatedEventIds as numeric strings
    bare_lists: bool = False  # /event-type/list answers a bare array (the docs do not say)
    enveloped_lists: bool = False  # tag list, availability, ACL answer {meta, items} (the docs do not say)
    same_updated_at: bool = False  # runs of events share one updatedAt; writes stamp it to the minute
    silent_changes: bool = False  # notes and participants change without moving updatedAt
    short_pages: bool = False  # pages hold at most SHORT_PAGE items, whatever onPage asks
    shifting_pages: bool = False  # held-back events appear mid-pass, shifting later pages
    malformed_objects: bool = False  # now and then a documented field of the wrong type, healing later

    @property
    def varies_wire(self) -> bool:
        """True when answers must go through the variation layer (not the default's fast path)."""
        return any(
            (
                self.partial_nested,
                self.absent_optional,
                self.extra_fields,
                self.datetimes != "default",
                self.string_ids,
                self.bare_lists,
                self.enveloped_lists,
                self.malformed_objects,
            )
        )


DEFAULT = Profile()

PROFILES: dict[str, Profile] = {
    "default": DEFAULT,
    "partial-nested": Profile(partial_nested=True),
    "absent-optional": Profile(absent_optional=True),
    "extra-fields": Profile(extra_fields=True),
    "offset-datetimes": Profile(datetimes="offsets"),
    "local-datetimes": Profile(datetimes="local"),
    "string-ids": Profile(string_ids=True),
    "bare-lists": Profile(bare_lists=True),
    "enveloped-lists": Profile(enveloped_lists=True),
    "same-updated-at": Profile(same_updated_at=True),
    "silent-changes": Profile(silent_changes=True),
    "short-pages": Profile(short_pages=True),
    "shifting-pages": Profile(shifting_pages=True),
    "malformed-objects": Profile(malformed_objects=True),
}


def combine(names: list[str]) -> Profile:
    """The union of the named profiles' switches; two names that set one switch differently clash."""
    if not names:
        raise ValueError("no profile named")
    values: dict[str, object] = {}
    set_by: dict[str, str] = {}
    for name in names:
        profile = PROFILES.get(name)
        if profile is None:
            raise ValueError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})")
        for f in fields(Profile):
            value = getattr(profile, f.name)
            if value == f.default:
                continue
            if f.name in values and values[f.name] != value:
                raise ValueError(f"profiles {set_by[f.name]!r} and {name!r} set {f.name} differently")
            values[f.name], set_by[f.name] = value, name
    return Profile(**values)  # type: ignore[arg-type]  # values hold each field's own type


# Every switch at once; of the two date-time forms it takes the local one (they exclude each other).
PROFILES["chaos"] = combine([name for name in PROFILES if name not in ("default", "offset-datetimes")])


def parse_profile(text: str) -> Profile:
    """`partial-nested,string-ids` -> the combined Profile; ValueError (one line) on a bad name."""
    names = [part.strip() for part in text.split(",")]
    if any(not n for n in names):
        raise ValueError(f"empty profile name in {text!r} (known: {', '.join(PROFILES)})")
    return combine(names)


def profile_of(value: Profile | str) -> Profile:
    return value if isinstance(value, Profile) else parse_profile(value)


def shorten(params: ListParams, profile: Profile) -> ListParams:
    """short-pages: the page holds fewer items than asked; meta and offsets follow the smaller size."""
    if not profile.short_pages or params.skip_pagination or params.on_page <= SHORT_PAGE:
        return params
    return replace(params, on_page=SHORT_PAGE)
