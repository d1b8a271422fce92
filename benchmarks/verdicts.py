"""Issue 12's targets judged from one run's figures, and the side-by-side table. Pure: no I/O.

Every ratio is of wall times taken in the same run, on the same sandbox and PostgreSQL server.
A figure a run did not measure (a peer skipped, one account size) gives a row whose `met` is None
("not measured"); a figure the issue only asks to state (the default-limit first sync) too.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks.startup import startup_verdicts

# Issue 12, "Targets".
FIRST_VS_DLT = 5.0  # first sync at least 5x as fast as dlt ...
FIRST_VS_DLT_AIM = 10.0  # ... aiming for 10x
FIRST_VS_ANCHOR = 2.0  # first sync at most 2x the COPY anchor's time
NO_CHANGE_VS_DLT = 20.0  # no-change sync at least 20x as fast as dlt's ...
NO_CHANGE_VS_DLT_AIM = 50.0  # ... aiming for 50x
GROWTH_PER_JSON = 0.75  # database growth over the first sync, per byte of JSON the API served
PEAK_RSS_MB = 250.0
RSS_GROWTH = 1.25  # four times the events: at most a quarter more memory
DEFAULT_LIMIT_NO_CHANGE = 1.2  # default client rate limit vs limit off, no-change sync

TARGETS: dict[str, float] = {
    "first_sync_vs_dlt": FIRST_VS_DLT,
    "first_sync_vs_dlt_aim": FIRST_VS_DLT_AIM,
    "first_sync_vs_copy_anchor": FIRST_VS_ANCHOR,
    "no_change_vs_dlt": NO_CHANGE_VS_DLT,
    "no_change_vs_dlt_aim": NO_CHANGE_VS_DLT_AIM,
    "growth_per_json_byte": GROWTH_PER_JSON,
    "peak_rss_mb": PEAK_RSS_MB,
    "rss_growth": RSS_GROWTH,
    "default_limit_no_change_ratio": DEFAULT_LIMIT_NO_CHANGE,
}


def row(figure: str, value: str, target: str, met: bool | None) -> dict[str, Any]:
    return {"figure": figure, "value": value, "target": target, "met": met}


STATED = "stated"  # the target of a figure the issue asks only to state


def outcome(verdict: dict[str, Any]) -> str:
    met = verdict["met"]
    if met is None:
        return STATED if verdict["target"] == STATED else "not measured"
    return "met" if met else "MISSED"


def median_wall(phases: Sequence[dict[str, Any]]) -> float:
    return float(statistics.median(p["wall_s"] for p in phases))


def rate_limit_summary(off: Sequence[dict[str, Any]], default: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The no-change syncs with the limit off and at syncd's default, taken in turns: medians, ratio."""
    off_s, default_s = median_wall(off), median_wall(default)
    return {
        "runs": len(off),
        "off_wall_s": [p["wall_s"] for p in off],
        "default_wall_s": [p["wall_s"] for p in default],
        "off_median_s": off_s,
        "default_median_s": default_s,
        "ratio": default_s / off_s,
    }


