"""One ``--rate`` shared by several processes through Redis: the benchmark case.

:func:`case_shared_rate`: ``P`` processes share ``--rate 200`` through Redis against one
simulator allowing 200/s; the simulator's worst 1-second window, its 429s and the achieved rate,
with the store and without it (each process at 200/s: the overshoot).  The command each process
runs is a parameter (:class:`ShardCommand`); by default ``bulkpatch run --shard K/P --no-read``
(:data:`BULKPATCH_COMMAND`).  The small driver ``shared_rate_driver.py`` (its pacer, a slot
from the store, then GET one campaign) compares
limiters (``compare_limiters.py``).

The choice of algorithm is measured by ``compare_limiters.py``; both share the counting and the
process helpers here.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .procs import BenchError, SimulatorProcess

if TYPE_CHECKING:
    from .cases import Bench

DRIVER = Path(__file__).with_name("shared_rate_driver.py")
ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
RATE = 200
#: Seconds between launching the processes and their common start (interpreter start-up).
LAUNCH_LEAD = 2.0


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
        from support.redis_server import RedisServer
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


# ----------------------------------------------------------------------------------------------
# The benchmark case: several processes, one simulator
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardCommand:
    """The command each of the ``P`` processes runs, as a template.

    Placeholders: ``{python}``, ``{shard}`` (1..P), ``{shards}`` (P), ``{base_url}``,
    ``{key_env}``, ``{rate}``, ``{requests}`` (this process's share), ``{first}`` (the first
    campaign of its share, 0-based), ``{start_at}`` (a ``time.monotonic()`` value), ``{out}`` (a
    file it may write), ``{store}``, ``{sheet}`` (a sheet renaming every campaign of the
    simulator, for ``bulkpatch run``).  ``store_args`` are appended when the processes share the
    store, ``no_store_args`` when they do not.
    """

    label: str
    argv: tuple[str, ...]
    store_args: tuple[str, ...]
    no_store_args: tuple[str, ...] = ()

    def render(self, *, shared: bool, **values: Any) -> list[str]:
        extra = self.store_args if shared else self.no_store_args
        return [part.format(**values) for part in (*self.argv, *extra)]


#: The default: the driver script takes a slot (or only paces itself) and GETs one campaign.
DRIVER_COMMAND = ShardCommand(
    label="shared_rate_driver.py: its pacer, a slot from the store, then GET one campaign",
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


#: What the issue measures: ``bulkpatch run --shard K/P`` itself, ``--no-read`` (one PATCH a
#: row, so the rows are the requests), each process at the whole ``--rate``; with the store they
#: share it, without it each sends at the full rate (the overshoot).
BULKPATCH_COMMAND = ShardCommand(
    label="bulkpatch run --shard K/P --no-read --rate 200 --concurrency 16",
    argv=(
        "{python}",
        "-m",
        "bulkpatch",
        "run",
        "{sheet}",
        "--shard",
        "{shard}/{shards}",
        "--rate",
        "{rate}",
        "--concurrency",
        "16",
        "--no-read",
        "--base-url",
        "{base_url}",
        "--api-key-env",
        "{key_env}",
        "--report-dir",
        "{out}.d",
        "--quiet",
    ),
    store_args=("--rate-store", "{store}"),
)


def shared_rate_runs(
    sim: SimulatorProcess,
    store_url: str,
    *,
    requests: int,
    sheet: Path,
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
    outs = [
        work / f"shard-{'store' if shared else 'nostore'}-{k + 1}.json" for k in range(processes)
    ]
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
            out=outs[k],
            store=store_url,
            sheet=sheet,
        )
        for k in range(processes)
    ]
    for out in outs:
        out.unlink(missing_ok=True)
    _store_command("CONFIG", "RESETSTAT", url=store_url)
    wall = time.monotonic()
    run_together(argvs, timeout=120 + 4 * requests / rate, env=env)
    wall = time.monotonic() - wall
    stats = sim.stats()
    counts: list[int] = sim.timeline(1)["counts"]
    marks = [i for i, c in enumerate(counts) if c]
    span = (marks[-1] - marks[0]) / 1000.0 if len(marks) > 1 else 0.0
    total = int(stats["requests_total"])
    reservations = _reservations(store_url)
    # What the driver saw, when the command is the driver (its own start times).
    own = [json.loads(out.read_text()) for out in outs if out.exists()]
    starts = [t for d in own for t in d.get("starts", [])]
    return {
        "shared": shared,
        "requests": total,
        "worst_window": stats["max_starts_in_any_second"],
        "rate_limited_429": stats["rate_limited"],
        "achieved_rate": round((total - 1) / span, 2) if span else 0.0,
        "span_s": round(span, 3),
        "wall_s": round(wall, 2),
        "store_calls_per_request": round(reservations / total, 3) if shared and total else None,
        "by_status": stats["requests"],
        "client_worst_window": worst_window(starts) if starts else None,
        "missed_slots": sum(d.get("missed_slots", 0) for d in own) if own else None,
    }


def _store_command(*args: str, url: str) -> Any:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return client.execute_command(*args)
    finally:
        client.close()


def _reservations(url: str) -> int:
    """Scripts run by the store since its statistics were reset (one per slot reserved)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        stats: dict[str, dict[str, int]] = client.info("commandstats")
    finally:
        client.close()
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval"))


