"""Start-up: `syncd --help`, every `syncd COMMAND --help`, `--version` and `syncd version` load no
library heavier than argparse (the target is 0.3 s wall; `make bench` measures it, docs/performance.md)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from syncd.cli import build_parser
from tests.helpers import clean_env, run_syncd

pytestmark = pytest.mark.acceptance

# What the parser must not load: the libraries a command's work needs, each 20-150 ms to import.
HEAVY = (
    "alembic",
    "apscheduler",
    "httpx",
    "prometheus_client",
    "psycopg",
    "pydantic",
    "pydantic_settings",
    "rich",
    "shtab",
    "sqlalchemy",
    "stamina",
    "structlog",
    "importlib.metadata",
)

# Runs each argv through `main` in one fresh interpreter, then reports the heavy modules loaded;
# then loads the settings module and reports again, to show the probe sees an import when there is one.
_PROBE = """
import json, sys
from syncd.cli import main
heavy = tuple(sys.argv[2].split(","))
def loaded():
    return sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
for argv in json.loads(sys.argv[1]):
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code == 0, (argv, exc.code)
after_parsing = loaded()
import syncd.settings
print(json.dumps({"after_parsing": after_parsing, "after_settings": loaded()}))
"""


def _all_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _all_commands(sub, (*prefix, name))
    return found


def test_help_and_version_load_nothing_heavy() -> None:
    argvs = [[*command, "--help"] for command in _all_commands(build_parser())]
    argvs += [["--version"], ["version"]]
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argvs), ",".join(HEAVY)],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["after_parsing"] == [], f"imported while parsing: {report['after_parsing']}"
    assert "pydantic" in report["after_settings"]  # the probe does see an import


def test_version_needs_no_settings() -> None:
    # Like --version: it answers even when a setting is bad, and reads no config file.
    env = clean_env({"SYNCD_LOG_FORMAT": "xml", "SYNCD_CONFIG": "/nonexistent/syncd.toml"})
    result = run_syncd("version", env=env)
    flag = run_syncd("--version", env=env)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == flag.stdout
    assert result.stdout.startswith("syncd ")
