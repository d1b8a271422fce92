from __future__ import annotations

import argparse
import tomllib

import pytest

from syncd import __version__
from syncd.cli import build_parser, main
from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.unit


def _all_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _all_commands(sub, (*prefix, name))
    return found


COMMANDS = _all_commands(build_parser())


def test_the_issue_commands_exist() -> None:
    for command in [("db", "upgrade"), ("sandbox",), ("demo",), ("config", "show"), ("version",)]:
        assert command in COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "syncd")
def test_every_command_has_help(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*command, "--help"])
    assert caught.value.code == 0
    assert "usage: syncd" in capsys.readouterr().out


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["no-such-command"], ["sandbox", "--port", "99999"], ["sandbox", "--error-rate", "2"], []):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2, argv


def test_the_version_is_pyprojects() -> None:
    """`syncd.__version__` is a constant (reading the installed metadata slows start-up): keep it equal."""
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert __version__ == declared, f"set syncd/__init__.py's __version__ to {declared!r}"


def test_every_package_ships_in_the_wheel() -> None:
    """pyproject lists packages by hand (migrations/ is mapped in): a new package must be listed."""
    declared = set(
        tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(init.parent.relative_to(REPO_ROOT).parts)
        for init in (REPO_ROOT / "syncd").rglob("__init__.py")
    }
    assert on_disk <= declared, f"add to [tool.setuptools] packages: {sorted(on_disk - declared)}"


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:CANARY-flag-1a2b@db/x", "postgresql://u@db/x?password=CANARY-flag-1a2b"],
)
def test_a_password_in_the_database_url_flag_is_refused(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--database-url", url, "config", "show"], ["config", "show", "--database-url", url]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("syncd: error: --database-url holds a password")
        assert "SYNCD_DATABASE_URL or" in err
        assert "SYNCD_DATABASE_URL_FILE" in err
        assert "CANARY" not in err


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [(["sync"], 0), (["-v", "sync"], 1), (["sync", "-v"], 1), (["sync", "-vv"], 2), (["-v", "status"], 1)],
)
def test_verbose_is_counted_before_or_after_the_command(argv: list[str], verbose: int) -> None:
    assert build_parser().parse_args(argv).verbose == verbose
