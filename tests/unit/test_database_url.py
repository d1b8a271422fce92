from __future__ import annotations

import pytest

from syncd.db.url import DatabaseUrlError, database_password, mask_database_url, normalize_database_url

pytestmark = pytest.mark.unit


def test_normalizes_to_psycopg_driver() -> None:
    assert normalize_database_url("postgresql://u:p@h:5/d") == "postgresql+psycopg://u:p@h:5/d"
    assert normalize_database_url("postgresql+psycopg://u@h/d?sslmode=require").endswith("?sslmode=require")


def test_masking_and_password() -> None:
    assert mask_database_url("postgresql://u:topsecret@h/d") == "postgresql+psycopg://u:***@h/d"
    assert database_password("postgresql://u:topsecret@h/d") == "topsecret"
    assert database_password("postgresql://u@h/d") is None


@pytest.mark.parametrize("raw", ["", "not a url", "sqlite:///x.db", "postgresql://h"])
def test_rejects(raw: str) -> None:
    with pytest.raises(DatabaseUrlError):
        normalize_database_url(raw)
