"""JSON Schemas (draft 2020-12) of the webhook payloads: one per kind, generated, never written by hand.

The envelope comes from `syncd.webhooks.payload` (docs/webhooks.md, "The payload"), the kinds from
the feed (`syncd.db.feed`: the generic kinds of every resource in `syncd.resources`, the domain
kinds of events), and `data.object` from the resource's answer DTO in `syncd.api.contract`. Each
file stands alone (its DTOs under `$defs`), so a receiver loads the one for the `type` it got.

Honest about what a delivery may hold: `data.object` is the object as the API answered it, so
- every documented field is optional and may be `null` (the reference marks none required), except
  the object's own key, without which syncd stores nothing;
- fields the docs do not list may appear (`additionalProperties: true`);
- a value has the documented type widened to what syncd's mirror accepts from the API and so may
  pass on (`syncd.mapping`): an integer also as a string of digits, a boolean also as 0 or 1, a
  number also as a numeric string; date-times in either form the API uses.

`make webhook-schemas` writes `docs/webhook-schemas/`; a unit test keeps the committed files equal
to `render()`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from syncd.api.contract import DTOS, Children, Dto, Embedded, Field, Kind, Ref, RefList, Scalar
from syncd.api.dates import DATE_PATTERN, DATETIME_PATTERNS
from syncd.db.feed import EVENT_KINDS, GENERIC_KINDS, TEST_KIND
from syncd.mapping import snake
from syncd.resources import FREE_FORM, RESOURCES, Read, Resource

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:syncd:webhook:"  # a schema's $id: this and its kind
DIRECTORY = Path("docs/webhook-schemas")
INDEX = "index.json"

Schema = dict[str, Any]


def _digits(pattern: str) -> str:
    r"""A Python pattern matched whole, portable: `\d` is any script's digit elsewhere."""
    return "^(?:" + pattern.replace(r"\d", "[0-9]") + ")$"


# What `int()` takes from a string (the mirror's ID and INT), and what `Decimal()` takes, finite.
_INTEGER_TEXT = r"^\s*[+-]?[0-9]+\s*$"
_NUMBER_TEXT = r"^\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*$"
_DATETIME_TEXT = "|".join(_digits(p) for p in DATETIME_PATTERNS)
_DATE_TEXT = _digits(DATE_PATTERN)

# Each kind's non-null values, as `syncd.mapping`'s converters accept them (types listed without null).
VALUES: dict[Kind, Schema] = {
    Kind.ID: {"type": ["integer", "string"], "pattern": _INTEGER_TEXT},
    Kind.INT: {"type": ["integer", "string"], "pattern": _INTEGER_TEXT},
    Kind.TEXT: {"type": "string"},
    Kind.BOOL: {"type": ["boolean", "integer"], "minimum": 0, "maximum": 1},
    Kind.NUMERIC: {"type": ["number", "string"], "pattern": _NUMBER_TEXT},
    Kind.TIMESTAMP: {"type": "string", "pattern": _DATETIME_TEXT},
    Kind.DATE: {"type": "string", "pattern": _DATE_TEXT},
}
VALUES[Kind.ID_ARRAY] = {"type": "array", "items": VALUES[Kind.ID]}
VALUES[Kind.TEXT_ARRAY] = {"type": "array", "items": VALUES[Kind.TEXT]}


def nullable(schema: Schema) -> Schema:
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return {**schema, "type": [*kinds, "null"]}


def _ref(dto: str) -> Schema:
    return {"$ref": f"#/$defs/{dto}"}


def _identified(dto: str, names: list[str], values: dict[str, Schema]) -> Schema:
    """The DTO, with these fields present and not null (an object's key)."""
    return {**_ref(dto), "required": names, "properties": {name: values[name] for name in names}}


def _field(spec: Field) -> Schema:
    if isinstance(spec, Scalar):
        if spec.kind is Kind.JSON:
            return {"description": spec.doc}  # free-form: anything, null included
        return {"description": spec.doc, **nullable(VALUES[spec.kind])}
    if isinstance(spec, Embedded | Ref):
        # A reference needs no id to be stored (the column stays NULL); with one it is the object.
        return {"description": spec.doc, "anyOf": [_ref(spec.dto), {"type": "null"}]}
    if isinstance(spec, RefList):
        # Each item becomes a link row: it must have its id.
        item = _identified(spec.dto, ["id"], {"id": VALUES[Kind.ID]})
        return {"description": spec.doc, "type": ["array", "null"], "items": item}
    assert isinstance(spec, Children)
    return {"description": spec.doc, "type": ["array", "null"], "items": _ref(spec.dto)}


def dto_schema(dto: Dto) -> Schema:
    return {
        "title": dto.name,
        "description": f"{dto.title} (the API reference); fields the docs do not list may appear.",
        "type": "object",
        "properties": {spec.name: _field(spec) for spec in dto.fields},
        "additionalProperties": True,
    }


def _reachable(name: str, seen: dict[str, Dto]) -> dict[str, Dto]:
    """The DTO and every DTO its fields lead to, in the order they are met."""
    if name not in seen:
        seen[name] = DTOS[name]
        for spec in DTOS[name].fields:
            if not isinstance(spec, Scalar):
                _reachable(spec.dto, seen)
    return seen


def _scoped_keys(resource: Resource) -> set[str]:
    """Key columns the sync fills from how it read the object, not from the object itself."""
    scoped = set(resource.scope)
    if resource.read is Read.OBJECT:
        scoped.add(resource.key[0])  # the variant (cancellation policies) or the group (integrations)
    return scoped


