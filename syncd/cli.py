"""The `syncd` command line: parses arguments, loads settings, calls in. No product logic lives here.

Exit codes: 0 success, 1 the job failed, 2 bad usage or bad settings.

1: a resource or intent failed, the database or the API cannot be reached, the schema is behind.
2: bad arguments, a bad or missing setting, a data_dir that cannot be created, a port that is
taken, an API key the API refuses (401). Each is one line on stderr, never a traceback.

Start-up is part of the interface (`syncd --help` and `syncd version` in well under 0.3 s): the
parser is built from this module and the `*_cli` modules alone, which import nothing heavier than
the standard library at their top. pydantic, SQLAlchemy, psycopg, httpx and structlog load inside
the handlers, and in `main` once a command that needs settings runs (tests/acceptance/test_startup.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

from syncd import __version__
from syncd.db.errors import DatabaseUnavailable, DataDirUnusable, EmbeddedDatabaseError, SchemaBehind
from syncd.db.url import has_credentials

if TYPE_CHECKING:
    from syncd.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# One-shot commands give up on an API they cannot connect to after this long, retries included.
ONE_SHOT_UNREACHABLE_S = 10.0

# A string: naming Settings at run time would import pydantic before the arguments are parsed.
Handler: TypeAlias = "Callable[[argparse.Namespace, Settings], int]"
# A command that needs no settings (and so no logging): it runs even when a setting is bad.
SettingsFreeHandler: TypeAlias = Callable[[argparse.Namespace, argparse.ArgumentParser], int]


class UsageError(Exception):
    """Bad arguments that argparse could not catch; exit 2."""


def _common_options(*, as_defaults: bool) -> argparse.ArgumentParser:
    """Options every command takes, before or after the command name (`syncd db upgrade --data-dir X`)."""
    # After the command name, SUPPRESS keeps an absent option from hiding one given before it.
    default = argparse.SUPPRESS if not as_defaults else None
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group(
        "settings (flags override SYNCD_* variables, which override the config file)"
    )
    group.add_argument(
        "--config", type=Path, metavar="FILE", default=default, help="TOML settings file [SYNCD_CONFIG]"
    )
    group.add_argument(
        "--api-url", metavar="URL", default=default, help="SimplyMeet API base URL [SYNCD_API_URL]"
    )
    group.add_argument(
        "--database-url",
        metavar="URL",
        default=default,
        help="PostgreSQL URL; unset: embedded [SYNCD_DATABASE_URL]",
    )
    group.add_argument(
        "--data-dir", type=Path, metavar="DIR", default=default, help="local state [SYNCD_DATA_DIR]"
    )
    group.add_argument(
        "--log-level", metavar="LEVEL", default=default, help="debug, info, warning, error [SYNCD_LOG_LEVEL]"
    )
    group.add_argument(
        "--log-format", metavar="FMT", default=default, help="auto, json, console [SYNCD_LOG_FORMAT]"
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if as_defaults else argparse.SUPPRESS,
        help="show info lines (-vv: debug); on a terminal only warnings show otherwise, "
        "unless a log level is given",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    common = _common_options(as_defaults=False)
    parser = argparse.ArgumentParser(
        prog="syncd",
        description="Mirror a SimplyMeet.me account into PostgreSQL and carry local decisions back to it.",
        parents=[_common_options(as_defaults=True)],
        epilog="Exit codes: 0 success, 1 the job failed, 2 bad usage or bad settings. "
        "Run `syncd COMMAND --help` for each command.",
    )
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        handler: Handler,
        help_text: str,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text, description=help_text, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    version = commands.add_parser(
        "version",
        help="Print the syncd version.",
        description="Print the syncd version (as --version does); settings are not read.",
    )
    version.set_defaults(settings_free=_cmd_version)
    add(commands, "check", _cmd_check, "Check the settings, the database and the API key, one line each.")

    config = commands.add_parser("config", help="Inspect settings.", description="Inspect settings.")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = add(config_commands, "show", _cmd_config_show, "Print the effective settings, secrets masked.")
    show.add_argument("--json", action="store_true", help="machine-readable output")

    db = commands.add_parser("db", help="Manage the database.", description="Manage the database.")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    add(db_commands, "upgrade", _cmd_db_upgrade, "Apply migrations up to the latest schema.")
    add(db_commands, "status", _cmd_db_status, "Show where the database schema stands against this code.")
    psql = add(
        db_commands, "psql", _cmd_db_psql, "Open psql on the database (starts the embedded one if needed)."
    )
    psql.add_argument(
        "psql_args", nargs=argparse.REMAINDER, help="after --, passed on to psql (-- -c 'SELECT 1')"
    )

    sandbox = add(commands, "sandbox", _cmd_sandbox, "Run the SimplyMeet API simulator on a loopback port.")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sandbox.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0 picks a free one)")
    sandbox.add_argument("--api-key", default="sandbox-key", help="X-API-KEY the sandbox accepts")
    sandbox.add_argument(
        "--events", type=non_negative_int, default=200, help="events in the world (default 200)"
    )
    sandbox.add_argument("--seed", type=int, default=1, help="seed of the world (default 1)")
    sandbox.add_argument(
        "--latency", type=_non_negative_float, default=0.0, metavar="SECONDS", help="added latency"
    )
    sandbox.add_argument(
        "--rate-limit",
        type=_positive_float,
        default=None,
        metavar="PER_SECOND",
        help="answer 429 beyond this rate",
    )
    sandbox.add_argument(
        "--error-rate", type=_share, default=0.0, metavar="SHARE", help="share of 5xx answers"
    )
    sandbox.add_argument(
        "--drop-rate", type=_share, default=0.0, metavar="SHARE", help="share of dropped connections"
    )
    sandbox.add_argument(
        "--malformed-rate", type=_share, default=0.0, metavar="SHARE", help="share of malformed JSON answers"
    )
    sandbox.add_argument(
        "--admin-token", default=None, help="enables the /_sandbox/ side door with this token"
    )
    sandbox.add_argument(
        "--profile",
        default="default",
        metavar="NAME[,NAME]",
        help="variation profiles: how the API answers where its docs leave a choice open (docs/sandbox.md)",
    )

    sync = add(commands, "sync", _cmd_sync, "Sync the mirror once (incremental where it can), then exit.")
    sync.add_argument(
        "resources", nargs="*", metavar="RESOURCE", help="resources to sync (default: all, in order)"
    )
    sync.add_argument(
        "--full", action="store_true", help="read everything and mark what is gone upstream as deleted"
    )
    status = add(
        commands,
        "status",
        _cmd_status,
        "Show who leads `syncd run`, the intent queue, and per resource: last success, its age, rows, last run.",
    )
    status.add_argument("--json", action="store_true", help="machine-readable output (docs/sync.md)")
    add(
        commands,
        "run",
        _cmd_run,
        "Run the service: scheduled syncs (on the leader), intents replayed and webhooks delivered as "
        "they arrive, /healthz /readyz /metrics; SIGTERM stops it.",
    )

    from syncd.intents_cli import add_commands as add_queue_commands  # imports this module back

    add_queue_commands(commands, db_commands, add)
    from syncd.webhooks_cli import add_commands as add_webhook_commands  # imports this module back

    add_webhook_commands(commands, db_commands, add)
    from syncd.changes_cli import add_commands as add_change_commands  # imports this module back

    add_change_commands(commands, add)
    replay = add(
        commands, "replay", _cmd_replay, "Replay due write intents to the API once (exit 1 if any failed)."
    )
    replay.add_argument(
        "--follow",
        action="store_true",
        help="keep replaying: wake on each new intent (NOTIFY) and sweep for retries; SIGINT/SIGTERM stop",
    )

    completion = commands.add_parser(
        "completion",
        help="Print a shell completion script: bash or zsh (see the README for where to put it).",
        description="Print a completion script for bash or zsh, generated from this command line's "
        "own parser: it costs syncd nothing at start-up. bash: `syncd completion bash > "
        "~/.local/share/bash-completion/completions/syncd`; zsh: `syncd completion zsh > "
        "~/.zfunc/_syncd` (with ~/.zfunc on $fpath before compinit).",
    )
    completion.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")
    completion.set_defaults(settings_free=_cmd_completion)

    demo = add(
        commands,
        "demo",
        _cmd_demo,
        "Run syncd end to end in a throwaway data dir with its own sandbox and embedded PostgreSQL "
        "(your settings and data are not used).",
    )
    demo.add_argument(
        "--events", type=non_negative_int, default=300, help="events in the sandbox (default 300)"
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the sandbox world (default 1)")
    demo.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        default=None,
        help="keep the demo's data in DIR (new or empty) and print how to connect to it",
    )
    return parser


def _number(kind: Callable[[str], Any], check: Callable[[Any], bool], what: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


_port = _number(int, lambda v: 0 <= v <= 65535, "a port number (0-65535)")
non_negative_int = _number(int, lambda v: v >= 0, "a whole number >= 0")
positive_int = _number(int, lambda v: v > 0, "a whole number > 0")
_non_negative_float = _number(float, lambda v: v >= 0, "a number >= 0")
_positive_float = _number(float, lambda v: v > 0, "a number > 0")
_share = _number(float, lambda v: 0.0 <= v <= 1.0, "a share between 0 and 1")


# --- commands -------------------------------------------------------------------------------------


def _cmd_version(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    print(f"syncd {__version__}")
    return EXIT_OK


def _cmd_completion(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import shtab  # here: only this command uses it

    print(shtab.complete(parser, shell=args.shell), end="")
    return EXIT_OK


def _cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.api import ApiError, ApiKeyRefused, ApiUnreachable
    from syncd.db import migrate
    from syncd.db.engine import open_database
    from syncd.logs import redactor
    from syncd.settings import SettingsError

    failures = 0

    def report(what: str, ok: bool, detail: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'}  {what:<9} {redactor.redact(detail)}", flush=True)

    report("settings", True, f"api_url {settings.api_url}, data_dir {settings.data_dir}")
    try:
        with open_database(settings) as database:
            current, head = migrate.current_revision(database.engine), migrate.head_revision()
            if current == head:
                report("database", True, f"{database.target}, schema at {current}")
            else:
                report(
                    "database",
                    False,
                    f"{database.target}: schema at {current or 'empty'}, needs {head}: run `syncd db upgrade`",
                )
    except (DatabaseUnavailable, EmbeddedDatabaseError) as exc:
        report("database", False, str(exc))
    try:
        key = settings.require_api_key()
    except SettingsError as exc:
        report("api", False, str(exc))
    else:
        try:
            with settings.api_client(
                api_key=key, max_attempts=2, unreachable_budget_s=ONE_SHOT_UNREACHABLE_S
            ) as client:
                user = client.current_user()
            report("api", True, f"{settings.api_url}: the key works (current user id {user.get('id')})")
        except (ApiKeyRefused, ApiUnreachable) as exc:
            report("api", False, api_stop_line(exc, settings.api_url))
        except ApiError as exc:
            report("api", False, f"{settings.api_url}: {exc}")
        except ValueError as exc:
            report("api", False, str(exc))
    return EXIT_FAILED if failures else EXIT_OK


def _cmd_config_show(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.formatting import table

    shown = settings.masked()
    if args.json:
        document = {name: {"value": value, "source": settings.source(name)} for name, value in shown.items()}
        print(json.dumps(document, indent=2, default=str))
        return EXIT_OK
    rows = [
        (
            name,
            settings.source(name),
            json.dumps(value, ensure_ascii=False, default=str) if value is not None else "-",
        )
        for name, value in shown.items()
    ]
    print(table(("setting", "source", "value"), rows))
    return EXIT_OK


def _cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db import migrate
    from syncd.db.engine import open_database

    with open_database(settings) as database:
        before, after = migrate.upgrade(database.engine)
        if before == after:
            print(f"database {database.target} is up to date (revision {after})")
        else:
            print(f"database {database.target} upgraded from {before or 'empty'} to {after}")
    return EXIT_OK


def _cmd_db_status(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db import migrate
    from syncd.db.engine import open_database

    with open_database(settings) as database:
        current, head = migrate.current_revision(database.engine), migrate.head_revision()
        print(f"database  {database.target}")
        if database.embedded is not None:
            print(f"data      {database.embedded.pgdata}")
        print(f"schema    {current or 'empty'} (this syncd needs {head})")
        print(f"psql      {database.psql_hint()}")
    if current != head:
        print("the schema is behind: run `syncd db upgrade`", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _cmd_db_psql(args: argparse.Namespace, settings: Settings) -> int:
    import shutil
    import subprocess

    from syncd.db.engine import open_database

    with open_database(settings) as database:
        if database.embedded is not None:
            binary = str(database.embedded.psql_binary)
        else:
            found = shutil.which("psql")
            if found is None:
                raise UsageError("psql is not on PATH; install the PostgreSQL client")
            binary = found
        url = database.url.set(drivername="postgresql")
        env = dict(os.environ)
        # Never on the command line, where ps would show it: the userinfo password or a password= option.
        password = url.password or url.query.get("password")
        if isinstance(password, str) and password:
            env["PGPASSWORD"] = password
        without_password = url.set(password=None).difference_update_query(["password"])
        conninfo = without_password.render_as_string(hide_password=False)
        # The embedded server must stay up while psql runs, so psql is a child, not an exec.
        extra = args.psql_args[1:] if args.psql_args[:1] == ["--"] else args.psql_args
        return subprocess.call([binary, conninfo, *extra], env=env)  # noqa: S603  # our own psql


def _cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.logs import redactor
    from syncd.sandbox import Sandbox, parse_profile
    from syncd.sandbox.server import ListenError, serve

    try:
        profile = parse_profile(args.profile)
    except ValueError as exc:
        raise UsageError(f"--profile: {exc}") from None
    sandbox = Sandbox(
        api_key=args.api_key,
        events=args.events,
        seed=args.seed,
        admin_token=args.admin_token,
        latency=args.latency,
        rate_limit=args.rate_limit,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        malformed_rate=args.malformed_rate,
        profile=profile,
    )
    redactor.add(args.api_key, *(t for t in [args.admin_token] if t))

    def announce(base_url: str) -> None:
        print(
            f"SimplyMeet sandbox: {args.events} events, seed {args.seed}, profile {args.profile}, "
            f"at {base_url}/panel/api\n"
            f"point syncd at it: SYNCD_API_URL={base_url} SYNCD_API_KEY=<the --api-key>\n"
            "Ctrl-C stops it.",
            flush=True,
        )

    try:
        serve(sandbox, host=args.host, port=args.port, on_listening=announce)
    except ListenError as exc:
        raise UsageError(f"{exc} (--host, --port; --port 0 picks a free one)") from None
    return EXIT_OK


def _resources(names: Sequence[str]) -> list[Any]:
    from syncd.resources import SYNCED

    known = {r.name: r for r in SYNCED}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UsageError(f"unknown resource {unknown[0]!r} (known: {', '.join(known)})")
    # Sync order is declaration order (parents first), whatever order they were named in.
    return [r for r in SYNCED if r.name in names] if names else list(SYNCED)


def _cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.db import migrate
    from syncd.db.engine import open_database
    from syncd.engine_options import sync_options
    from syncd.report import LiveProgress, LogProgress, summary_table
    from syncd.sync import Progress, fewer_collections, sync

    resources = _resources(args.resources)
    key = settings.require_api_key()
    with open_database(settings) as database:
        migrate.require_current(database.engine)
        # On a terminal one live display, cleared at the end: the summary table below replaces it.
        display: AbstractContextManager[Progress] = (
            LiveProgress(sys.stderr) if sys.stderr.isatty() else nullcontext(LogProgress())
        )
        with (
            settings.api_client(api_key=key, unreachable_budget_s=ONE_SHOT_UNREACHABLE_S) as client,
            fewer_collections(),
            display as progress,
        ):
            summary = sync(
                database.engine,
                client,
                resources,
                full=args.full,
                options=sync_options(settings),
                progress=progress,
            )
    print(summary_table(summary))
    return EXIT_OK if summary.ok else EXIT_FAILED


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    import datetime as dt

    from syncd.db import health, migrate
    from syncd.db.engine import open_database
    from syncd.db.leader import who_leads
    from syncd.formatting import when
    from syncd.report import status_document, status_table
    from syncd.sync import status

    with open_database(settings) as database:
        migrate.require_current(database.engine)
        statuses = status(database.engine)
        with database.engine.connect() as conn:
            leading, queue = who_leads(conn), health.intents_by_status(conn)
            oldest = health.oldest_pending_age_s(conn)
    now = dt.datetime.now(dt.UTC)
    if args.json:
        print(json.dumps(status_document(leading, queue, oldest, statuses, now), indent=2))
        return EXIT_OK
    if leading is None:
        print("leader    none (no `syncd run` holds the lead)")
    else:
        since = when(leading.backend_start)
        print(f"leader    {leading.application_name} (session pid {leading.pid}, since {since})")
    depth = ", ".join(f"{count} {name}" for name, count in sorted(queue.items())) or "empty"
    print(f"intents   {depth}" + (f"; oldest pending {oldest:.0f}s old" if queue.get("pending") else ""))
    print(status_table(statuses, now))
    return EXIT_OK


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.daemon import run_daemon

    return run_daemon(settings)


def _cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    import threading

    import structlog

    from syncd.api.dispatcher import ApiDispatcher
    from syncd.db import migrate
    from syncd.db.engine import open_database
    from syncd.db.intent_queue import PostgresIntentQueue
    from syncd.engine_options import replay_options
    from syncd.replay import follow, replay_once

    key = settings.require_api_key()
    options = replay_options(settings)
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        # Finish the intents under way, then return: a kill mid-call would only leave them in doubt.
        structlog.get_logger(__name__).info("replay.stopping", signal=signal.Signals(signum).name)
        stop.set()

    with open_database(settings, application_name="syncd-replay") as database:
        migrate.require_current(database.engine)
        # --follow keeps going like `syncd run`; a single pass gives up on an API it cannot reach.
        budget = None if args.follow else ONE_SHOT_UNREACHABLE_S
        with settings.api_client(api_key=key, unreachable_budget_s=budget) as client:
            queue = PostgresIntentQueue(database.engine, options.api_timezone)
            dispatcher = ApiDispatcher(client, options.api_timezone)
            previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                if args.follow:
                    from syncd.memory import tune_allocator

                    tune_allocator()  # long-running and multi-threaded, as `syncd run` (see there)
                    follow(queue, dispatcher, stop, options)
                    return EXIT_OK
                summary = replay_once(queue, dispatcher, options, stop=stop)
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            gave_up = client.gave_up
    print(summary.line())
    if gave_up is not None:
        raise gave_up  # the intents stay queued for a later pass; the line says why they did not go
    return EXIT_OK if summary.ok else EXIT_FAILED


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.demo import run_demo

    keep: Path | None = None
    if args.keep is not None:
        keep = args.keep.expanduser().absolute()
        # Never the user's real data by mistake: only a new or empty directory, never the configured one.
        if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
            raise UsageError(f"--keep {keep}: exists and is not an empty directory; name a new or empty one")
        if keep == settings.data_dir:
            raise UsageError(f"--keep {keep}: is the configured data_dir; name another directory")
    return run_demo(settings, events=args.events, seed=args.seed, keep=keep)


# --- entry point ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings_free: SettingsFreeHandler | None = getattr(args, "settings_free", None)
    if settings_free is not None:  # before the settings: the version or a shell script needs none
        return settings_free(args, parser)
    # Only now, when a command runs: these import pydantic and structlog (see the module's docstring).
    from syncd.logs import configure_logging, effective_level, redactor
    from syncd.settings import FLAG_SETTINGS, SettingsError, load_settings

    if getattr(args, "database_url", None) and has_credentials(args.database_url):
        _fail(
            parser,
            "--database-url holds a password, which `ps` shows to every user: "
            "put the URL in SYNCD_DATABASE_URL or in a file named by SYNCD_DATABASE_URL_FILE",
        )
    try:
        overrides = {name: getattr(args, name, None) for name in FLAG_SETTINGS}
        settings = load_settings(config_file=getattr(args, "config", None), overrides=overrides)
    except SettingsError as exc:
        # Logging is not configured yet: settings decide how; say it plainly on stderr.
        _fail(parser, str(exc))
    level = effective_level(
        settings.log_level,
        given="log_level" in settings.model_fields_set,
        verbose=getattr(args, "verbose", 0),
        terminal=sys.stderr.isatty(),
    )
    configure_logging(level, settings.log_format, secrets=settings.secrets())
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except (SettingsError, UsageError, DataDirUnusable) as exc:
        _fail(parser, str(exc))
    except (DatabaseUnavailable, EmbeddedDatabaseError, SchemaBehind) as exc:
        print(f"syncd: {redactor.redact(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("syncd: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from syncd.api.errors import ApiKeyRefused, ApiUnreachable  # here: the API package imports httpx

        if isinstance(exc, ApiKeyRefused):  # a setting: the key
            _fail(parser, api_stop_line(exc, settings.api_url))
        if isinstance(exc, ApiUnreachable):
            print(f"syncd: {api_stop_line(exc, settings.api_url)}", file=sys.stderr)
            return EXIT_FAILED
        import structlog

        structlog.get_logger(__name__).exception("syncd.crashed", command=args.command)
        return EXIT_FAILED


def api_stop_line(exc: Exception, api_url: str) -> str:
    """The one line for an API that cannot be reached or refuses the key (never the key itself)."""
    from syncd.api.errors import ApiUnreachable

    if isinstance(exc, ApiUnreachable):
        return f"the API at {api_url} cannot be reached: {exc.reason}"
    return f"the API at {api_url} refused the key (HTTP 401): check SYNCD_API_KEY or SYNCD_API_KEY_FILE"


def _fail(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    from syncd.logs import redactor

    print(f"syncd: error: {redactor.redact(message)}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def run() -> NoReturn:
    raise SystemExit(main())
