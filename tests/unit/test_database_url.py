from __future__ import annotations

import pytest

from syncd.db.url import (
    DatabaseUrlError,
    has_credentials,
    mask_database_url,
    normalize_database_url,
    url_secrets,
)
from syncd.logs import Redactor

pytestmark = pytest.mark.unit

CANARY = "CANARY-db-5e1f"

# Every place a URL can carry a secret, as users write them (percent-encoded, mixed, repeated hosts),
# with the secret values as libpq will see them (decoded).
SECRET_FORMS: dict[str, tuple[str, list[str]]] = {
    "userinfo": (f"postgresql://u:{CANARY}@h/db", [CANARY]),
    "password option": (f"postgresql://u@h/db?password={CANARY}", [CANARY]),
    "passfile option": (f"postgresql://u@h/db?passfile=/path/{CANARY}", [f"/path/{CANARY}"]),
    "percent-encoded": (f"postgresql://u:{CANARY}%2Fx%40y@h/db", [f"{CANARY}/x@y"]),
    "encoded options": (
        f"postgresql://u@h/db?passfile=%2Fpath%2F{CANARY}&password={CANARY}%26z&sslmode=require",
        [f"/path/{CANARY}", f"{CANARY}&z"],
    ),
    "mixed": (
        f"postgresql+psycopg://u:{CANARY}-a@h:5432/db?password={CANARY}-b&host=h2&host=h3",
        [f"{CANARY}-a", f"{CANARY}-b"],
    ),
    "sslpassword": (f"postgresql://u@h/db?sslpassword={CANARY}", [CANARY]),
}


def test_normalizes_to_psycopg_driver() -> None:
    assert normalize_database_url("postgresql://u:p@h:5/d") == "postgresql+psycopg://u:p@h:5/d"
    assert normalize_database_url("postgresql+psycopg://u@h/d?sslmode=require").endswith("?sslmode=require")


def test_masking_keeps_what_an_operator_needs() -> None:
    assert mask_database_url("postgresql://u:topsecret@h/d") == "postgresql+psycopg://u:***@h/d"
    assert (
        mask_database_url("postgresql://u@h:5/d?sslmode=require&password=x&application_name=a%20b")
        == "postgresql+psycopg://u@h:5/d?application_name=a+b&password=***&sslmode=require"
    )
    assert mask_database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"


@pytest.mark.parametrize(("raw", "decoded"), SECRET_FORMS.values(), ids=SECRET_FORMS.keys())
def test_every_secret_form_is_masked_and_known_to_the_redactor(raw: str, decoded: list[str]) -> None:
    normalized = normalize_database_url(raw)  # what settings keep
    assert CANARY not in mask_database_url(raw)
    assert CANARY not in mask_database_url(normalized)
    assert "***" in mask_database_url(raw)
    assert set(decoded) <= set(url_secrets(normalized))
    redactor = Redactor(url_secrets(normalized))
    # Bare values (a driver's message quoting a path or a password) are caught only because they are known.
    prose = [f'password file "{value}" has group or world access' for value in decoded]
    for text in (raw, normalized, f"connect failed: {normalized} refused", *prose):
        assert CANARY not in redactor.redact(text), text


def test_secrets_are_listed_decoded_and_encoded() -> None:
    found = url_secrets("postgresql://u:a%2Fb%40c@h/db?passfile=%2Frun%2Fpw%20file")
    assert {"a/b@c", "a%2Fb%40c", "/run/pw file", "%2Frun%2Fpw%20file", "%2Frun%2Fpw+file"} <= set(found)
    assert url_secrets("postgresql://u@h/db?sslmode=require") == []


def test_credentials_are_passwords_not_password_files() -> None:
    assert has_credentials("postgresql://u:p@h/db")
    assert has_credentials("postgresql://u@h/db?password=p")
    assert has_credentials("postgresql://u@h/db?sslpassword=p")
    assert not has_credentials("postgresql://u@h/db?passfile=/run/pgpass")
    assert not has_credentials("postgresql://u@h/db")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "not a database URL"),
        ("not a url", "not a database URL"),
        ("sqlite:///x.db", "scheme 'sqlite' is not supported"),
        ("postgresql://h", "names no database"),
        ("postgresql://u@h/db?bogus=1", "unknown option 'bogus'"),
        ("postgresql://u@h/db?passwrod=hunter2hunter2", "unknown option 'passwrod'"),
        ("postgresql://u@h/db?password=hunter2hunter2&password=b", "option 'password' more than once"),
        ("postgresql://u:hunter2hunter2@h:54x/db", "malformed host or port"),
        ("postgresql://u:hunter2@hunter2@h/db", "percent-encode '@'"),
        ("postgresql://u:hunter2@hunter2:2@h/db", "malformed host or port"),
    ],
)
def test_rejects_in_words_that_never_quote_the_url(raw: str, expected: str) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        normalize_database_url(raw)
    assert expected in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert mask_database_url(raw) == "(invalid URL)"
    assert url_secrets(raw) == []
