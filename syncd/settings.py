"""Effective settings: command-line flags over environment over TOML file over defaults.

Every setting has one name used everywhere: the field name here, `SYNCD_<NAME>` in the environment,
`<name>` in the TOML file and `--<name-with-dashes>` on the command line (where a flag exists).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from syncd.db.url import DatabaseUrlError, mask_database_url, normalize_database_url, url_secrets

if TYPE_CHECKING:
    from syncd.api import ApiClient

ENV_PREFIX = "SYNCD_"
DEFAULT_API_URL = "https://secure.simplymeet.me"


# Settings that also have a command-line flag (secrets never do: `ps` would show them).
FLAG_SETTINGS = frozenset({"api_url", "database_url", "data_dir", "log_level", "log_format"})
# A secret that may be read from the file another setting names: that setting is then its source.
SECRET_FILES = {"api_key": "api_key_file", "database_url": "database_url_file"}


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line that names it."""


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/syncd`, else `~/.local/share/syncd` (the XDG base directory default)."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "syncd"


class Settings(BaseSettings):
    """What syncd needs to know to run. Read through `load_settings()`, never built ad hoc."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        # An unknown SYNCD_* variable (e.g. SYNCD_TEST_DATABASE_URL) belongs to someone else: ignore it.
        env_ignore_empty=True,
    )

    api_url: str = Field(default=DEFAULT_API_URL, description="Base URL of the SimplyMeet API.")
    api_key: SecretStr | None = Field(default=None, description="The X-API-KEY; never logged or printed.")
    api_key_file: Path | None = Field(
        default=None,
        description="A file holding the API key (systemd credentials); used when api_key is unset.",
    )
    api_paths: dict[str, str] = Field(
        default_factory=dict, description="Overrides of inferred endpoint paths, by endpoint name."
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql:// or postgresql+psycopg:// URL; unset means the embedded server in data_dir.",
    )
    database_url_file: Path | None = Field(
        default=None,
        description="A file holding the database URL (systemd credentials); used when database_url is unset.",
    )
    data_dir: Path = Field(default_factory=default_data_dir, description="Where syncd keeps local state.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info")
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: console on a terminal, JSON lines otherwise."
    )
    availability_days: int = Field(
        default=14, ge=1, le=366, description="Days of event type availability mirrored, from today."
    )
    api_rate_limit_per_s: float | None = Field(
        default=5.0,
        ge=0,
        description="Most requests per second syncd sends to the API (retries included); 0 = no limit.",
    )
    api_rate_burst: float = Field(
        default=60.0,
        ge=1,
        description="Requests that may go at once before api_rate_limit_per_s applies (the token bucket's size).",
    )
    api_page_concurrency: int = Field(
        default=4, ge=1, le=32, description="Pages of one list fetched at once when the page count is known."
    )
    incremental_overlap_s: float = Field(
        default=300.0,
        ge=0,
        description="An incremental sync re-reads changes this many seconds older than its high-water mark.",
    )
    api_timezone: str = Field(
        default="UTC",
        description="IANA zone of the API's `Y-m-d H:i:s` date-times, in answers and in requests.",
    )
    replay_batch_size: int = Field(
        default=50, ge=1, le=100, description="Cancel / no-show intents per list call; 1 sends each alone."
    )
    replay_concurrency: int = Field(
        default=4, ge=1, le=10, description="Intents of different events replayed at once (threads)."
    )
    replay_max_attempts: int = Field(
        default=8, ge=1, le=100, description="Calls per intent before it fails as 'exhausted'."
    )
    replay_max_age_s: float = Field(
        default=86_400.0, gt=0, description="An intent older than this is not retried again."
    )
    schedule: dict[str, int | str] = Field(
        default_factory=dict,
        description="`syncd run`: per resource (or `full_sync`), seconds between runs or a 5-field cron line.",
    )
    full_sync_at: str = Field(
        default="03:30", description="`syncd run`: local time (HH:MM) of the nightly full reconciliation."
    )
    leader_poll_s: float = Field(
        default=5.0, gt=0, le=300, description="`syncd run`: a follower tries to take the lead this often."
    )
    shutdown_timeout_s: float = Field(
        default=30.0, gt=0, description="`syncd run`: most seconds a stop waits for the running jobs."
    )
    health_host: str = Field(default="127.0.0.1", description="`syncd run`: address of the health listener.")
    health_port: int = Field(
        default=9187, ge=0, le=65535, description="`syncd run`: port of /healthz, /readyz, /metrics; 0 = off."
    )
    changes_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="`syncd run`: changes (syncd.changes) and webhook delivery logs older than this are pruned "
        "(hourly); a change not yet delivered to an enabled webhook subscription is kept.",
    )
    webhook_retry_for_s: float = Field(
        default=86_400.0,
        gt=0,
        description="A webhook subscription failing for longer than this is disabled (`syncd webhooks enable`).",
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="Seconds a webhook receiver has to answer a delivery."
    )
    webhook_connect_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="Seconds to connect to a webhook receiver."
    )
    webhook_batch: int = Field(
        default=100, ge=1, le=10_000, description="Changes sent to one subscription per pass, in order."
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhook receivers on loopback, private, link-local, unique-local and shared "
        "(CGNAT) addresses; by default only public addresses are.",
    )
    webhook_allow_cidrs: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Networks webhook receivers may be in although not public (comma-separated in the "
        "environment), e.g. 10.20.0.0/16.",
    )
    api_allow_http: bool = Field(
        default=False,
        description="Allow a plain http:// api_url to a host that is not loopback (the API key travels in clear).",
    )

    # Where each value came from (`load_settings` fills it): flag, env, file, default, or a *_FILE setting.
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("api_rate_limit_per_s")
    @classmethod
    def _zero_means_unlimited(cls, value: float | None) -> float | None:
        return None if value == 0 else value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lowercase(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or len(value.split("://", 1)[1].strip("/")) == 0:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value.rstrip("/")

    @field_validator("webhook_allow_cidrs", mode="before")
    @classmethod
    def _check_webhook_allow_cidrs(cls, value: Any) -> Any:
        if isinstance(value, str):  # the environment's form: 10.20.0.0/16,fd00::/8
            value = [part for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            return value  # pydantic says what the type should be
        networks: list[str] = []
        for item in value:
            try:
                networks.append(str(ipaddress.ip_network(str(item).strip())))
            except ValueError as exc:
                raise ValueError(f"{str(item).strip()!r} is not a network in CIDR form ({exc})") from None
        return networks

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            return SecretStr(normalize_database_url(value.get_secret_value()))
        except DatabaseUrlError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("data_dir")
    @classmethod
    def _check_data_dir(cls, value: Path) -> Path:
        value = value.expanduser()
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a directory")
        return value.absolute()

    @field_validator("api_timezone")
    @classmethod
    def _check_api_timezone(cls, value: str) -> str:
        from syncd.api.dates import resolve_zone

        resolve_zone(value)  # an unknown zone fails at load, not at the first reschedule
        return value

    @field_validator("api_paths")
    @classmethod
    def _check_api_paths(cls, value: dict[str, str]) -> dict[str, str]:
        from syncd.api.endpoints import resolve_paths

        resolve_paths(value)  # unknown endpoint names and wrong placeholders fail at load, not mid-sync
        return value

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: dict[str, int | str]) -> dict[str, int | str]:
        from syncd.schedule import check_schedule  # here: APScheduler loads only when a schedule is set

        check_schedule(value)  # an unknown resource or a bad cron line fails at load, not at 3 a.m.
        return value

    @field_validator("full_sync_at")
    @classmethod
    def _check_full_sync_at(cls, value: str) -> str:
        from syncd.schedule import parse_time_of_day

        parse_time_of_day(value)
        return value

    @model_validator(mode="after")
    def _refuse_clear_text_api(self) -> Settings:
        parts = urlsplit(self.api_url)
        if parts.scheme == "http" and not self.api_allow_http and not is_loopback_host(parts.hostname or ""):
            raise ValueError(
                f"api_url: plain http:// to {parts.hostname} would send the API key in clear; use https://, "
                "or set api_allow_http = true (SYNCD_API_ALLOW_HTTP) to accept it (loopback hosts need neither)"
            )
        return self

    @model_validator(mode="after")
    def _read_api_key_file(self) -> Settings:
        if self.api_key is None and self.api_key_file is not None:
            object.__setattr__(
                self, "api_key", SecretStr(_read_secret_file("api_key_file", self.api_key_file))
            )
        return self

    @model_validator(mode="after")
    def _read_database_url_file(self) -> Settings:
        if self.database_url is None and self.database_url_file is not None:
            path = self.database_url_file
            try:
                url = normalize_database_url(_read_secret_file("database_url_file", path))
            except DatabaseUrlError as exc:
                raise ValueError(f"database_url_file: the URL in {path} {exc}") from None
            object.__setattr__(self, "database_url", SecretStr(url))
        return self

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None

    def api_client(
        self, *, base_url: str | None = None, api_key: str | None = None, **overrides: Any
    ) -> ApiClient:
        """The API client these settings describe (a sandbox or a test may replace the URL and key)."""
        from syncd.api import ApiClient

        options: dict[str, Any] = {
            "paths": self.api_paths,
            "rate_limit_per_s": self.api_rate_limit_per_s,
            "rate_burst": self.api_rate_burst,
            "page_concurrency": self.api_page_concurrency,
            **overrides,
        }
        return ApiClient(base_url or self.api_url, api_key or self.require_api_key(), **options)

    def require_api_key(self) -> str:
        """The API key, or a SettingsError that says how to provide it."""
        if self.api_key is None:
            raise SettingsError(
                "setting api_key is missing: set SYNCD_API_KEY or SYNCD_API_KEY_FILE (or api_key in the config file)"
            )
        return self.api_key.get_secret_value()

    def masked(self) -> dict[str, Any]:
        """The effective settings for display, with every secret masked."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "api_key":
                shown[name] = mask_secret(value.get_secret_value()) if value is not None else None
            elif name == "database_url":
                shown[name] = (
                    mask_database_url(value.get_secret_value())
                    if value is not None
                    else "(embedded PostgreSQL in data_dir)"
                )
            elif isinstance(value, Path):
                shown[name] = str(value)
            else:
                shown[name] = value
        return shown

    def source(self, name: str) -> str:
        """Where setting `name` came from: `flag`, `env`, `file` (the TOML file), `default`, or for a
        secret read from a file, the setting that names the file (`api_key_file`)."""
        return self._sources.get(name, "default")

    def secrets(self) -> list[str]:
        """Strings that must never appear in output: the log redactor is fed from here."""
        found: list[str] = []
        if self.api_key is not None:
            found.append(self.api_key.get_secret_value())
        if self.database_url is not None:
            # The passfile path too: display masks it, so the logs must not give it away either.
            found.extend(url_secrets(self.database_url.get_secret_value()))
        return found


def _read_secret_file(setting: str, path: Path) -> str:
    """A secret file's content, stripped; errors name the setting and the file, never the content."""
    try:
        content = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{setting}: {path} is not UTF-8 text") from None
    if not content:
        raise ValueError(f"{setting}: {path} is empty")
    return content


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.x.x); no name is resolved."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def mask_secret(value: str) -> str:
    """Enough to tell two keys apart, never enough to use one: the last 4 characters of a long key."""
    return f"****{value[-4:]}" if len(value) >= 16 else "****"


class _FileSource(InitSettingsSource):
    """The TOML file's values, lowest priority above the defaults."""


def load_settings(*, config_file: Path | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build the effective settings; any problem becomes one SettingsError line naming the setting."""
    if config_file is None and os.environ.get(f"{ENV_PREFIX}CONFIG"):
        config_file = Path(os.environ[f"{ENV_PREFIX}CONFIG"])
    file_values = read_config_file(config_file) if config_file is not None else {}
    flags = {key: value for key, value in (overrides or {}).items() if value is not None}

    class _Layered(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, _FileSource(settings_cls, file_values))

    try:
        layered = _Layered(**flags)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, config_file)) from None
    # model_fields_set keeps which settings were given (flag, env or file), not defaulted: a log level
    # not given is quieter on a terminal (syncd.logs.effective_level).
    settings = Settings.model_construct(
        _fields_set=layered.model_fields_set,
        **{name: getattr(layered, name) for name in Settings.model_fields},
    )
    settings._sources = _sources(flags, file_values, settings)
    return settings


def _sources(flags: Mapping[str, Any], file_values: Mapping[str, Any], settings: Settings) -> dict[str, str]:
    """Which layer supplied each setting, in load_settings' order (an empty variable is no value)."""
    # Case-insensitive, as pydantic-settings reads the environment.
    env = {key.upper() for key, value in os.environ.items() if value}
    sources = {}
    for name in Settings.model_fields:
        if name in flags:
            sources[name] = "flag"
        elif f"{ENV_PREFIX}{name.upper()}" in env:
            sources[name] = "env"
        elif name in file_values:
            sources[name] = "file"
        else:
            sources[name] = "default"
    for secret, file_setting in SECRET_FILES.items():
        if sources[secret] == "default" and getattr(settings, secret) is not None:
            sources[secret] = file_setting
    return sources


def standalone_settings(**values: Any) -> Settings:
    """Settings from `values` and the defaults alone: no SYNCD_* variable and no config file is read
    (the demo runs on its own ground, whatever the user's settings say)."""

    class _Standalone(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings,)

    try:
        standalone = _Standalone(**values)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, None)) from None
    return Settings.model_construct(**{name: getattr(standalone, name) for name in Settings.model_fields})


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise SettingsError(
            f"config file {path}: unknown setting {unknown[0]!r} (known: {', '.join(Settings.model_fields)})"
        )
    return data


def _describe(exc: ValidationError, config_file: Path | None) -> str:
    """One line for the first error: which setting, where it may come from, what is wrong (never its value)."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc:  # a check across fields states its setting in the message
        return f"invalid setting {message}"
    name = loc[0]
    if error["type"] == "extra_forbidden":
        return f"unknown setting {name!r}"
    where = f"{ENV_PREFIX}{name.upper()}" + (f", --{name.replace('_', '-')}" if name in FLAG_SETTINGS else "")
    if config_file is not None:
        where += f" or {name} in {config_file}"
    detail = "" if len(loc) < 2 else f" ({'.'.join(loc[1:])})"
    return f"invalid setting {name}{detail} [{where}]: {message}"
