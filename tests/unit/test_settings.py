from __future__ import annotations

from pathlib import Path

import pytest

from syncd.settings import DEFAULT_API_URL, SettingsError, load_settings, standalone_settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _no_syncd_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "API_URL",
        "API_KEY",
        "API_KEY_FILE",
        "DATABASE_URL",
        "DATABASE_URL_FILE",
        "DATA_DIR",
        "CONFIG",
        "LOG_LEVEL",
        "LOG_FORMAT",
    ):
        monkeypatch.delenv(f"SYNCD_{name}", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "syncd.toml"
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.api_url == DEFAULT_API_URL
    assert settings.api_key is None
    assert settings.uses_embedded_database
    assert settings.data_dir == tmp_path / "home" / ".local" / "share" / "syncd"
    assert settings.log_level == "info"


def test_the_client_gets_the_rate_limit_and_its_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    from syncd.api import DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT_PER_S

    settings = load_settings()
    assert (settings.api_rate_limit_per_s, settings.api_rate_burst) == (
        DEFAULT_RATE_LIMIT_PER_S,
        DEFAULT_RATE_BURST,
    )
    monkeypatch.setenv("SYNCD_API_RATE_BURST", "12")
    with load_settings().api_client(api_key="k") as client:
        assert client.rate_limit is not None
        assert (client.rate_limit.per_s, client.rate_limit.burst) == (DEFAULT_RATE_LIMIT_PER_S, 12)
    monkeypatch.setenv("SYNCD_API_RATE_BURST", "0.5")
    with pytest.raises(SettingsError, match="api_rate_burst"):
        load_settings()


def test_xdg_data_home_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert load_settings().data_dir == tmp_path / "xdg" / "syncd"


def test_flags_over_env_over_file_over_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = _toml(tmp_path, 'api_url = "https://file.example"\nlog_level = "warning"\nlog_format = "json"\n')
    monkeypatch.setenv("SYNCD_API_URL", "https://env.example")
    monkeypatch.setenv("SYNCD_LOG_LEVEL", "error")
    settings = load_settings(
        config_file=config, overrides={"api_url": "https://flag.example", "log_level": None}
    )
    assert settings.api_url == "https://flag.example"  # flag beats env and file
    assert settings.log_level == "error"  # env beats file (the flag was not given)
    assert settings.log_format == "json"  # file beats default


def test_settings_know_which_were_given_and_which_defaulted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A log level not given is quieter on a terminal (syncd.logs.effective_level): the default
    `info` and an explicit `info` must be told apart, wherever the explicit one came from."""
    assert "log_level" not in load_settings().model_fields_set
    assert "log_level" in load_settings(overrides={"log_level": "info"}).model_fields_set
    assert "log_level" in load_settings(config_file=_toml(tmp_path, 'log_level = "info"\n')).model_fields_set
    monkeypatch.setenv("SYNCD_LOG_LEVEL", "info")
    assert "log_level" in load_settings().model_fields_set


def test_config_file_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SYNCD_CONFIG", str(_toml(tmp_path, 'log_level = "debug"\n')))
    assert load_settings().log_level == "debug"


def test_standalone_settings_read_no_environment_and_no_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SYNCD_DATABASE_URL", "postgresql://user:pw@db.example/real")
    monkeypatch.setenv("SYNCD_API_KEY", "the-users-real-key-0123")
    monkeypatch.setenv("SYNCD_REPLAY_BATCH_SIZE", "7")
    monkeypatch.setenv("SYNCD_CONFIG", str(_toml(tmp_path, "[schedule]\nevents = 5\n")))
    assert load_settings().database_url is not None  # the user's settings say otherwise
    settings = standalone_settings(data_dir=tmp_path / "own", api_url="http://127.0.0.1:9/", api_key="k")
    assert settings.database_url is None
    assert settings.uses_embedded_database
    assert settings.data_dir == tmp_path / "own"
    assert settings.api_url == "http://127.0.0.1:9"  # validated like any setting
    assert settings.require_api_key() == "k"
    assert settings.replay_batch_size == 50
    assert settings.schedule == {}
    with pytest.raises(SettingsError, match=r"^invalid setting api_url "):
        standalone_settings(api_url="ftp://nowhere")


def test_api_paths_table_from_file(tmp_path: Path) -> None:
    config = _toml(tmp_path, '[api_paths]\n"event.notes" = "/panel/api/event/{id}/notes"\n')
    assert load_settings(config_file=config).api_paths == {"event.notes": "/panel/api/event/{id}/notes"}


def test_api_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("file-key-0123456789\n")
    monkeypatch.setenv("SYNCD_API_KEY_FILE", str(key_file))
    assert load_settings().require_api_key() == "file-key-0123456789"


def test_api_key_beats_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_API_KEY_FILE", str(tmp_path / "missing"))
    monkeypatch.setenv("SYNCD_API_KEY", "env-key-0123456789")
    assert load_settings().require_api_key() == "env-key-0123456789"


def test_both_postgres_schemes_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    for url in ("postgresql://u:p@db:5432/x", "postgresql+psycopg://u:p@db:5432/x", "postgres://u:p@db/x"):
        monkeypatch.setenv("SYNCD_DATABASE_URL", url)
        settings = load_settings()
        assert settings.database_url is not None
        assert settings.database_url.get_secret_value().startswith("postgresql+psycopg://u:p@db")


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("SYNCD_DATABASE_URL", "mysql://root:hunter2hunter2@db/x", "invalid setting database_url"),
        ("SYNCD_DATABASE_URL", "postgresql://u:hunter2hunter2@db", "names no database"),
        (
            "SYNCD_DATABASE_URL",
            "postgresql://u@db/x?password=hunter2hunter2&bogus=1",
            "invalid setting database_url [SYNCD_DATABASE_URL, --database-url]: has unknown option 'bogus'",
        ),
        ("SYNCD_DATABASE_URL_FILE", "/nonexistent/url", "database_url_file: cannot read /nonexistent/url"),
        ("SYNCD_API_URL", "ftp://example.com", "invalid setting api_url"),
        ("SYNCD_LOG_LEVEL", "loud", "invalid setting log_level"),
        ("SYNCD_API_KEY_FILE", "/nonexistent/key", "api_key_file: cannot read /nonexistent/key"),
    ],
)
def test_invalid_settings_are_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert "hunter2" not in message  # a bad URL's password is never echoed


def test_config_file_problems(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(config_file=tmp_path / "nope.toml")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(config_file=_toml(tmp_path, "api_url = \n"))
    with pytest.raises(SettingsError, match="unknown setting 'colour'"):
        load_settings(config_file=_toml(tmp_path, 'colour = "blue"\n'))


def test_missing_api_key_says_how_to_set_it() -> None:
    with pytest.raises(SettingsError, match="SYNCD_API_KEY or SYNCD_API_KEY_FILE"):
        load_settings().require_api_key()


def test_masked_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_API_KEY", "live-key-abcdefghijkl-WXYZ")
    monkeypatch.setenv("SYNCD_DATABASE_URL", "postgresql://syncd:s3cretpassw0rd@db:5432/mirror")
    shown = repr(load_settings().masked())
    assert "live-key-abcdefghijkl" not in shown
    assert "****WXYZ" in shown
    assert "s3cretpassw0rd" not in shown
    assert "db:5432/mirror" in shown
    assert "live-key" not in repr(load_settings())  # pydantic's SecretStr masks the repr too


def test_api_paths_are_checked_against_the_endpoint_table(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"unknown endpoint 'event\.nots'"):
        load_settings(config_file=_toml(tmp_path, '[api_paths]\n"event.nots" = "/panel/api/x/{id}"\n'))
    with pytest.raises(SettingsError, match="lacks placeholder"):
        load_settings(config_file=_toml(tmp_path, '[api_paths]\n"event.notes" = "/panel/api/notes"\n'))


CANARY = "CANARY-pw-93b7"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{CANARY}@db/mirror",
        f"postgresql://u@db/mirror?password={CANARY}",
        f"postgresql://u@db/mirror?passfile=/run/{CANARY}",
        f"postgresql://u:{CANARY}%2F%40@db/mirror?passfile=%2Frun%2F{CANARY}&password={CANARY}%2Fx",
    ],
)
def test_every_password_form_is_masked_and_fed_to_the_redactor(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("SYNCD_DATABASE_URL", url)
    settings = load_settings()
    shown = settings.masked()
    assert CANARY not in repr(shown)
    assert str(shown["database_url"]).startswith("postgresql+psycopg://u")
    assert "db/mirror" in shown["database_url"]
    assert any(CANARY in secret for secret in settings.secrets())


def test_database_url_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url_file = tmp_path / "database-url"
    url_file.write_text(f"postgresql://syncd:{CANARY}@db:5432/mirror\n")
    monkeypatch.setenv("SYNCD_DATABASE_URL_FILE", str(url_file))
    settings = load_settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == f"postgresql+psycopg://syncd:{CANARY}@db:5432/mirror"
    assert not settings.uses_embedded_database
    assert settings.masked()["database_url"] == "postgresql+psycopg://syncd:***@db:5432/mirror"
    assert settings.masked()["database_url_file"] == str(url_file)
    assert CANARY in settings.secrets()
    monkeypatch.setenv("SYNCD_DATABASE_URL", "postgresql://env@db/other")  # the URL itself wins
    assert load_settings().masked()["database_url"] == "postgresql+psycopg://env@db/other"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        (f"mysql://u:{CANARY}@db/x", "scheme 'mysql' is not supported"),
        (f"postgresql://u@db/x?password={CANARY}&bogus=1", "has unknown option 'bogus'"),
    ],
)
def test_database_url_file_problems_name_the_file_never_the_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, expected: str
) -> None:
    url_file = tmp_path / "database-url"
    url_file.write_text(content)
    monkeypatch.setenv("SYNCD_DATABASE_URL_FILE", str(url_file))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"invalid setting database_url_file: the URL in {url_file} ") or (
        message == f"invalid setting database_url_file: {url_file} is empty"
    )
    assert expected in message
    assert CANARY not in message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.9.9.9",
        "http://localhost:9",
        "http://[::1]:8080",
        "https://x.test",
    ],
)
def test_plain_http_api_url_is_accepted_to_a_loopback_host(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("SYNCD_API_URL", url)
    assert load_settings().api_url == url


def test_plain_http_api_url_elsewhere_is_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_API_URL", "http://user:hunter2hunter2@api.example.com/")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(
        "invalid setting api_url: plain http:// to api.example.com would send the API key"
    )
    assert "api_allow_http" in message
    assert "hunter2" not in message
    assert "\n" not in message
    monkeypatch.setenv("SYNCD_API_ALLOW_HTTP", "true")
    assert load_settings().api_url == "http://user:hunter2hunter2@api.example.com"


def test_webhook_allow_cidrs_from_env_and_file_are_checked_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _toml(tmp_path, 'webhook_allow_cidrs = ["10.20.0.0/16", "fd00::/8"]\n')
    assert load_settings(config_file=config).webhook_allow_cidrs == ["10.20.0.0/16", "fd00::/8"]
    monkeypatch.setenv("SYNCD_WEBHOOK_ALLOW_CIDRS", "127.0.0.0/8, ::1/128,")
    assert load_settings(config_file=config).webhook_allow_cidrs == ["127.0.0.0/8", "::1/128"]
    assert load_settings().webhook_allow_private is False
    for bad, problem in (("10.0.0.5/8", "has host bits set"), ("10.0.0.0/8,intranet", "'intranet'")):
        monkeypatch.setenv("SYNCD_WEBHOOK_ALLOW_CIDRS", bad)
        with pytest.raises(SettingsError) as caught:
            load_settings()
        message = str(caught.value)
        assert message.startswith("invalid setting webhook_allow_cidrs [SYNCD_WEBHOOK_ALLOW_CIDRS]: ")
        assert problem in message
        assert "\n" not in message


def test_each_value_knows_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text("k" * 20)
    config = _toml(tmp_path, 'api_url = "https://file.example"\nlog_level = "error"\navailability_days = 3\n')
    monkeypatch.setenv("SYNCD_API_URL", "https://env.example")
    monkeypatch.setenv("syncd_log_level", "warning")  # pydantic-settings reads names in any case
    monkeypatch.setenv("SYNCD_API_KEY_FILE", str(key_file))
    monkeypatch.setenv("SYNCD_LOG_FORMAT", "")  # empty: no value, as pydantic-settings ignores it
    monkeypatch.delenv("SYNCD_INCREMENTAL_OVERLAP_S", raising=False)
    settings = load_settings(
        config_file=config, overrides={"api_url": "https://flag.example", "data_dir": None}
    )
    assert (settings.api_url, settings.log_level, settings.availability_days) == (
        "https://flag.example",
        "warning",
        3,
    )
    assert {
        name: settings.source(name)
        for name in (
            "api_url",
            "log_level",
            "availability_days",
            "api_key",
            "api_key_file",
            "log_format",
            "data_dir",
            "incremental_overlap_s",
            "database_url",
        )
    } == {
        "api_url": "flag",
        "log_level": "env",
        "availability_days": "file",
        "api_key": "api_key_file",  # read from the file that setting names
        "api_key_file": "env",
        "log_format": "default",
        "data_dir": "default",  # a flag not given is no flag
        "incremental_overlap_s": "default",
        "database_url": "default",
    }
    monkeypatch.setenv("SYNCD_API_KEY", "e" * 20)  # the key itself wins over the file
    assert load_settings().source("api_key") == "env"
