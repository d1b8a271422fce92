"""Start-up: `syncd --help` and `syncd version`, the median of 5 runs each, against issue 12's 0.3 s.

    python -m benchmarks.startup [--runs 5]        (make bench-startup; `make bench` runs it too)

Each run is the installed `syncd` command as a child process, wall time from spawn to exit (so the
interpreter's own start-up is in it) and the child's CPU time from `os.wait4`; the commands take
turns, so a burst of load elsewhere falls on both. `python -c pass` is timed the same way: the floor
no Python command goes below on the machine at that moment. Exit 0 when every run exited 0 (a
missed target is reported, not failed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from benchmarks.harness import REPO, VENV_BIN, PhaseFailed, columns

TARGET_STARTUP_S = 0.3
TIMED = (("syncd", "--help"), ("syncd", "version"))
FLOOR = ("python", "-c", "pass")


def _time_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of one run; blocking wait4, so no polling interval inflates the wall time."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603  # our own command
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    assert process.stderr is not None
    error = process.stderr.read().decode(errors="replace").strip()
    process.stderr.close()
    if process.returncode != 0:
        raise PhaseFailed(f"`{' '.join(argv)}` exited {process.returncode}: {error[-300:]}")
    return wall, usage.ru_utime + usage.ru_stime


def measure_startup(runs: int = 5) -> dict[str, Any]:
    """Per command: every run's wall time, and the medians of wall and CPU time."""
    # An installed syncd has its bytecode (pip compiles it); an editable checkout under
    # PYTHONDONTWRITEBYTECODE=1 would compile every module it imports at each start.
    compileall.compile_dir(REPO / "syncd", quiet=1)
    # Settings play no part in these commands; a clean environment keeps it so.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    argvs = {" ".join(cmd): [str(VENV_BIN / cmd[0]), *cmd[1:]] for cmd in (*TIMED, FLOOR)}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in argvs}
    for _ in range(runs):
        for name, argv in argvs.items():
            times[name].append(_time_once(argv, env))
    commands = {
        name: {
            "wall_s": [round(wall, 4) for wall, _cpu in found],
            "median_wall_s": statistics.median(wall for wall, _cpu in found),
            "median_cpu_s": statistics.median(cpu for _wall, cpu in found),
        }
        for name, found in times.items()
    }
    return {"runs": runs, "target_s": TARGET_STARTUP_S, "load_average": os.getloadavg(), "commands": commands}


def startup_verdicts(startup: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per timed command, in `make bench`'s verdict form."""
    floor = startup["commands"][" ".join(FLOOR)]["median_wall_s"]
    rows = []
    for cmd in TIMED:
        figures = startup["commands"][" ".join(cmd)]
        wall = figures["median_wall_s"]
        rows.append(
            {
                "figure": f"start-up: `{' '.join(cmd)}`, median of {startup['runs']}",
                "value": f"{wall:.3f} s wall ({figures['median_cpu_s']:.3f} s CPU; "
                f"`python -c pass` {floor:.3f} s)",
                "target": f"<= {TARGET_STARTUP_S} s",
                "met": wall <= TARGET_STARTUP_S,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.startup", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (default 5)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        startup = measure_startup(args.runs)
    except PhaseFailed as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr)
        return 1
    load = startup["load_average"]
    print(f"start-up, {os.cpu_count()} cores, load {load[0]:.2f} at the end")
    print(
        "\n".join(
            columns(
                [
                    ("command", "median wall s", "median CPU s", "every run, wall s"),
                    *[
                        (
                            name,
                            f"{c['median_wall_s']:.3f}",
                            f"{c['median_cpu_s']:.3f}",
                            " ".join(f"{w:.3f}" for w in c["wall_s"]),
                        )
                        for name, c in startup["commands"].items()
                    ],
                ]
            )
        )
    )
    print()
    print(
        "\n".join(
            columns(
                [
                    ("figure", "measured", "target", ""),
                    *[
                        (v["figure"], v["value"], v["target"], "met" if v["met"] else "MISSED")
                        for v in startup_verdicts(startup)
                    ],
                ]
            )
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
