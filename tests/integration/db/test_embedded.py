from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

from syncd.db.embedded import DATABASE_NAME, start_embedded

pytestmark = pytest.mark.integration

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


def _child(data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def _answers(socket_dir: str) -> bool:
    try:
        with psycopg.connect(
            f"host={socket_dir} user=postgres dbname={DATABASE_NAME}", connect_timeout=3
        ) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def test_shared_by_processes_and_stopped_by_the_last(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
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


def test_a_killed_user_does_not_keep_the_server_forever(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
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
    assert _answers(str(server.socket_dir))
    assert "psql" in server.psql_command()
