"""The COPY anchor: the account's objects as JSON lines, copied into a one-column jsonb table.

The physical floor of a first sync on this server: no fetching, no mapping, one `COPY` of the same
objects into `anchor(doc jsonb)`. Before the clock, the benchmark reads every object of the four
lists syncd and the dlt peer read (events, event types, polls, users) from the sandbox and writes
them to a file, one compact JSON object a line; then a child process connects and runs

    COPY anchor (doc) FROM STDIN (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')

fed from the file in 1 MiB blocks, and commits. CSV with two control characters as quote and
delimiter takes each line verbatim (compact JSON escapes every control character, so neither can
occur), where the text format would read JSON's backslash escapes as its own. The child times
the COPY and its commit alone (wall and its own CPU); the benchmark adds the server's CPU around
the child and checks the table holds one row per line.

    python -m benchmarks.copy_anchor --database-url URL --file PATH     (the child; prints JSON)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from benchmarks.harness import REPO, PhaseFailed, ScratchServer, run_timed

JsonObject = dict[str, Any]

TABLE = "anchor"
COPY_SQL = f"COPY {TABLE} (doc) FROM STDIN (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
CREATE_SQL = f"CREATE TABLE {TABLE} (doc jsonb NOT NULL)"
BLOCK = 1 << 20
# The lists of the anchor, as syncd's endpoint names: (endpoint, paged).
LISTS = (("event.list", True), ("event_type.list", True), ("poll.list", True), ("user.list", False))


class BadObject(ValueError):
    """An item of a list that is not a JSON object: the anchor holds objects only."""


def write_json_lines(objects: Iterable[Any], out: IO[bytes]) -> tuple[int, int]:
    """Write each object as one line of compact JSON; return (objects, bytes written).

    Compact JSON has no raw newline and no raw control character (orjson escapes them), so a line
    is an object and the COPY's CSV quote and delimiter (\\x01, \\x02) never occur in it.
    """
    count = size = 0
    for number, obj in enumerate(objects, 1):
        if not isinstance(obj, dict):
            raise BadObject(f"item {number}: expected a JSON object, got {type(obj).__name__}")
        line = orjson.dumps(obj) + b"\n"
        out.write(line)
        count += 1
        size += len(line)
    return count, size


def account_objects(base_url: str, api_key: str) -> Iterator[JsonObject]:
    """Every object of the four lists, read as syncd reads them (100 a page, by id), no rate limit."""
    from syncd.api import ApiClient
    from syncd.api.paging import iter_pages

    params = {"orderField": "id", "orderDirection": "asc"}
    with ApiClient(base_url, api_key, rate_limit_per_s=None) as client:
        for endpoint, paged in LISTS:
            if paged:
                for page in iter_pages(client, endpoint, params, on_page=100):
                    yield from page.items
            else:
                answer = client.call(endpoint)
                yield from answer["items"] if isinstance(answer, dict) else answer


def export(base_url: str, api_key: str, path: Path) -> dict[str, int]:
    """The account's objects into `path`; {objects, json_bytes}."""
    with path.open("wb") as out:
        objects, size = write_json_lines(account_objects(base_url, api_key), out)
    return {"objects": objects, "json_bytes": size}


def copy_file(conninfo: str, path: Path) -> dict[str, float]:
    """The child's work: COPY the file into the (existing, empty) anchor table; time it alone."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        started_cpu = os.times()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(COPY_SQL) as copy, path.open("rb") as source:
            while block := source.read(BLOCK):
                copy.write(block)
        conn.commit()
        wall = time.perf_counter() - started
        ended_cpu = os.times()
    cpu = (ended_cpu.user - started_cpu.user) + (ended_cpu.system - started_cpu.system)
    return {"copy_wall_s": wall, "copy_cpu_s": cpu}


def run_anchor(
    server: ScratchServer, base_url: str, api_key: str, *, logs: Path, scratch: Path, timeout_s: float
) -> dict[str, Any]:
    """The anchor phase: export (untimed), a fresh table, the COPY in a child, the rows checked.

    `logs`: the child's output; `scratch`: the JSON-lines file (removed after)."""
    logs.mkdir(parents=True, exist_ok=True)
    lines = scratch / "account.jsonl"
    try:
        exported = export(base_url, api_key, lines)
        name = "syncd_bench_anchor"
        url = server.create_database(name)
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        import psycopg

        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(CREATE_SQL)
        server_before = server.cpu_s()
        child = run_timed(
            [
                sys.executable,
                "-m",
                "benchmarks.copy_anchor",
                "--database-url",
                conninfo,
                "--file",
                str(lines),
            ],
            env=dict(os.environ),
            timeout_s=timeout_s,
            stdout=logs / "copy.out",
            stderr=logs / "copy.log",
            what="COPY anchor",
            cwd=REPO,
        )
        server_after = server.cpu_s()
        if child.returncode != 0:
            raise PhaseFailed(f"COPY anchor exited {child.returncode} (see {logs / 'copy.log'})")
        timed = json.loads((logs / "copy.out").read_text())
        with psycopg.connect(conninfo, autocommit=True) as conn:
            row = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
        rows = int(row[0]) if row else 0
        if rows != exported["objects"]:
            raise PhaseFailed(
                f"COPY anchor: {rows} rows in {TABLE}, the file has {exported['objects']} lines"
            )
        size = server.database_size(name)
    finally:
        lines.unlink(missing_ok=True)
    return {
        **exported,
        "rows": rows,
        "wall_s": timed["copy_wall_s"],
        "cpu_s": timed["copy_cpu_s"],
        "process": {
            "wall_s": child.wall_s,
            "cpu_s": child.cpu_user_s + child.cpu_system_s,
            "peak_rss_mb": child.peak_rss_mb,
        },
        "server_cpu_s": None
        if server_before is None or server_after is None
        else server_after - server_before,
        "database_bytes": size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.copy_anchor", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database-url", required=True, help="libpq URL of the scratch database")
    parser.add_argument("--file", type=Path, required=True, help="the JSON-lines file")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    print(json.dumps(copy_file(args.database_url, args.file)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
