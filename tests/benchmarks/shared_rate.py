"""One ``--rate`` shared by several processes through Redis: the measurements.

* :func:`compare_limiters` -- the choice of algorithm: ``P`` processes at ``--rate R`` each take
  start slots through the store for ``S`` seconds, each recording its actual start times (no
  server: the counter is the start times themselves); for each candidate, the worst 1-second
  window over all processes, the achieved rate and the round trips to Redis per start.
  ``python -m tests.benchmarks.shared_rate`` prints it (``--seconds``, ``--processes``, ...).
* :func:`case_shared_rate` -- the benchmark case: ``P`` processes share ``--rate 200`` through
  Redis against one simulator allowing 200/s; the simulator's worst 1-second window, its 429s
  and the achieved rate, with the store and without it (each process at 200/s: the overshoot).
  The command each process runs is a parameter (:class:`ShardCommand`); by default the small
  driver ``shared_rate_driver.py`` (take a slot, GET one campaign).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .procs import BenchError, SimulatorProcess

DRIVER = Path(__file__).with_name("shared_rate_driver.py")
ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
RATE = 200
#: Seconds between launching the processes and their common start (interpreter start-up).
LAUNCH_LEAD = 3.0
LIMITERS = ("gcra", "limits", "limits-slack")


# ----------------------------------------------------------------------------------------------
# Counting
# ----------------------------------------------------------------------------------------------


def worst_window(starts: Sequence[float], width: float = 1.0) -> int:
    """The most starts in any closed window of ``width`` seconds (``[t, t + width]``)."""
    ordered = sorted(starts)
    best = 0
    for i, t in enumerate(ordered):
        j = bisect.bisect_right(ordered, t + width)
        best = max(best, j - i)
    return best


def first_second(starts: Sequence[float]) -> int:
    """Starts within the first second (closed) from the first start."""
    if not starts:
        return 0
    first = min(starts)
    return sum(1 for t in starts if t <= first + 1.0)


def achieved_rate(starts: Sequence[float]) -> float:
    """Starts per second: ``n`` starts ``1/r`` apart span ``(n - 1) / r`` seconds."""
    if len(starts) < 2:
        return 0.0
    return (len(starts) - 1) / (max(starts) - min(starts))


# ----------------------------------------------------------------------------------------------
# Processes
# ----------------------------------------------------------------------------------------------


def _redis_server(work: Path) -> Any:
    """The test suite's ``RedisServer`` (tests/redis_server.py), started."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from redis_server import RedisServer
    finally:
        sys.path.pop(0)
    return RedisServer(work / "redis")


def run_together(argvs: list[list[str]], *, timeout: float, env: dict[str, str]) -> None:
    """Run every command at once, each in its own process group, to the end (all killed after
    ``timeout`` seconds); raise with the output of those that failed."""
    procs: list[subprocess.Popen[bytes]] = []
    texts: list[str] = []
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile()) for _ in argvs]
        try:
            for argv, log in zip(argvs, logs, strict=True):
                procs.append(
                    subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                        cwd=ROOT,
                        start_new_session=True,
                    )
                )
            deadline = time.monotonic() + timeout
            for proc in procs:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise BenchError(f"the shared-rate processes did not finish in {timeout:g} s") from None
        finally:
            for proc in procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        for log in logs:
            log.seek(0)
            texts.append(log.read().decode(errors="replace"))
    failed = [
        f"exit {proc.returncode}: {text[-1500:]}"
        for proc, text in zip(procs, texts, strict=True)
        if proc.returncode != 0
    ]
    if failed:
        raise BenchError("a shared-rate process failed:\n" + "\n".join(failed))


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
    log: Any = print,
) -> dict[str, Any]:
    """Each limiter in turn: ``processes`` drivers for ``seconds``, their starts counted."""
    results: dict[str, Any] = {}
    with _redis_server(work) as server:
        for limiter in limiters:
            start_at = time.monotonic() + LAUNCH_LEAD
            outs = [work / f"{limiter}-{k}.json" for k in range(processes)]
            argvs = [
                [
                    *_driver(limiter, out=out, store=server.url, rate=rate, start_at=start_at),
                    "--seconds",
                    f"{seconds:g}",
                    "--concurrency",
                    str(concurrency),
                ]
                for out in outs
            ]
            run_together(argvs, timeout=seconds + 60, env=dict(os.environ))
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
        "limiters": results,
    }


