from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg
import pytest

from syncd.db import embedded
from syncd.db.embedded import DATABASE_NAME, SERVER_ACCOUNT, EmbeddedServer, start_embedded, stop_embedded

pytestmark = pytest.mark.integration

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="acts as other local accounts, which needs root")

# A child process that joins the embedded server, reports its socket dir, then exits normally.
CHILD = textwrap.dedent(
    """
    import sys
    from syncd.db.embedded import start_embedded
    from syncd.logs import configure_logging
    configure_logging("warning", "json")
    server = start_embedded(__import__("pathlib").Path(sys.argv[1]))
    print(server.socket_dir, flush=True)
    sys.stdin.readline()
    """
)
# Run a command as another account. The ambient CAP_DAC_READ_SEARCH lets it read this venv's Python
# wherever it lives (under /root, say); it grants no write and no say in who PostgreSQL admits.
# The tools sit in sbin folders a minimal PATH (`env -i`, some CI) leaves out.
_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
SETPRIV = shutil.which("setpriv", path=_SBIN_PATH) or "setpriv"
RUNUSER = shutil.which("runuser", path=_SBIN_PATH) or "runuser"
AS_NOBODY = [SETPRIV, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
AS_NOBODY += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]


def _child(data_dir: Path, as_account: Sequence[str] = ()) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*as_account, sys.executable, "-c", CHILD, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def _answers(socket_dir: str) -> bool:
    try:
        with psycopg.connect(
            f"host={socket_dir} user=postgres dbname={DATABASE_NAME}", connect_timeout=3
        ) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def _psql(socket_dir: Path | str, query: str, as_account: list[str]) -> subprocess.CompletedProcess[str]:
    """The wheel's psql, run as another local account (`as_account` is the command prefix)."""
    psql = embedded._wheel_pginstall() / "bin" / "psql"
    conninfo = f"host={socket_dir} user=postgres dbname=postgres connect_timeout=3"
    return subprocess.run(
        [*as_account, str(psql), conninfo, "-At", "-c", query],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _forget(data_dir: Path) -> None:
    """Remove what a test's servers left outside data_dir (as root: /var/lib/syncd/<hash>)."""
    link = data_dir / "postgres"
    if link.is_symlink():
        shutil.rmtree(link.resolve().parent, ignore_errors=True)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    _forget(tmp_path / "data")


def test_shared_by_processes_and_stopped_by_the_last(data_dir: Path) -> None:
    first, second = _child(data_dir), _child(data_dir)
    try:
        assert first.stdout is not None
        assert second.stdout is not None
        socket_dir = first.stdout.readline().strip()
        assert second.stdout.readline().strip() == socket_dir  # both joined one server
        assert _answers(socket_dir)
        first.communicate("\n", timeout=30)
        assert _answers(socket_dir), "the server stopped while a second process still used it"
        second.communicate("\n", timeout=30)
        assert not _answers(socket_dir), "the last process left the server running"
    finally:
        for child in (first, second):
            if child.poll() is None:
                child.kill()
            child.communicate()


def test_a_killed_user_does_not_keep_the_server_forever(data_dir: Path) -> None:
    killed = _child(data_dir)
    assert killed.stdout is not None
    socket_dir = killed.stdout.readline().strip()
    killed.kill()
    killed.communicate()
    survivor = _child(data_dir)
    assert survivor.stdout is not None
    assert survivor.stdout.readline().strip() == socket_dir  # reused the running server
    survivor.communicate("\n", timeout=30)
    assert not _answers(socket_dir)


def test_in_process_start_creates_the_database(tmp_path: Path) -> None:
    server = start_embedded(tmp_path / "data")
    try:
        assert _answers(str(server.socket_dir))
        assert "psql" in server.psql_command()
    finally:
        stop_embedded(server, delete=True)
    assert not server.pgdata.exists()


def _modes_above(path: Path) -> dict[Path, int]:
    return {folder: folder.stat().st_mode for folder in path.parents}


def _access_rules(server: EmbeddedServer) -> tuple[set[tuple[str, str, str]], set[str]]:
    """(type, method, options) of every pg_hba.conf line, and the OS accounts of the ident map."""
    with psycopg.connect(f"host={server.socket_dir} user=postgres dbname=postgres") as conn:
        hba = conn.execute("SELECT type, auth_method, array_to_string(options, ',') FROM pg_hba_file_rules")
        rules = {(str(kind), str(method), str(options)) for kind, method, options in hba.fetchall()}
        ident = conn.execute("SELECT map_name, sys_name, pg_username FROM pg_ident_file_mappings").fetchall()
    assert {(m, role) for m, _, role in ident} == {("syncd", "postgres")}
    return rules, {str(name) for _, name, _ in ident}


@needs_root
def test_as_root_with_a_private_home_only_its_owner_connects(tmp_path: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="syncd-root-home-"))  # 0700, as root's home is
    data_dir = home / ".local" / "share" / "syncd"
    data_dir.parent.mkdir(parents=True)
    pginstall = embedded._wheel_pginstall()
    before = {**_modes_above(data_dir), **_modes_above(pginstall / "bin" / "postgres")}
    server = start_embedded(data_dir)
    try:
        after = {folder: folder.stat().st_mode for folder in before}
        assert after == before, "a folder above the data dir or the binaries changed mode"
        assert oct(home.stat().st_mode & 0o777) == "0o700"
        account = pwd.getpwnam(SERVER_ACCOUNT)
        for folder in {server.pgdata, server.socket_dir, server.pgdata.parent}:
            st = folder.stat()
            assert (st.st_uid, st.st_mode & 0o777) == (account.pw_uid, 0o700), folder
        assert server.pgdata.is_relative_to(embedded.ROOT_STATE_DIR)
        assert (data_dir / "postgres").resolve() == server.pgdata  # where the data is, from data_dir

        rules, admitted = _access_rules(server)
        assert rules == {("local", "peer", "map=syncd")}
        assert admitted == {SERVER_ACCOUNT, "root"}
        owner = _psql(server.socket_dir, "SELECT current_user", [RUNUSER, "-u", SERVER_ACCOUNT, "--"])
        assert (owner.returncode, owner.stdout.strip()) == (0, "postgres"), owner.stderr
        stranger = _psql(server.socket_dir, "SELECT current_user", [RUNUSER, "-u", "nobody", "--"])
        assert stranger.returncode != 0
        assert "Permission denied" in stranger.stderr  # the 0700 socket folder stops it first
    finally:
        stop_embedded(server, delete=True)
        shutil.rmtree(home, ignore_errors=True)
    assert not server.pgdata.parent.exists()


