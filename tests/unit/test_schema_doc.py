from __future__ import annotations

import pytest

from syncd.db.schema_doc import render
from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.unit


def test_docs_schema_md_is_in_step_with_the_metadata() -> None:
    committed = (REPO_ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/schema.md is stale: run `make schema-doc`"


def test_every_mirror_column_says_where_it_comes_from() -> None:
    from syncd.db.schema import MIRROR_SCHEMA, metadata

    for table in metadata.tables.values():
        if table.schema == MIRROR_SCHEMA:
            for column in table.columns:
                assert column.comment, f"{table.name}.{column.name} has no comment"