def case_shared_rate(bench: Bench, command: ShardCommand = BULKPATCH_COMMAND) -> dict[str, Any]:
    """``P`` processes share ``--rate 200`` through Redis against one simulator allowing
    200/s, then the same without the store (each process at 200/s); repeated."""
    from .cases import KEY_ENV, spread, target
    from .sheets import write_name_sheet

    requests = bench.sizes.shared_rate_requests
    try:
        redis = _redis_server(bench.work)
    except RuntimeError as exc:  # redis-server is not installed
        raise BenchError(str(exc)) from None
    runs: dict[str, list[dict[str, Any]]] = {"store": [], "no_store": []}
    with (
        redis,
        bench.sim(
            "--generate", str(requests), "--status", "paused", "--rate-limit", str(RATE)
        ) as sim,
    ):
        sheet = write_name_sheet(bench.path("shared-rate.csv"), requests, "shared")
        for rep in range(bench.sizes.reps):
            for shared in (True, False):
                run = shared_rate_runs(
                    sim,
                    redis.url,
                    requests=requests,
                    sheet=sheet,
                    work=bench.work,
                    env=bench.env,
                    key_env=KEY_ENV,
                    command=command,
                    shared=shared,
                )
                run["achieved_over_target"] = round(run["achieved_rate"] / RATE, 4)
                runs["store" if shared else "no_store"].append(run)
                bench.log(
                    f"shared rate {rep + 1}/{bench.sizes.reps} "
                    f"{'with' if shared else 'without'} the store: worst window "
                    f"{run['worst_window']}, 429s {run['rate_limited_429']}, achieved "
                    f"{run['achieved_rate']}/s"
                )
    keys = ("worst_window", "rate_limited_429", "achieved_rate", "achieved_over_target", "span_s")
    stats = {
        mode: {k: spread([r[k] for r in mode_runs]) for k in keys}
        for mode, mode_runs in runs.items()
    }
    stats["store"]["store_calls_per_request"] = spread(
        [r["store_calls_per_request"] for r in runs["store"]]
    )
    missed = [r["missed_slots"] for r in runs["store"] if r["missed_slots"] is not None]
    if missed:  # known when the command is the driver
        stats["store"]["missed_slots"] = spread(missed, 0)
    with_store = stats["store"]
    title = f"{PROCESSES} processes sharing --rate {RATE} through Redis"
    return {
        "title": "One rate shared by several processes",
        "params": {
            "processes": PROCESSES,
            "rate": RATE,
            "server_rate_limit": RATE,
            "requests_per_run": requests,
            "command": command.label,
            "store_args": " ".join(command.store_args).replace(
                "{store}", "redis://127.0.0.1:PORT/0"
            ),
        },
        "runs": runs,
        "stats": stats,
        "targets": [
            target(
                f"{title}: no 1-second window above {RATE} (first included)",
                value=max(r["worst_window"] for r in runs["store"]),
                op="<=",
                limit=RATE,
                basis="worst",
                shown=with_store["worst_window"],
                unit="requests",
                digits=0,
            ),
            target(
                f"{title}: achieved >= 95% of {RATE}/s",
                value=with_store["achieved_over_target"]["median"],
                op=">=",
                limit=0.95,
                basis="median",
                shown=with_store["achieved_over_target"],
                unit="x target",
            ),
            target(
                f"{title}: zero 429s",
                value=sum(r["rate_limited_429"] for r in runs["store"]),
                op="==",
                limit=0,
                basis="total",
                shown=with_store["rate_limited_429"],
                unit="429s",
                digits=0,
            ),
        ],
    }
