"""The one error the handlers raise: it becomes `{"message": ...}` with its status."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
