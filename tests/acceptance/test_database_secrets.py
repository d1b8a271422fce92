"""A database password, in whatever form a URL carries it, never leaves syncd: `config show`, `db status`,
`check`, errors and logs. The test server trusts loopback, so the canary passwords are simply ignored."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.helpers import clean_env, run_syncd, url_for_env

pytestmark = pytest.mark.acceptance

CANARY = "CANARY-dbsecret-8f3e"

# Each form a URL can carry a secret in, built on a reachable database URL.
FORMS: dict[str, Callable[[URL], URL]] = {
    "userinfo password": lambda url: url.set(password=CANARY),
    "password option": lambda url: url.set(password=None).update_query_dict({"password": CANARY}),
    "passfile option": lambda url: url.update_query_dict({"passfile": f"/nonexistent/{CANARY}"}),
    # Rendered percent-encoded: u:CANARY%2Fx%40y@...?passfile=%2Fnonexistent%2FCANARY...&password=...
    "percent-encoded mix": lambda url: url.set(password=f"{CANARY}/x@y").update_query_dict(
        {"passfile": f"/nonexistent/{CANARY}/pg pass", "password": f"{CANARY}&z"}
    ),
}


def _assert_no_canary(*results: object) -> None:
    for result in results:
        text = f"{getattr(result, 'stdout', '')}{getattr(result, 'stderr', '')}"
        assert CANARY not in text, text
        assert "Traceback" not in text, text


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_every_password_form_is_masked(form: Callable[[URL], URL], database_url: URL, tmp_path: Path) -> None:
    url = url_for_env(form(database_url))
    assert CANARY in url  # the canary really is in what syncd is given
    env = clean_env({"SYNCD_DATABASE_URL": url}, home=tmp_path)

    shown = run_syncd("config", "show", env=env)
    as_json = run_syncd("config", "show", "--json", env=env)
    status = run_syncd("db", "status", env=env)
    check = run_syncd("check", "--log-level", "debug", "--log-format", "json", env=env)
    _assert_no_canary(shown, as_json, status, check)
    assert shown.returncode == 0, shown.stderr
    assert as_json.returncode == 0, as_json.stderr
    assert "***" in shown.stdout
    assert "***" in as_json.stdout
    assert status.returncode == 0, status.stderr  # it really connected with that URL
    assert 'psql      psql "postgresql://' in status.stdout
    assert "***" in status.stdout
    assert "ok    database" in check.stdout

    # An error path with logs on: the same URL pointed at a port where nothing listens.
    nowhere = url_for_env(form(database_url).set(host="127.0.0.1", port=9).difference_update_query(["host"]))
    failed = run_syncd(
        "db",
        "upgrade",
        "--log-level",
        "debug",
        env=clean_env({"SYNCD_DATABASE_URL": nowhere}, home=tmp_path),
    )
    _assert_no_canary(failed)
    assert failed.returncode == 1
    assert "cannot connect to the database at 127.0.0.1:9/" in failed.stderr


def test_database_url_file(database_url: URL, tmp_path: Path) -> None:
    url_file = tmp_path / "database-url"
    url_file.write_text(url_for_env(FORMS["percent-encoded mix"](database_url)) + "\n")
    os.chmod(url_file, 0o600)
    env = clean_env({"SYNCD_DATABASE_URL_FILE": str(url_file)}, home=tmp_path)
    shown = run_syncd("config", "show", "--json", env=env)
    status = run_syncd("db", "status", "--log-level", "debug", env=env)
    _assert_no_canary(shown, status)
    shown_json = json.loads(shown.stdout)
    assert shown_json["database_url_file"] == {"value": str(url_file), "source": "env"}
    assert shown_json["database_url"]["source"] == "database_url_file"
    assert status.returncode == 0, status.stderr

    url_file.write_text(f"postgresql://u:{CANARY}@db/x?bogus=1")
    bad = run_syncd("db", "status", env=env)
    _assert_no_canary(bad)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        f"syncd: error: invalid setting database_url_file: the URL in {url_file} has unknown option 'bogus' "
        "(libpq connection options only)"
    )


@pytest.mark.parametrize(
    "url",
    [f"postgresql://u:{CANARY}@db.internal/mirror", f"postgresql://u@db.internal/mirror?password={CANARY}"],
)
def test_a_password_on_the_command_line_is_refused(url: str, tmp_path: Path) -> None:
    result = run_syncd("config", "show", "--database-url", url, env=clean_env(home=tmp_path))
    _assert_no_canary(result)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--database-url holds a password" in lines[0]
    assert "SYNCD_DATABASE_URL_FILE" in lines[0]


def test_a_database_url_flag_without_a_password_is_taken(tmp_path: Path) -> None:
    url = "postgresql://u@db.internal/mirror?passfile=/run/credentials/pgpass"
    result = run_syncd("config", "show", "--database-url", url, env=clean_env(home=tmp_path))
    assert result.returncode == 0, result.stderr
    assert "postgresql+psycopg://u@db.internal/mirror?passfile=***" in result.stdout


def test_db_psql_gets_the_password_through_the_environment(database_url: URL, tmp_path: Path) -> None:
    """A stand-in psql on PATH reports its command line and whether PGPASSWORD reached it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "psql"
    fake.write_text('#!/bin/sh\necho "argv: $*"\necho "PGPASSWORD: $PGPASSWORD"\n')
    fake.chmod(0o755)
    url = url_for_env(FORMS["password option"](database_url))
    env = clean_env({"SYNCD_DATABASE_URL": url}, home=tmp_path)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    result = run_syncd("db", "psql", "--", "-c", "SELECT 1", env=env)
    assert result.returncode == 0, result.stderr
    argv = next(line for line in result.stdout.splitlines() if line.startswith("argv: "))
    assert CANARY not in argv
    assert "password" not in argv
    assert argv.endswith(" -c SELECT 1")
    assert f"PGPASSWORD: {CANARY}" in result.stdout
