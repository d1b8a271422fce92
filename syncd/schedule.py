"""When the daemon's jobs run: the `schedule` and `full_sync_at` settings, parsed and checked.

A leaf module (the resource declarations and apscheduler's triggers only), so the settings can
check a schedule at load without importing the scheduler or the engines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from syncd.resources import SYNCED, Resource

FULL_SYNC = "full_sync"  # the schedule key of the nightly full reconciliation
_MAX_JITTER_S = 30.0


@dataclass(frozen=True)
class Cadence:
    """When a job runs, and its nominal period (for jitter, misfire grace and staleness)."""

    trigger: BaseTrigger
    period_s: float
    interval: bool  # an interval (first run may be placed freely) rather than a cron line


def parse_time_of_day(text: str) -> dt.time:
    """`HH:MM` (24 h), as `full_sync_at` takes it."""
    try:
        hours, minutes = (int(part) for part in text.split(":"))
        return dt.time(hours, minutes)
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day as HH:MM") from None


def check_schedule(schedule: Mapping[str, int | str]) -> None:
    """Raise ValueError for an unknown key, a period under one second or a bad cron line."""
    known = [r.name for r in SYNCED] + [FULL_SYNC]
    for name, value in schedule.items():
        if name not in known:
            raise ValueError(f"unknown resource {name!r} (known: {', '.join(known)})")
        _cadence(value, jitter_cap=0.0)


def _cadence(value: int | str, *, jitter_cap: float) -> Cadence:
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        seconds = int(value)
        if seconds < 1:
            raise ValueError(f"a period must be at least 1 second, not {seconds}")
        jitter = min(seconds * 0.1, jitter_cap)
        return Cadence(IntervalTrigger(seconds=seconds, jitter=jitter or None), float(seconds), True)
    try:
        trigger = CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is neither seconds nor a 5-field cron line: {exc}") from None
    first = trigger.get_next_fire_time(None, dt.datetime.now(dt.UTC))
    second = trigger.get_next_fire_time(first, first) if first is not None else None
    period = (second - first).total_seconds() if first is not None and second is not None else 86_400.0
    jitter = min(period * 0.1, jitter_cap)
    jittered = CronTrigger.from_crontab(value)
    jittered.jitter = int(jitter) or None
    return Cadence(jittered, period, False)


def resource_cadence(resource: Resource, schedule: Mapping[str, int | str]) -> Cadence:
    return _cadence(schedule.get(resource.name, resource.every_s), jitter_cap=_MAX_JITTER_S)


def full_sync_cadence(full_sync_at: str, schedule: Mapping[str, int | str]) -> Cadence:
    if FULL_SYNC in schedule:
        return _cadence(schedule[FULL_SYNC], jitter_cap=300.0)
    at = parse_time_of_day(full_sync_at)
    return Cadence(CronTrigger(hour=at.hour, minute=at.minute, jitter=300), 86_400.0, False)