def object_schema(resource: Resource) -> tuple[Schema, dict[str, Schema]]:
    """`data.object` of a resource's changes, and the `$defs` it refers to."""
    if resource.dto == FREE_FORM:
        return {"description": f"{resource.doc} Free-form.", "type": "object"}, {}
    dto = DTOS[resource.dto]
    defs = {name: dto_schema(found) for name, found in _reachable(resource.dto, {}).items()}
    scoped = _scoped_keys(resource)
    key_fields = {snake(spec.name): spec for spec in dto.fields if isinstance(spec, Scalar)}
    names = [key_fields[column].name for column in resource.key if column not in scoped]
    values = {key_fields[snake(name)].name: VALUES[key_fields[snake(name)].kind] for name in names}
    schema = _identified(resource.dto, names, values)
    return {"description": resource.doc, **schema}, defs


_DIFF: Schema = {
    "description": 'Per top-level field that differs: {"old": ..., "new": ...} (null when absent).',
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "required": ["old", "new"],
        "properties": {"old": {}, "new": {}},
        "additionalProperties": False,
    },
}


def _changes(what: str) -> Schema:
    if what == "deleted":
        return {"description": "null for a deletion.", "type": "null"}
    if what == "created":
        # An object that comes back after a deletion is created again, with what differs from before.
        return {
            "anyOf": [{"type": "null"}, _DIFF],
            "description": "null, or for an object that comes "
            "back after a deletion what differs from the last version known.",
        }
    return {**_DIFF, "minProperties": 1}


def _kinds(resource: Resource, kind: str, what: str) -> Schema:
    if what in GENERIC_KINDS:
        return {"description": "Every kind that applies.", "const": [kind]}
    later = list(EVENT_KINDS[EVENT_KINDS.index(what) + 1 :])
    schema: Schema = {
        "description": "Every kind that applies: the generic one first, then the domain kinds, most "
        "specific first.",
        "type": "array",
        "prefixItems": [{"const": f"{resource.object_name}.updated"}, {"const": kind}],
        "uniqueItems": True,
    }
    if later:
        schema["items"] = {"enum": [f"{resource.object_name}.{w}" for w in later]}
    else:
        schema["items"] = False
    return schema


_TIMESTAMP: Schema = {
    "description": "When syncd applied the change (ISO 8601, UTC).",
    "type": "string",
    "format": "date-time",
    "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z$",
}


def _envelope(kind: str, description: str, data: Schema, defs: dict[str, Schema]) -> Schema:
    schema: Schema = {
        "$schema": DIALECT,
        "$id": ID_PREFIX + kind,
        "title": f"syncd webhook payload: {kind}",
        "description": description + " Generated by `make webhook-schemas`; see docs/webhooks.md.",
        "type": "object",
        "required": ["type", "timestamp", "data"],
        "properties": {"type": {"const": kind}, "timestamp": _TIMESTAMP, "data": data},
        "additionalProperties": True,
    }
    if defs:
        schema["$defs"] = defs
    return schema


def change_schema(resource: Resource, what: str) -> Schema:
    """The payload of one kind of change of `resource` (`what`: created, cancelled, ...)."""
    kind = f"{resource.object_name}.{what}"
    generic = what if what in GENERIC_KINDS else "updated"
    obj, defs = object_schema(resource)
    data = {
        "type": "object",
        "required": ["change_id", "resource", "id", "kinds", "changes", "object", "origin"],
        "properties": {
            "change_id": {
                "description": "The change's id in the feed: the order of delivery.",
                "type": "integer",
                "minimum": 1,
            },
            "resource": {"description": "The mirror table.", "const": resource.name},
            "id": {
                "description": "The object's key (a composite key joined with '/').",
                "type": "string",
                "minLength": 1,
            },
            "kinds": _kinds(resource, kind, what),
            "changes": _changes(generic),
            "object": obj,
            "origin": {
                "description": "'sync', or 'replay:<intent ids>' when syncd's write-back caused it.",
                "type": "string",
                "pattern": "^(?:sync|replay:[0-9,]+)$",
            },
        },
        "additionalProperties": True,
    }
    return _envelope(kind, f"A change of kind {kind} ({resource.name}).", data, defs)


def ping_schema() -> Schema:
    data = {
        "type": "object",
        "required": ["subscription_id", "message"],
        "properties": {
            "subscription_id": {"type": "integer", "minimum": 1},
            "message": {"type": "string"},
        },
        "additionalProperties": True,
    }
    return _envelope(TEST_KIND, "The ping `syncd webhooks test` sends.", data, {})


def schemas() -> dict[str, Schema]:
    """Kind -> its schema: every kind the feed can record, by resource in declaration order, then the ping."""
    found: dict[str, Schema] = {}
    for resource in RESOURCES.values():
        whats = list(GENERIC_KINDS) + (list(EVENT_KINDS) if resource.name == "events" else [])
        for what in whats:
            found[f"{resource.object_name}.{what}"] = change_schema(resource, what)
    found[TEST_KIND] = ping_schema()
    return found


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def render() -> dict[str, str]:
    """File name -> text: `<kind>.json` for every kind, and `index.json` (kind -> file)."""
    files = {f"{kind}.json": _json(schema) for kind, schema in schemas().items()}
    index = {
        "about": "JSON Schemas (draft 2020-12) of syncd's webhook payloads, one per `type`. Generated by "
        "`make webhook-schemas`; do not edit by hand. See docs/webhooks.md.",
        "kinds": {kind: f"{kind}.json" for kind in schemas()},
    }
    files[INDEX] = _json(index)
    return files


def write(directory: Path) -> list[Path]:
    """Write every file into `directory` (created if missing); stale `.json` files there are removed."""
    directory.mkdir(parents=True, exist_ok=True)
    files = render()
    for stale in directory.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else DIRECTORY
    written = write(directory)
    print(f"wrote {len(written)} files to {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
