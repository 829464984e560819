"""Which even spacing for the pacer: its own slots, or ``aiolimiter.AsyncLimiter(1, 1/r)``.

    python -m tests.benchmarks.compare_pacers --rate 200 --seconds 10 --repeat 3

Workers (``--workers``, the run's concurrency) take start slots from one pacer for ``S``
seconds on uvloop, each recording its start time (``time.monotonic()``).  Candidates:

* ``pacer``: :class:`bulkpatch.transport.pacing.Pacer` as a run uses it (slots spaced at
  ``R / (1 + slack)``, then the log of the last ``R`` starts as the exact ceiling);
* ``aiolimiter``: the same pacer whose slots come from an ``AsyncLimiter(1, 1/r)`` (capacity
  one: no burst), the start log kept as the ceiling.

For each: the worst closed 1-second window of starts (must be <= R), the achieved rate, and the
CPU time per start (process time over starts).  Runs alternate; the medians are printed as JSON.
``aiolimiter`` is not a dependency: ``pip install aiolimiter`` to run this.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import anyio
import anyio.lowlevel

from bulkpatch.transport.pacing import Pacer, safe_rate

CANDIDATES = ("pacer", "aiolimiter")


class LimiterPacer(Pacer):
    """The pacer with ``AsyncLimiter(1, 1/r)`` for the even spacing."""

    def __init__(self, rate: float) -> None:
        from aiolimiter import AsyncLimiter  # optional: only this comparison needs it

        super().__init__(rate)
        self._limiter = AsyncLimiter(1, 1.0 / safe_rate(rate, self.slack))

    async def acquire(self) -> None:
        await self._limiter.acquire()
        await self._respect_window()
        self._observe(self._clock())


def worst_window(starts: list[float]) -> int:
    """The most starts in any closed 1-second window."""
    starts = sorted(starts)
    worst, j = 0, 0
    for i, t in enumerate(starts):
        while starts[j] < t - 1.0:
            j += 1
        worst = max(worst, i - j + 1)
    return worst


async def _drive(candidate: str, rate: float, seconds: float, workers: int) -> dict[str, Any]:
    pacer = Pacer(rate) if candidate == "pacer" else LimiterPacer(rate)
    starts: list[float] = []
    end = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < end:
            await pacer.acquire()
            starts.append(time.monotonic())
            await anyio.lowlevel.checkpoint()  # the request would go out here

    cpu = time.process_time()
    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker)
    cpu = time.process_time() - cpu
    span = starts[-1] - starts[0] if len(starts) > 1 else 1.0
    return {
        "worst_window": worst_window(starts),
        "achieved": round((len(starts) - 1) / span, 2),
        "cpu_us_per_start": round(cpu / max(len(starts), 1) * 1e6, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=32)
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CANDIDATES}
    for rep in range(args.repeat):
        order = CANDIDATES if rep % 2 == 0 else CANDIDATES[::-1]
        for candidate in order:
            got = anyio.run(
                _drive,
                candidate,
                args.rate,
                args.seconds,
                args.workers,
                backend_options={"use_uvloop": True},
            )
            runs[candidate].append(got)
    out = {
        c: {
            "worst_window_max": max(r["worst_window"] for r in rs),
            "achieved_median": statistics.median(r["achieved"] for r in rs),
            "cpu_us_per_start_median": statistics.median(r["cpu_us_per_start"] for r in rs),
            "runs": rs,
        }
        for c, rs in runs.items()
    }
    print(json.dumps({"rate": args.rate, "seconds": args.seconds, **out}, indent=1))


if __name__ == "__main__":
    main()