def storage_summary(migrated_bytes: int, after_bytes: int, json_bytes: int) -> dict[str, Any]:
    growth = after_bytes - migrated_bytes
    return {
        "migrated_bytes": migrated_bytes,
        "after_first_sync_bytes": after_bytes,
        "growth_bytes": growth,
        "json_served_bytes": json_bytes,
        "growth_per_json_byte": growth / json_bytes if json_bytes else None,
    }


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target of issue 12, for the largest account size run (the last of `sizes`)."""
    sizes = results["sizes"]
    main = sizes[-1]
    n = f"{main['events']:,} events"
    first, second = main["first_sync"], main["no_change_sync"]
    rows = []

    dlt = main.get("dlt")
    if dlt is None:
        rows.append(row(f"first sync vs dlt, {n}", "dlt not run", f">= x{FIRST_VS_DLT:g}", None))
        rows.append(row(f"no-change sync vs dlt, {n}", "dlt not run", f">= x{NO_CHANGE_VS_DLT:g}", None))
    else:
        x = dlt["first"]["wall_s"] / first["wall_s"]
        rows.append(
            row(
                f"first sync vs dlt, {n}",
                f"x{x:.1f} faster (syncd {first['wall_s']:.1f} s, dlt {dlt['first']['wall_s']:.1f} s)",
                f">= x{FIRST_VS_DLT:g} (aim x{FIRST_VS_DLT_AIM:g})",
                x >= FIRST_VS_DLT,
            )
        )
        x = dlt["no_change"]["wall_s"] / second["wall_s"]
        rows.append(
            row(
                f"no-change sync vs dlt, {n}",
                f"x{x:.1f} faster (syncd {second['wall_s']:.2f} s, dlt {dlt['no_change']['wall_s']:.1f} s)",
                f">= x{NO_CHANGE_VS_DLT:g} (aim x{NO_CHANGE_VS_DLT_AIM:g})",
                x >= NO_CHANGE_VS_DLT,
            )
        )

    anchor = main.get("anchor")
    if anchor is None:
        rows.append(
            row(f"first sync vs COPY anchor, {n}", "anchor not run", f"<= x{FIRST_VS_ANCHOR:g}", None)
        )
    else:
        x = first["wall_s"] / anchor["wall_s"]
        rows.append(
            row(
                f"first sync vs COPY anchor, {n}",
                f"x{x:.2f} the COPY (syncd {first['wall_s']:.1f} s, COPY {anchor['wall_s']:.1f} s"
                f" of {_mb(anchor['json_bytes'])})",
                f"<= x{FIRST_VS_ANCHOR:g}",
                x <= FIRST_VS_ANCHOR,
            )
        )

    storage = main.get("storage")
    if storage is None or storage.get("growth_per_json_byte") is None:
        rows.append(
            row("database growth per byte of JSON served", "not measured", f"<= {GROWTH_PER_JSON}", None)
        )
    else:
        x = storage["growth_per_json_byte"]
        rows.append(
            row(
                f"database growth over the first sync, {n}",
                f"x{x:.2f} ({_mb(storage['growth_bytes'])} for {_mb(storage['json_served_bytes'])} of JSON)",
                f"<= x{GROWTH_PER_JSON} the JSON served",
                x <= GROWTH_PER_JSON,
            )
        )

    for size in sizes:
        rss = size["first_sync"]["peak_rss_mb"]
        rows.append(
            row(
                f"peak RSS, first sync of {size['events']:,}",
                f"{rss:.0f} MB",
                f"< {PEAK_RSS_MB:g} MB",
                rss < PEAK_RSS_MB,
            )
        )
    if len(sizes) >= 2:
        small = sizes[0]
        growth = main["first_sync"]["peak_rss_mb"] / small["first_sync"]["peak_rss_mb"]
        scale = main["events"] / small["events"]
        rows.append(
            row(
                f"RSS growth {small['events']:,} -> {main['events']:,} events (x{scale:g})",
                f"x{growth:.2f}",
                f"<= x{RSS_GROWTH}",
                growth <= RSS_GROWTH,
            )
        )
    else:
        rows.append(row("RSS growth for 4x the events", "one size run", f"<= x{RSS_GROWTH}", None))

    limit = main.get("rate_limit")
    if limit is None:
        rows.append(
            row("no-change sync, default limit vs off", "not run", f"<= x{DEFAULT_LIMIT_NO_CHANGE}", None)
        )
    else:
        rows.append(
            row(
                f"no-change sync, default limit vs off (median of {limit['runs']} each)",
                f"x{limit['ratio']:.2f} ({limit['default_median_s']:.2f} s vs {limit['off_median_s']:.2f} s)",
                f"<= x{DEFAULT_LIMIT_NO_CHANGE}",
                limit["ratio"] <= DEFAULT_LIMIT_NO_CHANGE,
            )
        )
    default_first = main.get("default_limit_first_sync")
    rows.append(
        row(
            f"first sync under the default settings, {n}",
            f"{default_first['wall_s']:.1f} s, {default_first['requests']} requests"
            if default_first
            else "not run (--default-limit-first-sync)",
            STATED,
            None,
        )
    )
    if "startup" in results:
        rows += startup_verdicts(results["startup"])
    if "baseline" in main:
        base = main["baseline"]["events_per_s"]
        rate = main["events"] / first["wall_s"]
        rows.append(
            row(
                "naive baseline (events only)",
                f"{base:,.0f} events/s; syncd x{rate / base:.1f}",
                "syncd faster",
                rate > base,
            )
        )
    return rows


def _cpu(phase: dict[str, Any]) -> float:
    return float(phase["cpu_user_s"] + phase["cpu_system_s"])


def _opt(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def side_by_side(main: dict[str, Any]) -> list[tuple[str, ...]]:
    """syncd | dlt | COPY anchor, for the first sync and the no-change sync: text rows, header first."""
    rows: list[tuple[str, ...]] = [
        (
            "phase",
            "tool",
            "wall s",
            "client CPU s",
            "PostgreSQL CPU s",
            "peak RSS MB",
            "requests",
            "JSON served",
        )
    ]
    dlt = main.get("dlt")
    anchor = main.get("anchor")
    dlt_name = f"dlt {dlt['version']} rest_api merge" if dlt else "dlt"

    def tool(phase_name: str, name: str, p: dict[str, Any] | None) -> None:
        if p is None:
            rows.append((phase_name, name, "not run", "", "", "", "", ""))
            return
        rows.append(
            (
                phase_name,
                name,
                f"{p['wall_s']:.2f}",
                f"{_cpu(p):.1f}",
                _opt(p.get("server_cpu_s")),
                f"{p['peak_rss_mb']:.0f}",
                str(p["requests"]),
                _mb(p["json_bytes"]) if "json_bytes" in p else "-",
            )
        )

    tool("first sync", "syncd", main["first_sync"])
    tool("first sync", dlt_name, dlt["first"] if dlt else None)
    if anchor is None:
        rows.append(("first sync", "COPY anchor", "not run", "", "", "", "", ""))
    else:
        rows.append(
            (
                "first sync",
                f"COPY anchor ({anchor['objects']:,} objects)",
                f"{anchor['wall_s']:.2f}",
                f"{anchor['cpu_s']:.2f}",
                _opt(anchor.get("server_cpu_s")),
                f"{anchor['process']['peak_rss_mb']:.0f}",
                "-",
                _mb(anchor["json_bytes"]) + " (file)",
            )
        )
    tool("no-change", "syncd", main["no_change_sync"])
    tool("no-change", dlt_name, dlt["no_change"] if dlt else None)
    return rows
