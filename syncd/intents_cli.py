"""`syncd intent ...`, `syncd intents ...` and `syncd db grant`: the write-back queue from the command line.

Parsers and handlers only; the SQL is in `syncd.db.intents`. Registered by `syncd.cli.build_parser`.
A refused intent (the database trigger's message) or an impossible request becomes one line and exit 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

from syncd.cli import EXIT_OK, Handler, UsageError, positive_int
from syncd.formatting import json_default, one_line, table, when
from syncd.intent_kinds import INTENT_KINDS
from syncd.intent_queue import STATUSES

if TYPE_CHECKING:  # at run time these would load SQLAlchemy and pydantic before `--help` prints
    from sqlalchemy import Connection

    from syncd.db.intents import WriteIntent
    from syncd.settings import Settings

    # argparse's subparsers type is generic only to the type checker
    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
    Add: TypeAlias = Callable[[SubParsers, str, Handler, str], argparse.ArgumentParser]

# Command name -> (kind, help), from the declaration: commands use dashes, kinds underscores.
_INTENT_COMMANDS = {kind.command_name: (kind.name, kind.summary) for kind in INTENT_KINDS.values()}


def add_commands(commands: SubParsers, db_commands: SubParsers, add: Add) -> None:
    """Register the queue's commands on `syncd`'s parser (`add` is build_parser's helper)."""
    intent = commands.add_parser(
        "intent",
        help="Queue a write to SimplyMeet (prints the intent id).",
        description="Queue a write intent; `syncd replay` carries it to SimplyMeet. Prints the new "
        "intent's id alone (--json: its row). A refused intent exits 2 with the reason.",
    )
    intent_commands = intent.add_subparsers(dest="intent_command", metavar="KIND", required=True)
    parsers = {
        name: add(intent_commands, name, _cmd_intent, help_text)
        for name, (_kind, help_text) in _INTENT_COMMANDS.items()
    }
    for name, parser in parsers.items():
        parser.set_defaults(kind=_INTENT_COMMANDS[name][0])
        parser.add_argument("event_id", type=_integer, metavar="EVENT_ID", help="the SimplyMeet event id")
    parsers["cancel"].add_argument("--reason", help="why (optional)")
    reschedule = parsers["reschedule"]
    for bound in ("start", "end"):
        reschedule.add_argument(
            f"--{bound}",
            required=True,
            help="'Y-m-d H:i:s' (UTC unless configured) or ISO 8601 with an offset",
        )
    reschedule.add_argument(
        "--allow-past",
        action="store_true",
        help="queue it even though --start is in the past (refused otherwise)",
    )
    reschedule.add_argument("--event-type-id", type=_integer, metavar="N", help="move it to this event type")
    reschedule.add_argument("--user-id", type=_integer, metavar="N", help="give it to this user")
    parsers["notes"].add_argument("--text", required=True, help="the new notes ('' clears them)")
    invite = parsers["invite"]
    invite.add_argument(
        "--email", action="append", required=True, dest="emails", help="an address to invite (repeatable)"
    )
    invite.add_argument("--message", help="a message for the invitation e-mail")
    for parser in parsers.values():
        parser.add_argument(
            "--idempotency-key",
            metavar="KEY",
            help="the same key twice is one intent (the second prints the first's id)",
        )
        parser.add_argument(
            "--expected-updated-at",
            type=_timestamp,
            metavar="TS",
            help="fail with 'conflict' instead if the event changed upstream since TS",
        )
        parser.add_argument(
            "--json", action="store_true", help="print the queued intent's row as JSON instead of its id"
        )

    intents = commands.add_parser(
        "intents",
        help="See and steer queued write intents.",
        description="See and steer queued write intents.",
    )
    intents_commands = intents.add_subparsers(dest="intents_command", metavar="ACTION", required=True)
    listing = add(intents_commands, "list", _cmd_intents_list, "List intents, newest first.")
    listing.add_argument("--status", choices=STATUSES, help="only intents in this status")
    listing.add_argument("--limit", type=positive_int, default=50, help="at most this many (default 50)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    retry = add(
        intents_commands, "retry", _cmd_intents_retry, "Put a failed intent back in the queue, due now."
    )
    retry.add_argument("intent_id", type=positive_int, metavar="ID")
    withdraw = add(
        intents_commands, "withdraw", _cmd_intents_withdraw, "Take a pending intent out of the queue."
    )
    withdraw.add_argument("intent_id", type=positive_int, metavar="ID")

    grant = add(
        db_commands,
        "grant",
        _cmd_db_grant,
        "Grant an existing role least-privilege access: --reader (the mirror) or --writer (intents).",
    )
    grant.add_argument(
        "--reader",
        metavar="ROLE",
        action="append",
        default=[],
        help="may SELECT the mirror (schema simplymeet) and the analysts' views (simplymeet_bi)",
    )
    grant.add_argument(
        "--writer",
        metavar="ROLE",
        action="append",
        default=[],
        help="may INSERT write intents and read their status and attempts, nothing else",
    )


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _timestamp(text: str) -> dt.datetime:
    from syncd.api.dates import parse_api_datetime

    try:
        return parse_api_datetime(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@contextmanager
def _queue(settings: Settings) -> Iterator[Connection]:
    """A transaction on a database whose schema is current; queue errors become one line, exit 2."""
    from syncd.db import migrate
    from syncd.db.engine import open_database
    from syncd.db.intents import IntentError

    with open_database(settings) as database:
        migrate.require_current(database.engine)
        try:
            with database.engine.begin() as conn:
                yield conn
        except IntentError as exc:
            raise UsageError(str(exc)) from None


# --- handlers -------------------------------------------------------------------------------------


def intent_payload(args: argparse.Namespace) -> dict[str, Any]:
    """The API request DTO's keys from the command's options; the database trigger checks them."""
    payload: dict[str, Any]
    if args.kind == "cancel":
        payload = {} if args.reason is None else {"reason": args.reason}
    elif args.kind == "reschedule":
        payload = {"start": args.start, "end": args.end}
        if args.event_type_id is not None:
            payload["eventTypeId"] = args.event_type_id
        if args.user_id is not None:
            payload["userId"] = args.user_id
    elif args.kind == "notes":
        payload = {"notes": args.text}
    elif args.kind == "invite":
        payload = {"emails": args.emails}
        if args.message is not None:
            payload["message"] = args.message
    else:
        payload = {}
    return payload


def _cmd_intent(args: argparse.Namespace, settings: Settings) -> int:
    """The id alone on stdout, for scripts (`id=$(syncd intent cancel 42)`); `--json`: the row."""
    from syncd.api.dates import resolve_zone
    from syncd.db.intents import enqueue, get_intent

    with _queue(settings) as conn:
        intent_id = enqueue(
            conn,
            args.kind,
            args.event_id,
            intent_payload(args),
            idempotency_key=args.idempotency_key,
            expected_updated_at=args.expected_updated_at,
            allow_past=getattr(args, "allow_past", False),
            # The zone syncd sends plain times in: "the past" is exact here, not the trigger's margin.
            plain_zone=resolve_zone(settings.api_timezone),
        )
        intent = get_intent(conn, intent_id) if args.json else None
    if intent is not None:
        print(json.dumps(intent.as_dict(), indent=2, default=json_default))
    else:
        print(intent_id)
    return EXIT_OK


def _cmd_intents_list(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db.intents import list_intents

    with _queue(settings) as conn:
        found = list_intents(conn, status=args.status, limit=args.limit)
    if args.json:
        print(json.dumps([intent.as_dict() for intent in found], indent=2, default=json_default))
    else:
        print(intents_table(found))
    return EXIT_OK


def _cmd_intents_retry(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db.intents import retry

    with _queue(settings) as conn:
        intent = retry(conn, args.intent_id)
    print(f"intent {intent.id} ({intent.kind} on event {intent.event_id}) is pending again, due now")
    return EXIT_OK


def _cmd_intents_withdraw(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db.intents import withdraw

    with _queue(settings) as conn:
        intent = withdraw(conn, args.intent_id)
    print(f"intent {intent.id} ({intent.kind} on event {intent.event_id}) withdrawn: it will not be replayed")
    return EXIT_OK


def _cmd_db_grant(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db.intents import grant_reader, grant_writer

    if not args.reader and not args.writer:
        raise UsageError("db grant needs --reader ROLE and/or --writer ROLE")
    with _queue(settings) as conn:
        done = [("reader", role, grant_reader(conn, role)) for role in args.reader]
        done += [("writer", role, grant_writer(conn, role)) for role in args.writer]
    for what, role, statements in done:
        print(f"granted {what} rights to role {role}:")
        for statement in statements:
            print(f"  {statement}")
    return EXIT_OK


# --- output ---------------------------------------------------------------------------------------


def intents_table(intents: Sequence[WriteIntent]) -> str:
    """id, kind, event, status, attempts, next attempt (pending only), last error: one row each."""
    if not intents:
        return "no intents"
    header = ("id", "kind", "event", "status", "attempts", "next attempt", "last error")
    rows = [
        (
            str(i.id),
            i.kind,
            str(i.event_id),
            i.status if i.failure_reason in (None, i.status) else f"{i.status} ({i.failure_reason})",
            str(i.attempts),
            when(i.next_attempt_at) if i.status == "pending" else "-",
            one_line(i.last_error),
        )
        for i in intents
    ]
    return table(header, rows)