# ----------------------------------------------------------------------------------------------
# The benchmark case: several processes, one simulator
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardCommand:
    """The command each of the ``P`` processes runs, as a template.

    Placeholders: ``{python}``, ``{shard}`` (1..P), ``{shards}`` (P), ``{base_url}``,
    ``{key_env}``, ``{rate}``, ``{requests}`` (this process's share), ``{first}`` (the first
    campaign of its share, 0-based), ``{start_at}`` (a ``time.monotonic()`` value), ``{out}`` (a
    file it may write), ``{store}``.  ``store_args`` are appended when the processes share the
    store, ``no_store_args`` when they do not.
    """

    argv: tuple[str, ...]
    store_args: tuple[str, ...]
    no_store_args: tuple[str, ...] = ()

    def render(self, *, shared: bool, **values: Any) -> list[str]:
        extra = self.store_args if shared else self.no_store_args
        return [part.format(**values) for part in (*self.argv, *extra)]


#: The default: the driver script takes a slot (or only paces itself) and GETs one campaign.
DRIVER_COMMAND = ShardCommand(
    argv=(
        "{python}",
        str(DRIVER),
        "--rate",
        "{rate}",
        "--requests",
        "{requests}",
        "--first",
        "{first}",
        "--campaigns",
        "{campaigns}",
        "--seconds",
        "600",
        "--concurrency",
        "16",
        "--start-at",
        "{start_at}",
        "--base-url",
        "{base_url}",
        "--api-key-env",
        "{key_env}",
        "--out",
        "{out}",
    ),
    store_args=("--limiter", "gcra", "--store", "{store}"),
    no_store_args=("--limiter", "none"),
)


@contextlib.contextmanager
def _maybe_redis(work: Path) -> Iterator[Any]:
    server = _redis_server(work)
    with server:
        yield server


def shared_rate_runs(
    sim: SimulatorProcess,
    store_url: str,
    *,
    requests: int,
    work: Path,
    env: dict[str, str],
    key_env: str,
    command: ShardCommand = DRIVER_COMMAND,
    processes: int = PROCESSES,
    rate: int = RATE,
    shared: bool,
) -> dict[str, Any]:
    """One run of ``processes`` commands against ``sim``; the simulator's view of it."""
    sim.reset_stats()
    share = requests // processes
    start_at = time.monotonic() + LAUNCH_LEAD
    argvs = [
        command.render(
            shared=shared,
            python=sys.executable,
            shard=k + 1,
            shards=processes,
            base_url=sim.base_url,
            key_env=key_env,
            rate=rate,
            requests=share,
            first=k * share,
            campaigns=requests,
            start_at=f"{start_at:.6f}",
            out=work / f"shard-{'store' if shared else 'nostore'}-{k + 1}.json",
            store=store_url,
        )
        for k in range(processes)
    ]
    wall = time.monotonic()
    run_together(argvs, timeout=120 + 4 * requests / rate, env=env)
    wall = time.monotonic() - wall
    stats = sim.stats()
    counts: list[int] = sim.timeline(1)["counts"]
    marks = [i for i, c in enumerate(counts) if c]
    span = (marks[-1] - marks[0]) / 1000.0 if len(marks) > 1 else 0.0
    total = int(stats["total"])
    return {
        "shared": shared,
        "requests": total,
        "worst_window": stats["max_starts_in_any_second"],
        "rate_limited_429": stats["rate_limited"],
        "achieved_rate": round((total - 1) / span, 2) if span else 0.0,
        "span_s": round(span, 3),
        "wall_s": round(wall, 2),
        "by_status": stats["requests"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.shared_rate",
        description="Compare shared-rate algorithms on Redis: worst window, rate, round trips.",
    )
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument("--rate", type=float, default=RATE)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--limiters", default=",".join(LIMITERS))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
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
                    log=lambda text: print(text, file=sys.stderr, flush=True),
                )
            )
    print(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
