"""docs/dbt/sources.yml: in step with the MetaData, valid YAML that says what the generator meant."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from syncd.db.dbt_sources import _scalar, render, sources
from syncd.db.schema import MIRROR_SCHEMA, metadata, views
from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.unit

COMMITTED = REPO_ROOT / "docs" / "dbt" / "sources.yml"


def test_docs_dbt_sources_yml_is_in_step_with_the_metadata() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(), (
        "docs/dbt/sources.yml is stale: run `make dbt-sources`"
    )


def test_a_yaml_parser_reads_back_exactly_the_generated_document() -> None:
    assert yaml.safe_load(render()) == sources()


def test_every_mirror_table_and_column_is_a_source_with_key_tests() -> None:
    (source,) = sources()["sources"]
    assert (source["name"], source["schema"]) == (MIRROR_SCHEMA, MIRROR_SCHEMA)
    tables: dict[str, Any] = {t["name"]: t for t in source["tables"]}
    everything = [*metadata.tables.values(), *views.tables.values()]
    declared = {t.name: t for t in everything if t.schema == MIRROR_SCHEMA}
    assert set(tables) == set(declared)
    assert {"events", "event_history", "event_answers", "users"} <= set(tables)
    for name, table in declared.items():
        columns = {c["name"]: c for c in tables[name]["columns"]}
        assert list(columns) == [c.name for c in table.columns], name
        assert all(c["description"] for c in columns.values()), name
        key = [c.name for c in table.primary_key.columns]
        tested = {c: columns[c].get("data_tests") for c in columns if "data_tests" in columns[c]}
        expected = ["unique", "not_null"] if len(key) == 1 else ["not_null"]
        assert tested == dict.fromkeys(key, expected), name
    assert tables["events"]["loaded_at_field"] == "synced_at"
    assert "loaded_at_field" not in tables["event_answers"]  # a child table has no synced_at
    assert {c["name"]: c["data_type"] for c in tables["events"]["columns"]}["scheduled_at"] == (
        "timestamp with time zone"
    )


@pytest.mark.parametrize(
    "value",
    ["events", "yes", "no", "on", "null", "true", "y", "text[]", "a: b", "#1", "'q'", 'say "hi"', "é\\n", ""],
)
def test_each_string_reads_back_as_the_same_string(value: str) -> None:
    assert yaml.safe_load(f"k: {_scalar(value)}") == {"k": value}
