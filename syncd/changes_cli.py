"""`syncd changes tail|kinds`: the change feed (`syncd.changes`) from the command line.

Parsers and handlers only; the SQL is in `syncd.db.feed`. Registered by `syncd.cli.build_parser`.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from syncd.cli import EXIT_OK, Handler, UsageError, non_negative_int
from syncd.formatting import when

if TYPE_CHECKING:  # at run time these would load SQLAlchemy and pydantic before `--help` prints
    from syncd.db import feed
    from syncd.settings import Settings

    # argparse's subparsers type is generic only to the type checker
    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
    Add: TypeAlias = Callable[[SubParsers, str, Handler, str], argparse.ArgumentParser]

_POLL_S = 5.0  # --follow reads the table at least this often: a NOTIFY can be missed
_VALUE_WIDTH = 40


def add_commands(commands: SubParsers, add: Add) -> None:
    changes = commands.add_parser(
        "changes",
        help="Read the change feed: every change the mirror applied.",
        description="Read the change feed (syncd.changes): every insert, update and deletion a sync "
        "or a replay applied to the mirror, oldest first.",
    )
    actions = changes.add_subparsers(dest="changes_command", metavar="ACTION", required=True)
    tail = add(
        actions,
        "tail",
        _cmd_tail,
        "Print the latest changes (or from --from ID on), and with --follow the new ones as they come.",
    )
    tail.add_argument(
        "--from",
        dest="from_id",
        type=non_negative_int,
        metavar="ID",
        help="start at this change id (default: the last --lines changes)",
    )
    tail.add_argument(
        "-n",
        "--lines",
        type=non_negative_int,
        default=10,
        metavar="N",
        help="without --from: how many of the latest changes to print first (default 10)",
    )
    tail.add_argument(
        "--kind",
        action="append",
        default=[],
        metavar="KIND",
        help="only these kinds (repeatable or comma-separated; event.* takes every event kind)",
    )
    tail.add_argument("--follow", "-f", action="store_true", help="keep printing new changes; Ctrl-C stops")
    tail.add_argument("--json", action="store_true", help="one JSON object per line (JSON Lines)")
    add(actions, "kinds", _cmd_kinds, "List every change kind the feed records.")


def parse_kinds(values: Sequence[str]) -> list[str]:
    """`--kind` values (repeatable, comma-separated), each checked; UsageError names a bad one."""
    from syncd.db import feed  # not at import: `syncd --help` should not load the mirror's tables

    try:
        return feed.parse_kind_filters(values)
    except ValueError as exc:
        raise UsageError(f"--kind: {exc}") from None


def describe(change: feed.Change) -> str:
    """One line: id, time, kind, object, and what changed (`state: active → canceled`)."""
    head = f"#{change.id}  {when(change.occurred_at)}  {change.kind}  {change.resource}/{change.object_id}"
    if change.origin != "sync":
        head += f"  ({change.origin})"
    if not change.fields:
        return head
    parts = []
    for name, values in sorted(change.fields.items()):
        old, new = values.get("old"), values.get("new")
        if isinstance(old, dict | list) or isinstance(new, dict | list):
            parts.append(name)
        else:
            parts.append(f"{name}: {_short(old)} → {_short(new)}")
    return f"{head}  {'; '.join(parts)}"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 1] + "…"


def _cmd_kinds(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db import feed

    for kind in feed.all_kinds():
        print(kind)
    return EXIT_OK


def _cmd_tail(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db import feed, migrate
    from syncd.db.engine import open_database
    from syncd.db.listen import follow_notifications

    kinds = parse_kinds(args.kind)
    stop = threading.Event()

    def show(changes: Sequence[feed.Change]) -> None:
        for change in changes:
            print(
                json.dumps(change.as_dict(), ensure_ascii=False) if args.json else describe(change),
                flush=True,
            )

    with open_database(settings, application_name="syncd-changes-tail") as database:
        engine = database.engine
        migrate.require_current(engine)
        with engine.connect() as conn:
            if args.from_id is not None:
                after = max(args.from_id - 1, 0)
            else:
                after = feed.first_change_id(
                    conn, before=feed.last_change_id(conn), count=args.lines, kinds=kinds
                )
            conn.rollback()
        if not args.follow:  # once: everything visible now
            with engine.connect() as conn:
                while batch := feed.read_changes(conn, after, kinds=kinds, limit=500):
                    show(batch)
                    after = batch[-1].id
            return EXIT_OK

        def one_pass() -> float:
            # Following: never past a change whose transaction has yet to commit.
            nonlocal after
            with engine.connect() as conn:
                while True:
                    batch, settled = feed.read_settled(conn, after, kinds=kinds, limit=500)
                    show(batch)
                    conn.rollback()
                    if settled == after:
                        return _POLL_S
                    after = settled

        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            follow_notifications(engine, stop, feed.NOTIFY_CHANNEL, name="changes", one_pass=one_pass)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return EXIT_OK
