"""Fault switches and the seeded dice behind them."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Faults:
    """Mutable at run time; every /panel/api request reads the current values."""

    latency_s: float = 0.0
    rate_limit_per_s: float | None = None  # token bucket, burst of one second; None = off
    error_rate: float = 0.0  # share answered 500/502/503 before anything happens
    drop_rate: float = 0.0  # share whose connection drops after the request took effect
    malformed_rate: float = 0.0  # share of 2xx answers whose body is cut short (invalid JSON)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.latency_s < 0:
            raise ValueError("latency_s must be >= 0")
        if self.rate_limit_per_s is not None and self.rate_limit_per_s <= 0:
            raise ValueError("rate_limit_per_s must be > 0 (or None for no limit)")
        for name in ("error_rate", "drop_rate", "malformed_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a partial update, all or nothing."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            nullable = name == "rate_limit_per_s"
            if (value is None and not nullable) or (
                value is not None and (isinstance(value, bool) or not isinstance(value, int | float))
            ):
                raise ValueError(f"{name} must be a number" + (" or null" if nullable else ""))
        candidate = Faults(**{**self.as_dict(), **changes})  # validates
        for name in changes:
            setattr(self, name, getattr(candidate, name))


@dataclass(frozen=True, slots=True)
class Draw:
    error_status: int | None
    drop: bool
    malformed: bool


class FaultGate:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"faults:{seed}")
        self._rate: float | None = None
        self._tokens = 0.0
        self._last = 0.0

    def admit(self, faults: Faults, now: float) -> float | None:
        """None if the request may pass, else seconds until it could."""
        rate = faults.rate_limit_per_s
        if rate is None:
            self._rate = None
            return None
        burst = max(1.0, rate)
        if rate != self._rate:  # a new limit starts with a full bucket
            self._rate, self._tokens, self._last = rate, burst, now
        self._tokens = min(burst, self._tokens + (now - self._last) * rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / rate

    def draw(self, faults: Faults) -> Draw:
        # Always four draws, so one request's dice never depend on the rates in force.
        e, d, m, which = self._rng.random(), self._rng.random(), self._rng.random(), self._rng.random()
        status = (500, 502, 503)[int(which * 3)] if e < faults.error_rate else None
        return Draw(status, d < faults.drop_rate, m < faults.malformed_rate)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
