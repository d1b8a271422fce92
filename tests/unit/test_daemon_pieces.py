"""The daemon's pieces that need no I/O beyond a local socket: sd_notify, the watchdog, the schedule."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from syncd.daemon import sd_notify, watchdog_interval_s
from syncd.resources import RESOURCES, SYNCED
from syncd.schedule import FULL_SYNC, check_schedule, full_sync_cadence, parse_time_of_day, resource_cadence
from syncd.settings import SettingsError, load_settings

pytestmark = pytest.mark.unit


def test_sd_notify_sends_the_lines_to_the_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert sd_notify("READY=1", "STATUS=leader")
        assert server.recv(1024) == b"READY=1\nSTATUS=leader"


def test_sd_notify_without_systemd_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd_notify("READY=1") is False


def test_watchdog_is_pinged_at_half_its_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval_s() == 10.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert watchdog_interval_s() is None


def test_default_cadences_come_from_the_declarations() -> None:
    assert resource_cadence(RESOURCES["events"], {}).period_s == 60
    assert resource_cadence(RESOURCES["event_type_availability"], {}).period_s == 3600
    assert resource_cadence(RESOURCES["acl_rules"], {}).period_s == 86400
    assert {r.name for r in SYNCED} >= {"events", "users", "polls"}


def test_schedule_overrides_take_seconds_or_cron() -> None:
    assert resource_cadence(RESOURCES["events"], {"events": 30}).period_s == 30
    hourly = resource_cadence(RESOURCES["polls"], {"polls": "5 * * * *"})
    assert hourly.period_s == 3600
    assert not hourly.interval
    assert full_sync_cadence("03:30", {}).period_s == 86400
    assert full_sync_cadence("03:30", {FULL_SYNC: "0 2 * * 0"}).period_s == 7 * 86400


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"nope": 60}, "unknown resource 'nope'"),
        ({"events": 0}, "at least 1 second"),
        ({"events": "every minute"}, "neither seconds nor a 5-field cron line"),
    ],
)
def test_bad_schedules_are_refused(schedule: dict[str, int | str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_schedule(schedule)
    with pytest.raises(SettingsError, match="schedule"):
        load_settings(overrides={"schedule": schedule})


def test_full_sync_at_is_a_time_of_day() -> None:
    assert parse_time_of_day("03:30").hour == 3
    with pytest.raises(SettingsError, match="full_sync_at"):
        load_settings(overrides={"full_sync_at": "half past three"})


def test_api_retries_are_counted_apart_from_first_attempts() -> None:
    from sqlalchemy import create_engine

    from syncd.metrics import DaemonMetrics

    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")  # never connected here
    metrics = DaemonMetrics(engine, ["events"], lambda: False)
    metrics.observe_api("event.list", 429, 0.01, 1)
    metrics.observe_api("event.list", 200, 0.02, 2)
    metrics.observe_api("event.list", 200, 0.02, 1)
    sample = metrics.registry.get_sample_value
    assert sample("syncd_api_retries_total", {"endpoint": "event.list"}) == 1.0
    assert sample("syncd_api_responses_total", {"endpoint": "event.list", "status": "429"}) == 1.0
    assert sample("syncd_api_request_duration_seconds_count", {"endpoint": "event.list"}) == 3.0