@needs_root
def test_as_a_normal_user_no_other_account_connects() -> None:
    home = Path(tempfile.mkdtemp(prefix="syncd-user-home-"))
    nobody = pwd.getpwnam("nobody")
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    child = _child(home / "data", AS_NOBODY)
    try:
        assert child.stdout is not None
        socket_dir = Path(child.stdout.readline().strip())
        assert socket_dir == home / "data" / "postgres"
        st = socket_dir.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (nobody.pw_uid, 0o700)

        owner = _psql(
            socket_dir, "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method <> 'peer'", AS_NOBODY
        )
        assert (owner.returncode, owner.stdout.strip()) == (0, "0"), owner.stderr
        root = _psql(socket_dir, "SELECT 1", [])  # root passes any folder: the authentication must stop it
        assert root.returncode != 0
        assert 'Peer authentication failed for user "postgres"' in root.stderr
        other = _psql(socket_dir, "SELECT 1", [RUNUSER, "-u", "daemon", "--"])
        assert other.returncode != 0
        assert "Permission denied" in other.stderr
        child.communicate("\n", timeout=30)
        assert not (socket_dir / "postmaster.pid").exists(), "the server outlived its only user"
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
        shutil.rmtree(home, ignore_errors=True)


def test_an_old_data_dir_that_trusted_every_local_account_is_locked() -> None:
    """A data dir from before: initdb --auth=trust, as the old start did. The next start locks it."""
    run_as = pwd.getpwnam(SERVER_ACCOUNT) if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="syncd-old-"))
    data_dir, old_pgdata = base / "data", base / "data" / "postgres"
    old_pgdata.mkdir(parents=True)
    if run_as is not None:  # the old start widened the folders above it; here only this test's own
        for folder in (base, data_dir):
            folder.chmod(0o755)
        os.chown(old_pgdata, run_as.pw_uid, run_as.pw_gid)
    initdb = embedded._wheel_pginstall() / "bin" / "initdb"
    subprocess.run(
        [str(initdb), "-D", str(old_pgdata), "-U", "postgres", "--auth=trust", "--no-instructions"],
        user=run_as.pw_uid if run_as else None,
        cwd="/",
        capture_output=True,
        check=True,
    )
    server = start_embedded(data_dir)
    try:
        rules, _ = _access_rules(server)
        assert rules == {("local", "peer", "map=syncd")}
        assert "trust" not in (server.pgdata / "pg_hba.conf").read_text()
        if run_as is not None:  # moved out of root's folders (same file system here), linked from data_dir
            assert server.pgdata.is_relative_to(embedded.ROOT_STATE_DIR)
            assert old_pgdata.is_symlink()
    finally:
        stop_embedded(server, delete=True)
        shutil.rmtree(base, ignore_errors=True)


