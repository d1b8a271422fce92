"""The `syncd` command as a user runs it: a subprocess, a clean environment, exit codes and output."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.helpers import CANARY_KEY, clean_env, run_syncd, url_for_env

pytestmark = pytest.mark.acceptance


def test_version_and_python_dash_m() -> None:
    result = run_syncd("version")
    assert result.returncode == 0
    assert result.stdout.startswith("syncd ")
    module = subprocess.run(
        [sys.executable, "-m", "syncd", "version"],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert module.returncode == 0
    assert module.stdout == result.stdout
    # The flag every tool takes says the same, exit 0, without settings or a command.
    flag = run_syncd("--version", env=clean_env({"SYNCD_LOG_FORMAT": "xml"}))
    assert (flag.returncode, flag.stdout, flag.stderr) == (0, result.stdout, "")


def test_help_lists_the_commands() -> None:
    result = run_syncd("--help")
    assert result.returncode == 0
    for command in ("version", "config", "db", "sandbox", "demo"):
        assert command in result.stdout


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    env = clean_env(
        {
            "SYNCD_API_KEY": CANARY_KEY,
            "SYNCD_DATABASE_URL": "postgresql://syncd:dbpassw0rd-canary@db.internal:5432/mirror",
        },
        home=tmp_path,
    )
    result = run_syncd("config", "show", env=env)
    assert result.returncode == 0, result.stderr
    assert CANARY_KEY not in result.stdout + result.stderr
    assert "dbpassw0rd-canary" not in result.stdout + result.stderr
    assert "db.internal:5432/mirror" in result.stdout
    as_json = run_syncd("config", "show", "--json", env=env)
    shown = json.loads(as_json.stdout)
    assert shown["api_key"]["value"].startswith("****")
    assert shown["api_key"]["source"] == "env"


def test_flags_after_the_command_override_env(tmp_path: Path) -> None:
    env = clean_env({"SYNCD_DATA_DIR": str(tmp_path / "from-env")}, home=tmp_path)
    result = run_syncd("config", "show", "--data-dir", str(tmp_path / "from-flag"), env=env)
    assert re.search(
        rf"^data_dir\s+flag\s+\"{re.escape(str(tmp_path / 'from-flag'))}\"$", result.stdout, re.M
    )


def test_config_show_says_where_each_value_came_from(tmp_path: Path) -> None:
    config = tmp_path / "syncd.toml"
    config.write_text('log_level = "debug"\napi_url = "https://file.example"\n')
    env = clean_env({"SYNCD_CONFIG": str(config), "SYNCD_API_URL": "https://env.example"}, home=tmp_path)
    text = run_syncd("config", "show", env=env)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0].split() == ["setting", "source", "value"]
    rows = {line.split()[0]: line.split()[1:] for line in text.stdout.splitlines()[1:]}
    assert rows["api_url"] == ["env", '"https://env.example"']
    assert rows["log_level"] == ["file", '"debug"']
    assert rows["log_format"] == ["default", '"auto"']
    as_json = json.loads(run_syncd("config", "show", "--json", "--log-level", "error", env=env).stdout)
    assert as_json["log_level"] == {"value": "error", "source": "flag"}
    assert as_json["availability_days"] == {"value": 14, "source": "default"}


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"SYNCD_DATABASE_URL": "mysql://root:pw-canary-123@db/x"}, "database_url"),
        ({"SYNCD_DATABASE_URL": "postgresql://u@db/x?password=pw-canary-123&bogus=1"}, "option 'bogus'"),
        ({"SYNCD_DATABASE_URL": "postgresql://u:pw-canary-123@db:54x/x"}, "malformed host or port"),
        ({"SYNCD_DATABASE_URL_FILE": "/nonexistent/database-url"}, "database_url_file"),
        ({"SYNCD_API_URL": "not-a-url"}, "api_url"),
        ({"SYNCD_LOG_FORMAT": "xml"}, "log_format"),
        ({"SYNCD_CONFIG": "/nonexistent/syncd.toml"}, "config file"),
    ],
)
def test_bad_settings_one_line_exit_2(tmp_path: Path, extra: dict[str, str], needle: str) -> None:
    result = run_syncd("config", "show", env=clean_env(extra, home=tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "pw-canary" not in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_one_line_exit_1(tmp_path: Path) -> None:
    env = clean_env({"SYNCD_DATABASE_URL": "postgresql://u:pw-canary-123@127.0.0.1:9/nothing"}, home=tmp_path)
    result = run_syncd("db", "upgrade", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot connect to the database at 127.0.0.1:9/nothing" in lines[0]
    assert "pw-canary" not in result.stderr


def test_db_upgrade_and_status(empty_database_url: URL, tmp_path: Path) -> None:
    env = clean_env({"SYNCD_DATABASE_URL": url_for_env(empty_database_url)}, home=tmp_path)
    behind = run_syncd("db", "status", env=env)
    assert behind.returncode == 1
    assert "syncd db upgrade" in behind.stderr
    first = run_syncd("db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    assert "upgraded from empty" in first.stdout
    again = run_syncd("db", "upgrade", env=env)
    assert "up to date" in again.stdout
    assert run_syncd("db", "status", env=env).returncode == 0


def test_db_upgrade_on_the_embedded_default(tmp_path: Path) -> None:
    """No database settings at all: the embedded server in the XDG data dir, then psql works on it."""
    env = clean_env(home=tmp_path)
    pgdata = tmp_path / ".local" / "share" / "syncd" / "postgres"  # as root, a link to /var/lib/syncd/<hash>
    try:
        result = run_syncd("db", "upgrade", env=env)
        assert result.returncode == 0, result.stderr
        assert (pgdata / "PG_VERSION").exists()
        status = run_syncd("db", "status", env=env)
        assert f"data      {pgdata.resolve()}" in status.stdout.splitlines()
        query = "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname IN ('simplymeet', 'syncd')"
        psql = run_syncd("db", "psql", "--", "-At", "-c", query, env=env)
        assert psql.returncode == 0, psql.stderr
        assert psql.stdout.strip() == "simplymeet,syncd"
    finally:
        if pgdata.is_symlink():
            shutil.rmtree(pgdata.resolve().parent, ignore_errors=True)
