"""README.md's "Use it on your SimplyMeet account", run as written, from a wheel in a fresh virtualenv.

A copy of the repository stands in for the clone, a fresh HOME for the user's, a sandbox for the
account. Each ```sh block of that section runs in bash (`set -euo pipefail`) as the next thing typed
in one terminal: the environment and the directory a block leaves are the next block's. Only what
must differ for a sandbox is substituted: SYNCD_API_URL (the sandbox's loopback URL) and
SYNCD_HEALTH_PORT (a free port) in the starting environment, and the sandbox's key typed at the
prompt. `syncd run` is started, asked for /readyz, and stopped with SIGTERM.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.helpers import CANARY_KEY, REPO_ROOT, clean_env, sandbox_process
from tests.integration.daemon.test_daemon import free_port, wait_for

pytestmark = pytest.mark.acceptance

SECTION = "## Use it on your SimplyMeet account"
# The first line of each step's block, in the README's order; each step's outcome is checked below.
STEPS = (
    "python3 -m venv ~/.venvs/syncd",
    "mkdir -p ~/.config/syncd",
    "syncd check",
    "syncd db upgrade",
    "syncd sync",
    "syncd db psql -- -c 'SELECT state, count(*) FROM simplymeet_bi.bookings",
    "syncd run",
)
EVENTS = 60


def readme_blocks() -> list[str]:
    """The ```sh blocks of the section, in order; any other fence there would be a step this test skips."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n{SECTION}\n")
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end]
    openers = re.findall(r"^```(.*)\n(?:.*\n)*?```$", section, re.MULTILINE)
    assert openers, f"{SECTION}: no ```sh block"
    assert set(openers) == {"sh"}, f"{SECTION}: every fence must be ```sh, got {openers}"
    return re.findall(r"^```sh\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)


class Terminal:
    """One shell session, a block at a time: what a block exports or cd's into, the next one sees."""

    def __init__(self, env: dict[str, str], cwd: Path, state: Path) -> None:
        self.env, self.cwd = env, cwd
        self.env_file, self.cwd_file = state / "env", state / "cwd"
        self.outputs: list[str] = []

    def type(self, block: str, *, stdin: str = "") -> subprocess.CompletedProcess[str]:
        keep = f"pwd > {shlex.quote(str(self.cwd_file))}; env -0 > {shlex.quote(str(self.env_file))}"
        script = f"trap {shlex.quote(keep)} EXIT\nset -euo pipefail\n{block}"
        result = subprocess.run(
            ["bash", "-c", script],
            env=self.env,
            cwd=self.cwd,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        entries = self.env_file.read_text().split("\0")
        self.env = dict(entry.split("=", 1) for entry in entries if "=" in entry)
        self.cwd = Path(self.cwd_file.read_text().strip())
        self.outputs += [result.stdout, result.stderr]
        return result


def copy_of_the_clone(target: Path) -> Path:
    """The repository's files as a clone has them (tracked and new, not ignored), uncommitted edits included."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def python3_on_path(bin_dir: Path) -> Path:
    """`python3` for the README's commands: this interpreter's base, not the project's virtualenv."""
    bin_dir.mkdir()
    base = Path(getattr(sys, "_base_executable", sys.executable))
    wrapper = bin_dir / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(str(base))} "$@"\n')
    wrapper.chmod(0o755)
    return bin_dir


def last_lines(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.mark.timeout(420)
def test_the_readmes_real_account_path_runs_from_a_wheel(tmp_path: Path) -> None:
    blocks = readme_blocks()
    firsts = [block.splitlines()[0] for block in blocks]
    same = len(firsts) == len(STEPS) and all(map(str.startswith, firsts, STEPS))
    assert same, f"README.md's {SECTION!r} steps changed ({firsts}): teach this test what the new step shows"
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    clone = copy_of_the_clone(tmp_path / "clone")
    home = tmp_path / "home"
    home.mkdir()
    project_bin = str(Path(sys.executable).parent)
    path = [str(python3_on_path(tmp_path / "bin"))]
    path += [entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry != project_bin]
    venv = home / ".venvs" / "syncd"
    pgdata = home / ".local" / "share" / "syncd" / "postgres"  # as root, a link to /var/lib/syncd/<hash>

    with sandbox_process(events=EVENTS, seed=14) as (_, api_url):
        env = clean_env({"SYNCD_API_URL": api_url, "SYNCD_HEALTH_PORT": str(free_port())}, home=home)
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = os.pathsep.join(path)
        (tmp_path / "state").mkdir()
        terminal = Terminal(env, clone, tmp_path / "state")
        daemon: subprocess.Popen[str] | None = None
        log: IO[str] | None = None
        try:
            # 1. Install: the wheel, built in the clone, in a virtualenv of its own.
            installed = terminal.type(blocks[0])
            assert installed.returncode == 0, last_lines(installed)
            assert installed.stdout.strip().splitlines()[-1] == f"syncd {version}", last_lines(installed)
            assert list((clone / "dist").glob(f"syncd-{version}-*.whl"))
            assert shutil.which("syncd", path=terminal.env["PATH"]) == str(venv / "bin" / "syncd")
            imported = subprocess.run(
                [str(venv / "bin" / "python"), "-c", "import syncd; print(syncd.__file__)"],
                cwd=home,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            assert Path(imported).is_relative_to(venv / "lib"), imported  # from the wheel, not the repo

            # 2. The key, typed at the prompt, into a file only its owner reads.
            keyed = terminal.type(blocks[1], stdin=f"{CANARY_KEY}\n")
            assert keyed.returncode == 0, last_lines(keyed)
            key_file = home / ".config" / "syncd" / "api-key"
            assert terminal.env["SYNCD_API_KEY_FILE"] == str(key_file)
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            assert key_file.read_text() == f"{CANARY_KEY}\n"

            # 3. Check: settings and key ok; a new database needs `syncd db upgrade`, exit 1.
            checked = terminal.type(blocks[2])
            assert checked.returncode == 1, last_lines(checked)
            lines = checked.stdout.splitlines()
            assert len(lines) == 3, last_lines(checked)
            settings, database, api = lines
            assert settings.startswith(f"ok    settings  api_url {api_url}"), settings
            assert database.startswith("FAIL  database"), database
            assert "schema at empty" in database, database
            assert database.endswith("run `syncd db upgrade`"), database
            assert api.startswith("ok    api"), api
            assert "the key works" in api, api

            # 4. The embedded database, created and migrated; check now says ok three times.
            upgraded = terminal.type(blocks[3])
            assert upgraded.returncode == 0, last_lines(upgraded)
            assert "upgraded from empty" in upgraded.stdout
            assert (pgdata / "PG_VERSION").exists()
            oks = [line for line in upgraded.stdout.splitlines() if line.startswith("ok    ")]
            assert [line.split()[1] for line in oks] == ["settings", "database", "api"], upgraded.stdout

            # 5. The first sync: every resource succeeded; status counts the account's bookings.
            synced = terminal.type(blocks[4])
            assert synced.returncode == 0, last_lines(synced)
            table, status = synced.stdout.split("\nleader ", 1)
            rows = [line.split() for line in table.splitlines()[1:]]
            assert rows, synced.stdout
            assert all(row[2] == "succeeded" for row in rows), table
            assert "events" in {row[0] for row in rows}
            header = next(line for line in status.splitlines() if line.startswith("resource "))
            events = next(line for line in status.splitlines() if line.startswith("events "))
            live = header.index(" live ") + 1  # columns are aligned under their headings
            assert events[live:].split()[0] == str(EVENTS), status

            # 6. The first queries, on the analysts' views.
            queried = terminal.type(blocks[5])
            assert queried.returncode == 0, last_lines(queried)
            by_state = re.findall(r"^ (\w+)\s+\|\s+(\d+)$", queried.stdout, re.MULTILINE)
            assert {state for state, _ in by_state} <= {"active", "canceled", "no_show"}, queried.stdout
            assert sum(int(count) for _, count in by_state) == EVENTS, queried.stdout
            for header in ("week", "no_shows", "month", "cancellation_rate"):
                assert re.search(rf"\b{header}\b", queried.stdout), header
            assert len(re.findall(r"^\(\d+ rows?\)$", queried.stdout, re.MULTILINE)) == 3, queried.stdout

            # 7. The service: ready, then a clean stop on SIGTERM (as Ctrl-C or systemctl stop).
            log = (tmp_path / "run.log").open("w+")
            daemon = subprocess.Popen(
                ["bash", "-c", f"exec {blocks[6]}"],
                env=terminal.env,
                cwd=terminal.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
            readyz = f"http://127.0.0.1:{env['SYNCD_HEALTH_PORT']}/readyz"

            def ready() -> bool:
                assert daemon is not None
                assert daemon.poll() is None, "syncd run exited early"
                try:
                    answer = httpx.get(readyz, timeout=5)
                except httpx.TransportError:
                    return False
                return answer.status_code == 200 and answer.json() == {"ready": True, "problems": []}

            wait_for(ready, 60, "syncd run's /readyz to answer ready")
            daemon.send_signal(signal.SIGTERM)
            try:
                # shutdown_timeout_s (30) for the jobs under way, then the embedded server's stop.
                code: int | None = daemon.wait(90)
            except subprocess.TimeoutExpired:
                code = None
            log.seek(0)
            ran = log.read()
            assert code == 0, f"syncd run's exit after SIGTERM: {code}\n{ran[-3000:]}"
            assert "daemon.stopped" in ran, ran[-3000:]
            assert "Traceback" not in ran, ran[-3000:]
            terminal.outputs.append(ran)
            assert not any(CANARY_KEY in output for output in terminal.outputs)
        finally:
            if daemon is not None and daemon.poll() is None:
                daemon.kill()
                daemon.wait(10)
            if log is not None:
                log.close()
            if pgdata.is_symlink():
                shutil.rmtree(pgdata.resolve().parent, ignore_errors=True)
