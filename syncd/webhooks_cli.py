"""`syncd webhooks ...`: subscribe receivers to the change feed, see how they fare, steer them.

Parsers and handlers only; the SQL is in `syncd.db.webhooks`, delivery in `syncd.webhooks`.
Registered by `syncd.cli.build_parser`. An impossible request becomes one line and exit 2. A secret
is printed once, by `add`, and never again.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import urlsplit, urlunsplit

from syncd.cli import EXIT_FAILED, EXIT_OK, Handler, UsageError, positive_int
from syncd.formatting import json_default, one_line, table, when

if TYPE_CHECKING:  # at run time these would load SQLAlchemy and pydantic before `--help` prints
    from sqlalchemy import Connection

    from syncd.db.webhooks import Subscription
    from syncd.settings import Settings

    # argparse's subparsers type is generic only to the type checker
    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
    Add: TypeAlias = Callable[[SubParsers, str, Handler, str], argparse.ArgumentParser]

_LAST_ERROR_WIDTH = 60


def add_commands(commands: SubParsers, db_commands: SubParsers, add: Add) -> None:
    """Register `syncd webhooks ...` on `syncd`'s parser (`add` is build_parser's helper)."""
    webhooks = commands.add_parser(
        "webhooks",
        help="Send the change feed to HTTP receivers (signed, in order, retried).",
        description="Outgoing webhooks: each subscription receives every change syncd applies to the "
        "mirror, in order, signed (Standard Webhooks). `syncd run` delivers; see docs/webhooks.md.",
    )
    actions = webhooks.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)

    adding = add(
        actions,
        "add",
        _cmd_add,
        "Subscribe a URL; prints the subscription id and its signing secret (shown only this once).",
    )
    adding.add_argument("url", type=_url, metavar="URL", help="http:// or https:// URL that receives POSTs")
    adding.add_argument(
        "--kinds",
        type=_kinds,
        default=[],
        metavar="K,K",
        help="only these change kinds (event.cancelled, event.*, ...); default: every change",
    )
    adding.add_argument(
        "--secret",
        type=_secret,
        metavar="S",
        help="use this whsec_... secret instead of a generated one ('-' reads it from stdin)",
    )
    adding.add_argument("--description", metavar="D", help="a note: who receives it, and why")
    start = adding.add_mutually_exclusive_group()
    start.add_argument(
        "--from-start", action="store_true", help="send every change the feed holds, not only new ones"
    )
    start.add_argument(
        "--from",
        dest="from_id",
        type=positive_int,
        metavar="ID",
        help="start with change ID (default: only changes from now on)",
    )

    listing = add(actions, "list", _cmd_list, "List subscriptions: state, cursor, backlog, last error.")
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    for name, handler, help_text in (
        ("remove", _cmd_remove, "Delete a subscription and its delivery history."),
        ("enable", _cmd_enable, "Enable a subscription, clearing its failure streak; resumes at its cursor."),
        ("disable", _cmd_disable, "Stop delivering to a subscription (its cursor stays)."),
        ("test", _cmd_test, "Send one signed webhook.test ping now; prints the status and latency."),
    ):
        parser = add(actions, name, handler, help_text)
        parser.add_argument("subscription_id", type=positive_int, metavar="ID")

    replay = add(
        actions,
        "replay",
        _cmd_replay,
        "Send a range of changes again, in order (moves the cursor back to --from).",
    )
    replay.add_argument("subscription_id", type=positive_int, metavar="ID")
    replay.add_argument(
        "--from", dest="from_id", type=positive_int, required=True, metavar="CHANGE_ID", help="first change"
    )
    replay.add_argument(
        "--to",
        dest="to_id",
        type=positive_int,
        metavar="CHANGE_ID",
        help="last change (default: up to the cursor, then on as usual)",
    )


# --- argument types -------------------------------------------------------------------------------


def check_url(text: str) -> str:
    """An http:// or https:// URL with a host; ValueError saying what is wrong."""
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018  # raises on a bad port
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"{text!r} is not an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError(f"{text!r} has no host")
    if parts.fragment:
        raise ValueError(f"{text!r} has a #fragment, which is never sent to a server")
    return text.strip()


def _url(text: str) -> str:
    try:
        return check_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_kinds(text: str) -> list[str]:
    """`event.cancelled,event.*` as a filter list; ValueError naming a kind that does not exist."""
    from syncd.db.feed import parse_kind_filters

    kinds = parse_kind_filters([text])
    if not kinds:
        raise ValueError("--kinds needs at least one kind, e.g. event.cancelled or event.*")
    return kinds


def _kinds(text: str) -> list[str]:
    try:
        return parse_kinds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _secret(text: str) -> str:
    from syncd.webhooks import secret_key

    if text == "-":
        text = sys.stdin.readline().strip()
    try:
        secret_key(text)
    except ValueError as exc:  # the message never quotes the secret
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


@contextmanager
def _subscriptions(settings: Settings) -> Iterator[Connection]:
    """A transaction on a database whose schema is current; webhook errors become one line, exit 2."""
    from syncd.db import migrate
    from syncd.db.engine import open_database
    from syncd.db.webhooks import WebhookError

    with open_database(settings) as database:
        migrate.require_current(database.engine)
        try:
            with database.engine.begin() as conn:
                yield conn
        except WebhookError as exc:
            raise UsageError(str(exc)) from None


# --- handlers -------------------------------------------------------------------------------------


