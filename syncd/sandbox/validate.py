"""Reading request bodies: types checked per documented field, errors name the field.

Unknown fields are ignored (the upstream's serializer is lenient about extras); an optional field
sent as null counts as absent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from syncd.sandbox.errors import ApiError

REQUEST_DATETIME = "%Y-%m-%d %H:%M:%S"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def json_body(raw: bytes, *, required: bool = True) -> Fields:
    if not raw.strip():
        if required:
            raise ApiError(400, "request body: expected a JSON object")
        return Fields({})
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body: malformed JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body: expected a JSON object")
    return Fields(data)


def parse_request_datetime(raw: str, name: str) -> int:
    try:
        return int(datetime.strptime(raw, REQUEST_DATETIME).replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise ApiError(400, f"{name}: expected a date-time in the format Y-m-d H:i:s, got {raw!r}") from None


def check_email(raw: str, name: str) -> str:
    if not _EMAIL.match(raw):
        raise ApiError(400, f"{name}: {raw!r} is not a valid e-mail address")
    return raw


class Fields:
    def __init__(self, data: Mapping[str, Any], where: str = "") -> None:
        self.data = data
        self.where = where

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None and required:
            raise ApiError(400, f"{self.name(key)}: this field is required")
        return value

    def string(self, key: str, *, required: bool = False, non_empty: bool = False) -> str | None:
        value = self._get(key, required)
        if value is not None and not isinstance(value, str):
            raise ApiError(400, f"{self.name(key)}: expected a string")
        if non_empty and value is not None and not value.strip():
            raise ApiError(400, f"{self.name(key)}: must not be empty")
        return value

    def integer(self, key: str, *, required: bool = False) -> int | None:
        value = self._get(key, required)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ApiError(400, f"{self.name(key)}: expected an integer")
        return value

    def number(self, key: str, *, required: bool = False) -> float | None:
        value = self._get(key, required)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise ApiError(400, f"{self.name(key)}: expected a number")
        return value

    def boolean(self, key: str, *, required: bool = False) -> bool | None:
        value = self._get(key, required)
        if value is not None and not isinstance(value, bool):
            raise ApiError(400, f"{self.name(key)}: expected a boolean")
        return value

    def array(self, key: str, *, required: bool = False) -> list[Any] | None:
        value = self._get(key, required)
        if value is not None and not isinstance(value, list):
            raise ApiError(400, f"{self.name(key)}: expected an array")
        return value

    def obj(self, key: str, *, required: bool = False) -> Fields | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ApiError(400, f"{self.name(key)}: expected an object")
        return Fields(value, self.name(key))

    def objects(self, key: str, *, required: bool = False) -> list[Fields]:
        items = self.array(key, required=required) or []
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ApiError(400, f"{self.name(key)}[{i}]: expected an object")
            out.append(Fields(item, f"{self.name(key)}[{i}]"))
        return out

    def datetime(self, key: str, *, required: bool = False) -> int | None:
        raw = self.string(key, required=required)
        return None if raw is None else parse_request_datetime(raw, self.name(key))

    def ids(self, key: str) -> list[int]:
        """A required, non-empty array of integer ids, de-duplicated in order."""
        items = self.array(key, required=True) or []
        if not items:
            raise ApiError(400, f"{self.name(key)}: must not be empty")
        for i, v in enumerate(items):
            if not isinstance(v, int) or isinstance(v, bool):
                raise ApiError(400, f"{self.name(key)}[{i}]: expected an integer id")
        return list(dict.fromkeys(items))
