"""`make bench`'s pure parts: issue 12's verdicts, the side-by-side table, the anchor's JSON lines."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from benchmarks import verdicts as v
from benchmarks.copy_anchor import BadObject, write_json_lines
from benchmarks.dlt_child import destination_credentials

pytestmark = pytest.mark.unit


def phase(
    wall_s: float, *, rss: float = 150.0, requests: int = 25, server: float | None = 1.0
) -> dict[str, Any]:
    return {
        "wall_s": wall_s,
        "peak_rss_mb": rss,
        "cpu_user_s": wall_s / 2,
        "cpu_system_s": 0.1,
        "server_cpu_s": server,
        "requests": requests,
        "json_bytes": 1_000_000,
    }


def results(**main: Any) -> dict[str, Any]:
    """Two sizes, every figure on the edge of its threshold unless `main` overrides it."""
    small = {"events": 5_000, "first_sync": phase(5.0, rss=100.0), "no_change_sync": phase(1.0)}
    big: dict[str, Any] = {
        "events": 20_000,
        "first_sync": phase(10.0, rss=125.0),  # x1.25 the small one's RSS
        "no_change_sync": phase(1.0),
        "storage": v.storage_summary(1_000_000, 76_000_000, 100_000_000),  # growth x0.75
        "dlt": {"version": "1.31.0", "first": phase(50.0, requests=8), "no_change": phase(20.0, requests=8)},
        "anchor": {
            "objects": 20_100,
            "json_bytes": 100_000_000,
            "wall_s": 5.0,
            "cpu_s": 0.2,
            "server_cpu_s": 4.0,
            "process": {"wall_s": 6.0, "cpu_s": 1.5, "peak_rss_mb": 80.0},
        },
        "rate_limit": v.rate_limit_summary([phase(1.0), phase(1.0)], [phase(1.2), phase(1.2)]),
        "default_limit_first_sync": phase(48.0, requests=225),
    }
    big.update(main)
    return {"sizes": [small, big]}


def by_figure(rows: list[dict[str, Any]], start: str) -> dict[str, Any]:
    found = [r for r in rows if r["figure"].startswith(start)]
    assert len(found) == 1, (start, rows)
    return found[0]


def test_every_target_met_on_its_threshold() -> None:
    rows = v.verdicts(results())
    judged = {r["figure"]: r["met"] for r in rows}
    assert by_figure(rows, "first sync vs dlt")["met"] is True  # x5.0
    assert by_figure(rows, "no-change sync vs dlt")["met"] is True  # x20
    assert by_figure(rows, "first sync vs COPY anchor")["met"] is True  # x2.0
    assert by_figure(rows, "database growth")["met"] is True  # x0.75
    assert by_figure(rows, "RSS growth")["met"] is True  # x1.25
    assert by_figure(rows, "no-change sync, default limit")["met"] is True  # x1.2
    stated = by_figure(rows, "first sync under the default settings")
    assert stated["met"] is None
    assert "48.0 s" in stated["value"]
    assert v.outcome(stated) == "stated"
    assert [m for f, m in judged.items() if not f.startswith("first sync under")] == [True] * (len(rows) - 1)


@pytest.mark.parametrize(
    ("override", "figure"),
    [
        ({"dlt": {"version": "1", "first": phase(49.9), "no_change": phase(20.0)}}, "first sync vs dlt"),
        ({"dlt": {"version": "1", "first": phase(50.0), "no_change": phase(19.9)}}, "no-change sync vs dlt"),
        ({"first_sync": phase(10.1, rss=125.0)}, "first sync vs COPY anchor"),
        ({"storage": v.storage_summary(1_000_000, 76_000_001, 100_000_000)}, "database growth"),
        ({"first_sync": phase(10.0, rss=250.0)}, "peak RSS, first sync of 20,000"),
        ({"first_sync": phase(10.0, rss=125.1)}, "RSS growth"),
        (
            {"rate_limit": v.rate_limit_summary([phase(1.0), phase(1.0)], [phase(1.21), phase(1.21)])},
            "no-change sync, default limit",
        ),
    ],
)
def test_just_past_a_threshold_is_missed(override: dict[str, Any], figure: str) -> None:
    rows = v.verdicts(results(**override))
    assert by_figure(rows, figure)["met"] is False
    assert v.outcome(by_figure(rows, figure)) == "MISSED"


def test_peers_not_run_are_not_measured_not_met() -> None:
    main = results()["sizes"][1]
    for key in ("dlt", "anchor", "rate_limit", "default_limit_first_sync", "storage"):
        del main[key]
    rows = v.verdicts({"sizes": [main]})  # one size: no RSS growth either
    for figure in (
        "first sync vs dlt",
        "no-change sync vs dlt",
        "first sync vs COPY anchor",
        "database growth",
        "RSS growth",
        "no-change sync, default limit",
    ):
        assert by_figure(rows, figure)["met"] is None, figure
        assert v.outcome(by_figure(rows, figure)) == "not measured"
    assert by_figure(rows, "peak RSS")["met"] is True


def test_rate_limit_summary_takes_medians() -> None:
    summary = v.rate_limit_summary([phase(1.0), phase(3.0), phase(2.0)], [phase(2.0), phase(9.0), phase(2.4)])
    assert summary["off_median_s"] == 2.0
    assert summary["default_median_s"] == 2.4
    assert summary["ratio"] == pytest.approx(1.2)


def test_storage_summary_without_json_has_no_ratio() -> None:
    assert v.storage_summary(10, 20, 0)["growth_per_json_byte"] is None
    assert v.storage_summary(10, 30, 40)["growth_per_json_byte"] == 0.5


def test_side_by_side_names_each_tool_and_what_was_not_run() -> None:
    main = results()["sizes"][1]
    table = v.side_by_side(main)
    assert table[0][:5] == ("phase", "tool", "wall s", "client CPU s", "PostgreSQL CPU s")
    assert [(r[0], r[1].split(" ")[0]) for r in table[1:]] == [
        ("first sync", "syncd"),
        ("first sync", "dlt"),
        ("first sync", "COPY"),
        ("no-change", "syncd"),
        ("no-change", "dlt"),
    ]
    assert table[2][2] == "50.00"
    assert table[3][5] == "80"  # the copying process's peak RSS
    main["first_sync"]["server_cpu_s"] = None
    del main["dlt"]
    table = v.side_by_side(main)
    assert table[1][4] == "-"
    assert table[2][2] == "not run"


def test_json_lines_one_object_a_line_with_nothing_copy_would_split_on() -> None:
    objects = [
        {"id": 1, "notes": 'two\nlines, a tab\t, a quote " and a backslash \\', "ctl": "\x01\x02"},
        {"id": 2, "name": "Zoë 日本", "nested": {"list": [1, None, True]}},
    ]
    out = io.BytesIO()
    count, size = write_json_lines(objects, out)
    data = out.getvalue()
    assert (count, size) == (2, len(data))
    lines = data.split(b"\n")
    assert lines[-1] == b""
    assert [orjson.loads(line) for line in lines[:-1]] == objects
    # The COPY reads CSV with \x01 as quote and \x02 as delimiter: neither may occur raw.
    assert b"\x01" not in data
    assert b"\x02" not in data


def test_json_lines_refuses_what_is_not_an_object() -> None:
    with pytest.raises(BadObject, match="item 2: expected a JSON object, got list"):
        write_json_lines([{"id": 1}, [1, 2]], io.BytesIO())


def test_dlt_credentials_from_a_socket_url_and_a_tcp_url() -> None:
    socket = destination_credentials("postgresql://postgres@/syncd_bench_dlt?host=%2Fvar%2Frun%2Fpg")
    assert socket == {
        "database": "syncd_bench_dlt",
        "username": "postgres",
        "password": "unused",
        "host": "localhost",
        "port": 5432,
        "query": {"host": "/var/run/pg"},
    }
    tcp = destination_credentials("postgresql://u:p%40ss@127.0.0.1:5433/db")
    assert tcp == {"database": "db", "username": "u", "password": "p@ss", "host": "127.0.0.1", "port": 5433}
    with pytest.raises(ValueError, match="names no host"):
        destination_credentials("postgresql:///db")
