"""Which shared-rate algorithm: the GCRA script against ``limits``' moving window, measured.

    python -m tests.benchmarks.compare_limiters --seconds 10 --repeat 3 [--cpu-hogs 2]

``P`` processes at ``--rate R`` each take start slots through one Redis for ``S`` seconds, each
recording its actual start times (no server: the counter is the start times themselves, on
``time.monotonic()``, one clock for the whole machine).  For each candidate: the worst closed
1-second window over all processes, the first second, the achieved rate, the round trips to
Redis per start and the slots given up.  Candidates (``shared_rate_driver.py --limiter``):
``gcra`` (bulkpatch's), ``limits`` (the moving window at R per second) and ``limits-slack`` (at
R / 1.01 per second, the GCRA's margin).  ``--cpu-hogs N`` keeps N more processes busy meanwhile
(a loaded machine); ``--gcra-slack`` / ``--gcra-max-late`` try other margins.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .shared_rate import (
    DRIVER,
    LAUNCH_LEAD,
    PROCESSES,
    RATE,
    _redis_server,
    achieved_rate,
    first_second,
    run_together,
    worst_window,
)

LIMITERS = ("gcra", "limits", "limits-slack")


def _driver(limiter: str, *, out: Path, store: str, rate: float, start_at: float) -> list[str]:
    return [
        sys.executable,
        str(DRIVER),
        "--limiter",
        limiter,
        "--store",
        store,
        "--rate",
        f"{rate:g}",
        "--start-at",
        f"{start_at:.6f}",
        "--out",
        str(out),
    ]


def compare_limiters(
    work: Path,
    *,
    processes: int = PROCESSES,
    rate: float = RATE,
    seconds: float = 10.0,
    concurrency: int = 16,
    limiters: Sequence[str] = LIMITERS,
    gcra_args: Sequence[str] = (),
    cpu_hogs: int = 0,
    log: Any = print,
) -> dict[str, Any]:
    """Each limiter in turn: ``processes`` drivers for ``seconds``, their starts counted.

    ``cpu_hogs`` busy processes run meanwhile (a loaded machine: late wake-ups)."""
    results: dict[str, Any] = {}
    with _redis_server(work) as server:
        for limiter in limiters:
            hogs = _cpu_hogs(cpu_hogs, seconds=LAUNCH_LEAD + seconds + 5)
            start_at = time.monotonic() + LAUNCH_LEAD
            outs = [work / f"{limiter}-{k}.json" for k in range(processes)]
            argvs = [
                [
                    *_driver(limiter, out=out, store=server.url, rate=rate, start_at=start_at),
                    "--seconds",
                    f"{seconds:g}",
                    "--concurrency",
                    str(concurrency),
                    *(gcra_args if limiter == "gcra" else ()),
                ]
                for out in outs
            ]
            try:
                run_together(argvs, timeout=seconds + 60, env=dict(os.environ))
            finally:
                for hog in hogs:
                    hog.kill()
                    hog.wait()
            data = [json.loads(out.read_text()) for out in outs]
            starts = [t for d in data for t in d["starts"]]
            trips = sum(d["round_trips"] for d in data)
            results[limiter] = {
                "starts": len(starts),
                "worst_window": worst_window(starts),
                "first_second": first_second(starts),
                "achieved_rate": round(achieved_rate(starts), 2),
                "achieved_over_target": round(achieved_rate(starts) / rate, 4),
                "round_trips_per_start": round(trips / max(1, len(starts)), 3),
                "missed_slots": sum(d["missed_slots"] for d in data),
                "per_process_starts": [len(d["starts"]) for d in data],
            }
            log(f"{limiter}: {results[limiter]}")
    return {
        "processes": processes,
        "rate": rate,
        "seconds": seconds,
        "concurrency": concurrency,
        "cpu_hogs": cpu_hogs,
        "gcra_args": list(gcra_args),
        "limiters": results,
    }


def _cpu_hogs(n: int, *, seconds: float) -> list[subprocess.Popen[bytes]]:
    """``n`` processes that keep a core busy for ``seconds`` (they stop by themselves)."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.compare_limiters",
        description="Compare shared-rate algorithms on Redis: worst window, rate, round trips.",
    )
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument("--rate", type=float, default=RATE)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--limiters", default=",".join(LIMITERS))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cpu-hogs", type=int, default=0, help="Busy processes meanwhile.")
    parser.add_argument("--gcra-slack", type=float, help="Measure the GCRA with another SLACK.")
    parser.add_argument("--gcra-max-late", type=float, help="... and another MAX_LATE.")
    args = parser.parse_args(argv)
    gcra_args: list[str] = []
    if args.gcra_slack is not None:
        gcra_args += ["--slack", str(args.gcra_slack)]
    if args.gcra_max_late is not None:
        gcra_args += ["--max-late", str(args.gcra_max_late)]
    runs = []
    with tempfile.TemporaryDirectory(prefix="bulkpatch-shared-rate-") as tmp:
        for _ in range(args.repeat):
            runs.append(
                compare_limiters(
                    Path(tmp),
                    processes=args.processes,
                    rate=args.rate,
                    seconds=args.seconds,
                    concurrency=args.concurrency,
                    limiters=args.limiters.split(","),
                    gcra_args=gcra_args,
                    cpu_hogs=args.cpu_hogs,
                    log=lambda text: print(text, file=sys.stderr, flush=True),
                )
            )
    print(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