def _cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db.webhooks import add_subscription
    from syncd.logs import redactor
    from syncd.webhooks import generate_secret

    _check_policy(args.url, settings)
    secret = args.secret or generate_secret()
    redactor.add(secret)
    after_id = 0 if args.from_start else (args.from_id - 1 if args.from_id is not None else None)
    with _subscriptions(settings) as conn:
        subscription = add_subscription(
            conn, args.url, secret, kinds=args.kinds, description=args.description, after_id=after_id
        )
    print(f"id      {subscription.id}")
    print(f"secret  {secret}")
    print(
        f"webhook subscription {subscription.id}: {_show_url(subscription.url)}, "
        f"{_kinds_text(subscription.kinds)}, from change {subscription.cursor_id + 1} on. "
        "The secret is shown only now: give it to the receiver to verify signatures.",
        file=sys.stderr,
    )
    return EXIT_OK


def _check_policy(url: str, settings: Settings) -> None:
    """Refuse a receiver whose host is, or now resolves to, an address the policy refuses (exit 2);
    the same check runs again at every connection, after resolution."""
    import httpx

    from syncd.netpolicy import AddressPolicy, AddressRefused, check_target

    policy = AddressPolicy.from_settings(settings.webhook_allow_private, settings.webhook_allow_cidrs)
    try:
        check_target(url, policy)
    except AddressRefused as exc:
        raise UsageError(str(exc)) from None
    except httpx.InvalidURL as exc:
        raise UsageError(f"{_show_url(url)!r} is not a valid URL: {exc}") from None
    except OSError as exc:  # no address now: a receiver whose name is not live yet may still be added
        host = urlsplit(url).hostname
        print(
            f"note: {host} does not resolve now ({exc.strerror or exc}); "
            "its addresses are checked at every connection",
            file=sys.stderr,
        )


def _cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db.webhooks import BACKLOG_COUNT_LIMIT, backlog, list_subscriptions

    with _subscriptions(settings) as conn:
        found = [(sub, backlog(conn, sub)) for sub in list_subscriptions(conn)]
    if args.json:
        rows = [
            {**sub.as_dict(), "url": _show_url(sub.url), "state": sub.state, "backlog": count}
            for sub, count in found
        ]
        print(json.dumps(rows, indent=2, default=json_default))
    else:
        print(subscriptions_table(found, BACKLOG_COUNT_LIMIT))
    return EXIT_OK


def _cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db.webhooks import remove_subscription

    with _subscriptions(settings) as conn:
        subscription = remove_subscription(conn, args.subscription_id)
    print(f"webhook subscription {subscription.id} ({_show_url(subscription.url)}) removed")
    return EXIT_OK


def _cmd_enable(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db.webhooks import enable_subscription

    with _subscriptions(settings) as conn:
        subscription = enable_subscription(conn, args.subscription_id)
    print(
        f"webhook subscription {subscription.id} enabled: delivery resumes after change {subscription.cursor_id}"
    )
    return EXIT_OK


def _cmd_disable(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db.webhooks import disable_subscription

    with _subscriptions(settings) as conn:
        subscription = disable_subscription(conn, args.subscription_id, "disabled by an operator")
    print(
        f"webhook subscription {subscription.id} disabled at change {subscription.cursor_id}: "
        "`syncd webhooks enable` resumes it there"
    )
    return EXIT_OK


def _cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db.webhooks import replay_subscription

    with _subscriptions(settings) as conn:
        subscription = replay_subscription(conn, args.subscription_id, args.from_id, args.to_id)
    upto = f" through {args.to_id}" if args.to_id is not None else ""
    note = "" if subscription.enabled else " (it is disabled: `syncd webhooks enable` it to deliver)"
    print(
        f"webhook subscription {subscription.id} will receive changes from {args.from_id}{upto} again, "
        f"in order{note}"
    )
    return EXIT_OK


def _cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db import migrate
    from syncd.db.engine import open_database
    from syncd.db.webhooks import WebhookError
    from syncd.engine_options import webhook_options
    from syncd.webhooks import send_test, webhook_client

    options = webhook_options(settings)
    with open_database(settings) as database:
        migrate.require_current(database.engine)
        with webhook_client(options) as client:
            try:
                answer = send_test(database.engine, client, args.subscription_id)
            except WebhookError as exc:
                raise UsageError(str(exc)) from None
    status = str(answer.status_code) if answer.status_code is not None else "no answer"
    if answer.ok:
        print(f"webhook subscription {args.subscription_id}: {status} in {answer.duration_ms} ms")
        return EXIT_OK
    print(
        f"webhook subscription {args.subscription_id}: {status} in {answer.duration_ms} ms: {answer.error}",
        file=sys.stderr,
    )
    return EXIT_FAILED


# --- output ---------------------------------------------------------------------------------------


def _show_url(url: str) -> str:
    """The URL with a password in it masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:****@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _kinds_text(kinds: Sequence[str]) -> str:
    return ",".join(kinds) if kinds else "all kinds"


def _state(sub: Subscription) -> str:
    if not sub.enabled:
        return f"disabled ({one_line(sub.disabled_reason, 40)})" if sub.disabled_reason else "disabled"
    if sub.attempts:
        return f"failing ({sub.attempts} attempts)"
    return "ok"


def subscriptions_table(found: Sequence[tuple[Subscription, int]], limit: int) -> str:
    """id, state, kinds, cursor, backlog, next attempt (failing only), url, last error: one row each.
    Never the secret."""
    if not found:
        return "no webhook subscriptions"
    header = ("id", "state", "kinds", "cursor", "backlog", "next attempt", "url", "last error")
    rows: list[tuple[str, ...]] = [
        (
            str(sub.id),
            _state(sub),
            _kinds_text(sub.kinds),
            str(sub.cursor_id),
            f"{count}+" if count >= limit else str(count),
            when(sub.next_attempt_at) if sub.enabled and sub.attempts else "-",
            _show_url(sub.url),
            one_line(sub.last_error),
        )
        for sub, count in found
    ]
    return table(header, rows)
