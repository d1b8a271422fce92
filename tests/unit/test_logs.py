from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from syncd.logs import REDACTED, Redactor, configure_logging, effective_level, logs_written_to
from tests.helpers import CANARY_KEY

pytestmark = pytest.mark.unit


def _configure(stream: io.StringIO, fmt: str = "json") -> None:
    configure_logging("debug", fmt, stream=stream, secrets=[CANARY_KEY, "dbpassw0rd"])


def _fail_with_key(api_key: str) -> None:
    headers = {"X-API-KEY": api_key}  # a local that a traceback-with-locals would print
    raise RuntimeError(f"request failed with headers {headers}")


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_canary_key_never_reaches_output(fmt: str) -> None:
    stream = io.StringIO()
    _configure(stream, fmt)
    log = structlog.get_logger("syncd.test")
    log.info("api.request", api_key=CANARY_KEY, headers={"X-API-KEY": CANARY_KEY}, items=[CANARY_KEY])
    log.warning(f"message mentioning {CANARY_KEY}")
    log.info("db.connect", url="postgresql://syncd:dbpassw0rd@db:5432/x")
    try:
        _fail_with_key(CANARY_KEY)
    except RuntimeError:
        log.exception("api.failed")
    logging.getLogger("thirdparty").error("stdlib line with key %s", CANARY_KEY)
    try:
        _fail_with_key(CANARY_KEY)
    except RuntimeError:
        logging.getLogger("thirdparty").exception("stdlib traceback")
    out = stream.getvalue()
    assert CANARY_KEY not in out
    assert "dbpassw0rd" not in out
    assert REDACTED in out
    assert "api.failed" in out
    assert "RuntimeError" in out  # the traceback itself is kept
    assert "headers = " not in out  # no local variables in tracebacks


def test_json_lines_with_dotted_event_names() -> None:
    stream = io.StringIO()
    _configure(stream)
    structlog.get_logger("syncd.sync").info("sync.page_upserted", resource="events", rows=100)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["event"] == "sync.page_upserted"
    assert line["resource"] == "events"
    assert line["rows"] == 100
    assert line["level"] == "info"
    assert "timestamp" in line


def test_level_filters() -> None:
    stream = io.StringIO()
    configure_logging("warning", "json", stream=stream)
    structlog.get_logger().info("quiet.event")
    structlog.get_logger().warning("loud.event")
    assert "quiet.event" not in stream.getvalue()
    assert "loud.event" in stream.getvalue()


def test_redactor_patterns_without_known_secrets() -> None:
    redactor = Redactor()
    assert redactor.redact("postgresql://u:pw123456@h/db") == f"postgresql://u:{REDACTED}@h/db"
    assert redactor.redact("host=h password=pw123456 user=u") == f"host=h password={REDACTED} user=u"
    assert redactor.redact("host=h passfile=/run/pw123456") == f"host=h passfile={REDACTED}"
    assert (
        redactor.redact("postgresql://u@h/db?sslpassword=pw123456")
        == f"postgresql://u@h/db?sslpassword={REDACTED}"
    )
    assert "abc123456" not in redactor.redact("{'x-api-key': 'abc123456'}")
    assert redactor.redact("nothing secret here") == "nothing secret here"


def test_newlines_in_events_cannot_forge_lines() -> None:
    stream = io.StringIO()
    _configure(stream, "console")
    structlog.get_logger().info("user said\nFAKE LINE")
    assert len(stream.getvalue().strip().splitlines()) == 1


def test_settings_teach_the_redactor_every_database_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from syncd.settings import load_settings

    canary = "CANARY-log-4d2a"
    monkeypatch.setenv(
        "SYNCD_DATABASE_URL",
        f"postgresql://u:{canary}%2Fa@db/x?password={canary}-b&passfile=%2Frun%2F{canary}-c",
    )
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream, secrets=load_settings().secrets())
    log = structlog.get_logger("syncd.test")
    # Bare values, as a driver's message might quote them: no pattern catches these, only knowing them.
    log.error("db.failed", reason=f"password {canary}/a rejected", also=f"{canary}-b")
    logging.getLogger("psycopg").warning('password file "/run/%s-c" has group or world access', canary)
    out = stream.getvalue()
    assert out.count(REDACTED) >= 3
    assert canary not in out


@pytest.mark.parametrize(
    ("level", "given", "verbose", "terminal", "shown"),
    [
        ("info", False, 0, True, "warning"),  # a terminal: a person reads; only what needs them
        ("info", False, 0, False, "info"),  # off a terminal: as configured, the default info
        ("info", True, 0, True, "info"),  # --log-level info (or SYNCD_LOG_LEVEL, or the file)
        ("debug", True, 0, True, "debug"),
        ("error", True, 0, False, "error"),
        ("info", False, 1, True, "info"),  # -v
        ("info", False, 2, True, "debug"),  # -vv
        ("error", True, 1, False, "info"),  # -v shows info whatever the configured level
        ("debug", True, 1, True, "debug"),  # ... and never hides what the configured level shows
    ],
)
def test_effective_level(level: str, given: bool, verbose: int, terminal: bool, shown: str) -> None:
    assert effective_level(level, given=given, verbose=verbose, terminal=terminal) == shown


def test_scheduler_chatter_is_held_at_warning_even_at_debug() -> None:
    stream = io.StringIO()
    _configure(stream)
    for name in ("apscheduler.scheduler", "apscheduler.executors.default"):
        logging.getLogger(name).info(
            "Adding job tentatively -- it will be properly scheduled when the scheduler starts"
        )
        logging.getLogger(name).warning("Run time of job was missed by 0:00:02")
    out = stream.getvalue()
    assert "Adding job tentatively" not in out
    assert out.count("was missed by") == 2


def test_logs_written_to_takes_the_lines_for_a_while_then_gives_them_back() -> None:
    usual, display = io.StringIO(), io.StringIO()
    configure_logging("info", "json", stream=usual, secrets=[CANARY_KEY])
    log = structlog.get_logger("syncd.test")
    with logs_written_to(display):
        log.warning("during.display", key=CANARY_KEY)
        logging.getLogger("thirdparty").warning("stdlib during display")
    log.warning("after.display")
    assert "during.display" in display.getvalue()
    assert "stdlib during display" in display.getvalue()
    assert CANARY_KEY not in display.getvalue()  # still through the redactor
    assert "during" not in usual.getvalue()
    assert "after.display" in usual.getvalue()
    assert "after.display" not in display.getvalue()
