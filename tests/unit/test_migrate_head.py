"""`require_current` reads the head revision without alembic: it must agree with alembic's reading."""

from __future__ import annotations

import pytest

from syncd.db import migrate

pytestmark = pytest.mark.unit


def test_script_head_agrees_with_alembic() -> None:
    assert migrate.script_head() == migrate.head_revision()