@needs_root
def test_binaries_out_of_the_server_accounts_reach_are_copied_for_it(tmp_path: Path) -> None:
    account = pwd.getpwnam(SERVER_ACCOUNT)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)  # the umask must not decide: the account must not reach it
    for name, text in {
        "bin/postgres": "#!/bin/sh\n",
        "bin/pg_ctl": "#!/bin/sh\n",
        "bin/initdb": "#!/bin/sh\n",
    }.items():
        (private / name).parent.mkdir(parents=True, exist_ok=True)
        (private / name).write_text(text)
        (private / name).chmod(0o700)
    (private / "share").mkdir()
    (private / "share" / "postgres.bki").write_text("catalog\n")
    (private / "share" / "postgres.bki").chmod(0o600)
    state = Path(tempfile.mkdtemp(prefix="syncd-state-"))
    try:
        state.chmod(0o711)
        copied = embedded._binaries_for(account, private, state)
        assert copied.parent.parent.parent == state
        assert copied.parent.parent.name.startswith("embedded-postgres-")
        assert embedded._reachable(account, *embedded._needed(copied))
        assert oct(private.stat().st_mode & 0o777) == "0o700"  # the source is left as it was
        assert embedded._binaries_for(account, private, state) == copied  # made once
        assert embedded._binaries_for(account, copied, state) == copied  # reachable: used in place
    finally:
        shutil.rmtree(state, ignore_errors=True)


@needs_root
def test_binaries_under_a_private_folder_are_copied_though_the_files_are_open(tmp_path: Path) -> None:
    """A venv in root's home (0700): every file is world-readable, the folder above is not."""
    account = pwd.getpwnam(SERVER_ACCOUNT)
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o700)
    pginstall = home / "venv" / "pginstall"
    for name in ("bin/postgres", "bin/pg_ctl", "bin/initdb", "share/postgres.bki"):
        (pginstall / name).parent.mkdir(parents=True, exist_ok=True)
        (pginstall / name).write_text("#!/bin/sh\n")
        (pginstall / name).chmod(0o755)
    for folder in (home / "venv", pginstall, pginstall / "bin", pginstall / "share"):
        folder.chmod(0o755)
    state = Path(tempfile.mkdtemp(prefix="syncd-state-"))
    try:
        state.chmod(0o711)
        copied = embedded._binaries_for(account, pginstall, state)
        assert copied.is_relative_to(state), "the server's account cannot pass the private folder above"
        assert embedded._reachable(account, *embedded._needed(copied))
    finally:
        shutil.rmtree(state, ignore_errors=True)
