"""The demo's hints: how to reach a kept demo's data from a shell that may hold the user's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.demo import explore_prefix
from syncd.settings import load_settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _no_syncd_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "CONFIG", "DATA_DIR"):
        monkeypatch.delenv(f"SYNCD_{name}", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_no_configured_database_needs_no_prefix() -> None:
    assert explore_prefix(load_settings()) == ""


def test_a_database_url_in_the_environment_is_blanked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_DATABASE_URL", "postgresql://u@db.example/real")
    assert explore_prefix(load_settings()) == "SYNCD_DATABASE_URL= "


def test_a_config_file_naming_a_database_is_blanked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "syncd.toml"
    config.write_text('database_url = "postgresql://u@db.example/real"\n')
    monkeypatch.setenv("SYNCD_CONFIG", str(config))
    assert explore_prefix(load_settings()) == "SYNCD_CONFIG= "
    monkeypatch.setenv("SYNCD_DATABASE_URL", "postgresql://u@db.example/other")
    assert explore_prefix(load_settings()) == "SYNCD_DATABASE_URL= SYNCD_CONFIG= "


def test_a_config_file_without_a_database_stays(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "syncd.toml"
    config.write_text('log_level = "debug"\n')
    monkeypatch.setenv("SYNCD_CONFIG", str(config))
    monkeypatch.setenv("SYNCD_DATABASE_URL", "postgresql://u@db.example/real")
    assert explore_prefix(load_settings()) == "SYNCD_DATABASE_URL= "


def test_a_database_given_by_flag_needs_no_prefix() -> None:
    # `syncd --database-url URL demo --keep DIR`: the hint does not repeat the flag.
    settings = load_settings(overrides={"database_url": "postgresql://u@db.example/real"})
    assert explore_prefix(settings) == ""
