"""The five cases of the performance targets, each measured side by side and repeated.

Every case starts its own simulator process (``bulkpatch simulate`` on a free loopback port) and
runs each contender as a child process, so process start-up is part of what is measured.  Each
case returns a JSON-ready dict: its parameters, one record per run, the medians and spreads, and
the performance targets it decides.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .firstrequest import bare_read, first_request_s
from .procs import BULKPATCH, BenchError, ChildResult, SimulatorProcess, run_child
from .profile import summarize
from .sheets import campaign_id, write_ids, write_name_sheet, write_validate_sheet
from .startup import case_startup

#: A fake key: it opens only the simulators this benchmark starts.  Never printed.
API_KEY = "bench-key"
KEY_ENV = "BULKPATCH_BENCH_KEY"
MINIMAL_CLIENT = Path(__file__).with_name("minimal_client.py")
PACING_RATE = 200
LATENCY_MS = 100
LATENCY_CONCURRENCY = 50
GIB = 1024 * 1024  # KiB
PROFILED = [sys.executable, "-m", "cProfile"]
#: What a ``bulkpatch run`` process imports before its first row (its start-up's CPU).
RUN_IMPORTS = "import bulkpatch.cli.run, bulkpatch.cli.running"


@dataclass(frozen=True)
class Sizes:
    """How big each case is, and how many times it is repeated."""

    reps: int
    pacing_rows: int
    throughput_rows: int
    xargs_rows: int
    wrk_seconds: int
    latency_rows: int
    validate_rows: tuple[int, ...]
    memory_rows: tuple[int, int]
    shared_rate_requests: int


#: Small enough for the test suite (tests/engine/test_benchmark_quick.py): each case runs as in
#: the full benchmark, on sizes that only show the harness works; the child processes' start-up
#: is most of the time.
QUICK = Sizes(
    reps=2,
    pacing_rows=120,
    throughput_rows=100,
    xargs_rows=20,
    wrk_seconds=1,
    latency_rows=150,
    validate_rows=(500, 2_000),
    memory_rows=(200, 2_000),
    shared_rate_requests=400,
)
FULL = Sizes(
    reps=3,
    pacing_rows=2_000,
    throughput_rows=20_000,
    xargs_rows=1_000,
    wrk_seconds=3,
    latency_rows=5_500,
    validate_rows=(100_000, 1_000_000),
    memory_rows=(20_000, 200_000),
    shared_rate_requests=2_000,
)


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """Median and range of a repeated measurement."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


def target(
    spec: str,
    *,
    value: float,
    op: str,
    limit: float,
    basis: str,
    shown: dict[str, float] | None = None,
    unit: str = "",
    digits: int = 3,
) -> dict[str, Any]:
    """One performance target and whether this run met it.

    ``basis`` says which figure decides: ``median`` of the repetitions, or ``worst`` (the
    repetition furthest from the limit) for limits that must hold every time.
    """
    checks: dict[str, Callable[[float, float], bool]] = {
        "<=": lambda v, lim: v <= lim,
        "<": lambda v, lim: v < lim,
        ">=": lambda v, lim: v >= lim,
        "==": lambda v, lim: v == lim,
    }
    return {
        "spec": spec,
        "value": value,
        "op": op,
        "limit": limit,
        "unit": unit,
        "basis": basis,
        "spread": shown,
        "digits": digits,
        "met": checks[op](value, limit),
    }


class Bench:
    """Shared settings and helpers of one benchmark run."""

    def __init__(
        self, sizes: Sizes, *, work: Path, concurrency: int, log: Callable[[str], None]
    ) -> None:
        self.sizes = sizes
        self.work = work
        self.concurrency = concurrency
        self.log = log
        self.env = {**os.environ, KEY_ENV: API_KEY}
        self.env.pop("BULKPATCH_BASE_URL", None)

    def path(self, name: str) -> Path:
        return self.work / name

    def sim(self, *args: str) -> SimulatorProcess:
        """A simulator process (a context manager: started on entry, stopped on exit)."""
        return SimulatorProcess(list(args), api_key=API_KEY, workdir=self.work / "sim")

    # -- bulkpatch run ---------------------------------------------------------------------

    def bulkpatch_run(
        self,
        sheet: Path,
        sim: SimulatorProcess,
        *,
        rows: int,
        rate: str = "unlimited",
        concurrency: int | None = None,
        no_read: bool = False,
        profile: Path | None = None,
    ) -> dict[str, Any]:
        """``bulkpatch run`` as a child process; every row must end ``updated``.

        ``profile``: run it under cProfile, which writes its statistics there."""
        report_dir = self.work / "runs"
        start = BULKPATCH if profile is None else [*PROFILED, "-o", str(profile), "-m", "bulkpatch"]
        argv = [
            *start,
            "run",
            str(sheet),
            "--base-url",
            sim.base_url,
            "--api-key-env",
            KEY_ENV,
            "--rate",
            rate,
            "--concurrency",
            str(concurrency or self.concurrency),
            "--quiet",
            "--json",
            "--report-dir",
            str(report_dir),
        ]
        if no_read:
            argv.append("--no-read")
        child = run_child(argv, timeout=120 + rows / 100, env=self.env)
        if child.returncode != 0 or child.timed_out:
            raise BenchError(
                f"bulkpatch run exited with {child.returncode}"
                f"{' (timed out)' if child.timed_out else ''}:\n{child.tail()}"
            )
        printed = child.json_stdout()
        summary: dict[str, Any] = json.loads(
            (Path(printed["run_dir"]) / "summary.json").read_text(encoding="utf-8")
        )
        updated = summary["outcomes"]["updated"]
        if updated != rows:
            raise BenchError(f"bulkpatch updated {updated} of {rows} rows: {summary['outcomes']}")
        shutil.rmtree(printed["run_dir"], ignore_errors=True)
        duration = float(summary["duration_s"])
        requests = int(summary["requests"]["total"])
        return {
            "rows": rows,
            "wall_s": round(child.wall_s, 3),
            "cpu_s": round(child.user_s + child.sys_s, 3),
            "peak_rss_mib": round(child.max_rss_mib, 1),
            "summary_duration_s": duration,
            "requests": requests,
            "requests_by_method": summary["requests"]["by_method"],
            "throttled_429": summary["throttled_429"],
            "retries": summary["retries"],
            "achieved_rate": summary["achieved_rate"],
            "latency_ms": summary["latency"],
            "rows_per_s_end_to_end": round(rows / child.wall_s, 1),
            "rows_per_s_pool": round(rows / duration, 1),
            "requests_per_s_end_to_end": round(requests / child.wall_s, 1),
        }


def _server_check(sim: SimulatorProcess, *, patches: int, gets: int = 0) -> dict[str, Any]:
    """The simulator's view of the run just made: every request it expected, answered 200."""
    stats = sim.stats()
    by = stats["requests"]
    seen_patch = by.get("PATCH", {}).get("200", 0)
    seen_get = by.get("GET", {}).get("200", 0)
    if seen_patch != patches or seen_get != gets:
        raise BenchError(
            f"the simulator saw {by}; expected {patches} PATCH and {gets} GET answered 200"
        )
    return stats


def _wrk_check(sim: SimulatorProcess, requests: int, concurrency: int) -> None:
    """wrk counts the answers it read; the server may have started a few more at the end, and
    the requests still in flight when wrk stops are cut off ("reset" at the server)."""
    by = sim.stats()["requests"]
    patch = by.get("PATCH", {})
    other = {m: s for m, s in by.items() if m != "PATCH"}
    odd = set(patch) - {"200", "reset"}
    if other or odd or patch.get("200", 0) < requests or patch.get("reset", 0) > concurrency:
        raise BenchError(f"the simulator saw {by} during wrk's {requests} requests")


def _starts(sim: SimulatorProcess) -> list[int]:
    """Request starts per millisecond, from the first request on."""
    counts: list[int] = sim.timeline(1)["counts"]
    first = next((i for i, c in enumerate(counts) if c), len(counts))
    return counts[first:]


def _span(starts: list[int]) -> float:
    """Seconds from the first request start to the last (to the millisecond)."""
    last = max((i for i, c in enumerate(starts) if c), default=0)
    return last / 1000.0


def _rebucket(starts: list[int], ms: int) -> list[int]:
    return [sum(starts[i : i + ms]) for i in range(0, len(starts), ms)]


# ----------------------------------------------------------------------------------------------
# 1. Pacing accuracy
# ----------------------------------------------------------------------------------------------


def case_pacing(bench: Bench) -> dict[str, Any]:
    rows = bench.sizes.pacing_rows
    runs: list[dict[str, Any]] = []
    timelines: list[list[int]] = []
    with bench.sim(
        "--generate", str(rows), "--status", "paused", "--rate-limit", str(PACING_RATE)
    ) as sim:
        for rep in range(bench.sizes.reps):
            sheet = write_name_sheet(bench.path(f"pacing-{rep}.csv"), rows, f"pace r{rep}")
            sim.reset_stats()
            run = bench.bulkpatch_run(sheet, sim, rows=rows, rate=str(PACING_RATE))
            stats = _server_check(sim, patches=rows, gets=rows)
            starts = _starts(sim)
            timelines.append(_rebucket(starts, 100))
            span = _span(starts)
            # n starts paced 1/r apart span (n - 1) / r seconds.
            server_rate = (sum(starts) - 1) / span if span else 0.0
            ideal = run["requests"] / PACING_RATE
            run.update(
                worst_window=stats["max_starts_in_any_second"],
                rate_limited_429=stats["rate_limited"],
                achieved_over_target=round(run["achieved_rate"] / PACING_RATE, 4),
                server_rate=round(server_rate, 2),
                server_rate_over_target=round(server_rate / PACING_RATE, 4),
                server_span_s=round(span, 3),
                ideal_s=round(ideal, 3),
                run_time_over_ideal=round(run["summary_duration_s"] / ideal, 4),
                wall_over_ideal=round(run["wall_s"] / ideal, 4),
            )
            runs.append(run)
            bench.log(
                f"pacing {rep + 1}/{bench.sizes.reps}: worst window {run['worst_window']}, "
                f"achieved {run['achieved_rate']}/s, 429s {run['rate_limited_429']}, "
                f"run/ideal {run['run_time_over_ideal']}"
            )
    keys = (
        "worst_window",
        "achieved_rate",
        "achieved_over_target",
        "server_rate_over_target",
        "rate_limited_429",
        "run_time_over_ideal",
        "wall_over_ideal",
        "summary_duration_s",
        "wall_s",
    )
    stats_ = {k: spread([r[k] for r in runs]) for k in keys}
    worst = max(r["worst_window"] for r in runs)
    throttled = sum(r["rate_limited_429"] + r["throttled_429"] for r in runs)
    return {
        "title": "Pacing accuracy",
        "params": {
            "rows": rows,
            "requests_per_run": 2 * rows,
            "rate": PACING_RATE,
            "server_rate_limit": PACING_RATE,
            "concurrency": bench.concurrency,
            "reads": True,
        },
        "runs": runs,
        "stats": stats_,
        "timelines_100ms": timelines,
        "targets": [
            target(
                f"no 1-second window above {PACING_RATE} (first included)",
                value=worst,
                op="<=",
                limit=PACING_RATE,
                basis="worst",
                shown=stats_["worst_window"],
                unit="requests",
                digits=0,
            ),
            target(
                f"achieved >= 98% of {PACING_RATE}/s",
                value=stats_["achieved_over_target"]["median"],
                op=">=",
                limit=0.98,
                basis="median",
                shown=stats_["achieved_over_target"],
                unit="x target",
            ),
            target(
                "zero 429s from a server that allows exactly the rate",
                value=throttled,
                op="==",
                limit=0,
                basis="total",
                shown=stats_["rate_limited_429"],
                unit="429s",
                digits=0,
            ),
        ],
    }


# ----------------------------------------------------------------------------------------------
# 2. Throughput, rate unlimited, zero latency
# ----------------------------------------------------------------------------------------------

TOOLS = (
    "bulkpatch --no-read",
    "bulkpatch (GET+PATCH)",
    "minimal aiohttp",
    "minimal GET+PATCH",
    "floor: uvloop + journal",
    "xargs+curl",
    "wrk",
)


READS_RATIO = "with reads / minimal GET+PATCH script (end to end, rows/s)"
FLOOR_RATIO = "floor: uvloop + journal / minimal script (end to end, rows/s)"


def wrk_available() -> str | None:
    return shutil.which("wrk")


def _wrk_script(path: Path, total: int) -> Path:
    width = max(6, len(str(total)))
    path.write_text(
        f"""-- PATCH the campaigns of the benchmark's sheet in turn, a new name each time.
local n = 0
local total = {total}
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "{API_KEY}"
request = function()
  n = n + 1
  local id = ((n - 1) % total) + 1
  local path = string.format(
    "/api/scheduling/v1/orgs/org-demo/workspaces/ws-demo/campaigns/cmp-%0{width}d", id)
  return wrk.format(nil, path, nil, string.format('{{"name":"wrk %d"}}', n))
end
""",
        encoding="utf-8",
    )
    return path


def _parse_wrk(text: str) -> tuple[float, int, int]:
    """(requests/s, requests, non-2xx) from wrk's report."""
    rate = re.search(r"Requests/sec:\s*([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    if rate is None or total is None:
        raise BenchError(f"cannot read wrk's report:\n{text[-800:]}")
    failed = int(bad.group(1)) if bad else 0
    if errors:
        failed += sum(int(n) for n in re.findall(r"\d+", errors.group(0)))
    return float(rate.group(1)), int(total.group(1)), failed


def _minimal(
    bench: Bench,
    sheet: Path,
    sim: SimulatorProcess,
    rows: int,
    *,
    read: bool = False,
    journal: Path | None = None,
) -> dict[str, Any]:
    """The minimal aiohttp script: PATCH each row (``read``: GET it first).  With ``journal``,
    the floor of bulkpatch's promises: on uvloop, a line written and flushed before each PATCH
    and one with the parsed answer after it."""
    argv = [
        sys.executable,
        str(MINIMAL_CLIENT),
        str(sheet),
        "--base-url",
        sim.base_url,
        "--concurrency",
        str(bench.concurrency),
        "--api-key-env",
        KEY_ENV,
    ]
    if read:
        argv.append("--read")
    if journal is not None:
        argv += ["--journal", str(journal), "--uvloop"]
    requests = rows * 2 if read else rows
    child = run_child(argv, timeout=60 + rows / 100, env=bench.env)
    if child.returncode != 0:
        raise BenchError(f"the minimal client exited with {child.returncode}:\n{child.tail()}")
    out = child.json_stdout()
    return {
        "rows": rows,
        "wall_s": round(child.wall_s, 3),
        "cpu_s": round(child.user_s + child.sys_s, 3),
        "peak_rss_mib": round(child.max_rss_mib, 1),
        "loop_s": out["loop_seconds"],
        "requests": requests,
        "rows_per_s_end_to_end": round(rows / child.wall_s, 1),
        "rows_per_s_pool": round(rows / out["loop_seconds"], 1),
        "requests_per_s_end_to_end": round(requests / child.wall_s, 1),
    }


def _cpu(argv: list[str], bench: Bench) -> float:
    """CPU seconds of a short child process."""
    child = run_child(argv, timeout=60, env=bench.env)
    if child.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited with {child.returncode}:\n{child.tail()}")
    return child.user_s + child.sys_s


def _xargs(bench: Bench, sim: SimulatorProcess, rows: int, total: int, tag: str) -> dict[str, Any]:
    ids = write_ids(bench.path("xargs-ids.txt"), rows, total)
    headers = bench.path("curl-headers.txt")
    headers.write_text(f"X-API-Key: {API_KEY}\nContent-Type: application/json\n", encoding="utf-8")
    url = sim.base_url + "/v1/orgs/org-demo/workspaces/ws-demo/campaigns/{}"
    argv = [
        "xargs",
        "-P",
        str(bench.concurrency),
        "-I{}",
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}\\n",
        "-X",
        "PATCH",
        "-H",
        f"@{headers}",
        "--data",
        f'{{"name":"{tag} {{}}"}}',
        url,
    ]
    child = run_child(argv, timeout=60 + rows / 20, env=bench.env, stdin=ids)
    codes = child.stdout.split()
    if child.returncode != 0 or len(codes) != rows or set(codes) != {"200"}:
        raise BenchError(
            f"xargs+curl exited with {child.returncode}, answers {sorted(set(codes))[:5]} "
            f"({len(codes)} of {rows}):\n{child.tail()}"
        )
    return {
        "rows": rows,
        "wall_s": round(child.wall_s, 3),
        "cpu_s": round(child.user_s + child.sys_s, 3),
        "requests": rows,
        "rows_per_s_end_to_end": round(rows / child.wall_s, 1),
        "requests_per_s_end_to_end": round(rows / child.wall_s, 1),
    }


def _wrk(
    bench: Bench, sim: SimulatorProcess, script: Path, *, concurrency: int | None = None
) -> dict[str, Any]:
    exe = wrk_available()
    assert exe is not None
    seconds = bench.sizes.wrk_seconds
    argv = [
        exe,
        "-t1",
        f"-c{concurrency or bench.concurrency}",
        f"-d{seconds}s",
        "-s",
        str(script),
        sim.root_url,
    ]
    child = run_child(argv, timeout=seconds + 30, env=bench.env)
    if child.returncode != 0:
        raise BenchError(f"wrk exited with {child.returncode}:\n{child.tail()}\n{child.stdout}")
    rate, total, failed = _parse_wrk(child.stdout)
    if failed:
        raise BenchError(f"wrk saw {failed} failed requests:\n{child.stdout}")
    return {
        "seconds": seconds,
        "requests": total,
        "requests_per_s_end_to_end": rate,
        "rows_per_s_end_to_end": rate,
    }


def case_throughput(bench: Bench) -> dict[str, Any]:
    rows = bench.sizes.throughput_rows
    xrows = min(bench.sizes.xargs_rows, rows)
    have_wrk = wrk_available() is not None
    tools = [t for t in TOOLS if have_wrk or t != "wrk"]
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    with bench.sim("--generate", str(rows), "--status", "paused") as sim:
        # Warm-up (not measured): every campaign is generated on first use; do it now so that
        # no contender pays for it.
        warm = write_name_sheet(bench.path("warm.csv"), rows, "warm")
        _minimal(bench, warm, sim, rows)
        script = _wrk_script(bench.path("patch.lua"), rows)
        for rep in range(bench.sizes.reps):
            # Side by side: every contender once per repetition, the order rotating.
            order = tools[rep % len(tools) :] + tools[: rep % len(tools)]
            for tool in order:
                sim.reset_stats()
                if tool == "bulkpatch --no-read":
                    sheet = write_name_sheet(bench.path(f"tp-n{rep}.csv"), rows, f"tp n{rep}")
                    run = bench.bulkpatch_run(sheet, sim, rows=rows, no_read=True)
                    _server_check(sim, patches=rows)
                elif tool == "bulkpatch (GET+PATCH)":
                    sheet = write_name_sheet(bench.path(f"tp-g{rep}.csv"), rows, f"tp g{rep}")
                    run = bench.bulkpatch_run(sheet, sim, rows=rows)
                    _server_check(sim, patches=rows, gets=rows)
                elif tool == "minimal aiohttp":
                    sheet = write_name_sheet(bench.path(f"tp-m{rep}.csv"), rows, f"tp m{rep}")
                    run = _minimal(bench, sheet, sim, rows)
                    _server_check(sim, patches=rows)
                elif tool == "minimal GET+PATCH":
                    sheet = write_name_sheet(bench.path(f"tp-r{rep}.csv"), rows, f"tp r{rep}")
                    run = _minimal(bench, sheet, sim, rows, read=True)
                    _server_check(sim, patches=rows, gets=rows)
                elif tool == "floor: uvloop + journal":
                    sheet = write_name_sheet(bench.path(f"tp-j{rep}.csv"), rows, f"tp j{rep}")
                    run = _minimal(bench, sheet, sim, rows, journal=bench.path(f"tp-j{rep}.jsonl"))
                    _server_check(sim, patches=rows)
                elif tool == "xargs+curl":
                    run = _xargs(bench, sim, xrows, rows, f"tp x{rep}")
                    _server_check(sim, patches=xrows)
                else:
                    run = _wrk(bench, sim, script)
                    _wrk_check(sim, run["requests"], bench.concurrency)
                run["rep"] = rep
                runs[tool].append(run)
                bench.log(
                    f"throughput {rep + 1}/{bench.sizes.reps} {tool}: "
                    f"{run['rows_per_s_end_to_end']} rows/s, "
                    f"{run['requests_per_s_end_to_end']} requests/s"
                )
        # Where the CPU goes: one more run of each bulkpatch contender, under cProfile.
        # A run's start-up: what `run` imports (`--version` and `--help` import far less).
        startup = statistics.median(
            _cpu([*BULKPATCH[:1], "-c", RUN_IMPORTS], bench) for _ in range(bench.sizes.reps)
        )
        profiles: dict[str, dict[str, Any]] = {}
        for tool, no_read in ((TOOLS[0], True), (TOOLS[1], False)):
            sheet = write_name_sheet(bench.path(f"tp-p{no_read:d}.csv"), rows, f"tp p{no_read:d}")
            dump = bench.path(f"profile-{no_read:d}.prof")
            sim.reset_stats()
            bench.bulkpatch_run(sheet, sim, rows=rows, no_read=no_read, profile=dump)
            cpu = statistics.median(r["cpu_s"] for r in runs[tool])
            profiles[tool] = summarize(dump, rows=rows, cpu_s=cpu, startup_cpu_s=startup)
            bench.log(f"throughput: profiled {tool}")
    per_tool: dict[str, dict[str, Any]] = {}
    for tool, tool_runs in runs.items():
        keys = [
            k
            for k in (
                "rows_per_s_end_to_end",
                "rows_per_s_pool",
                "requests_per_s_end_to_end",
                "wall_s",
                "cpu_s",
                "peak_rss_mib",
            )
            if k in tool_runs[0]
        ]
        per_tool[tool] = {k: spread([r[k] for r in tool_runs], 1) for k in keys}
    ratios: dict[str, dict[str, float]] = {}

    def ratio(name: str, num: str, den: str, key_num: str, key_den: str) -> None:
        if num not in runs or den not in runs:
            return
        values = [
            a[key_num] / b[key_den] for a, b in zip(runs[num], runs[den], strict=True) if b[key_den]
        ]
        ratios[name] = spread(values)

    noread, reads, minimal, minimal_reads, floor = TOOLS[:5]
    e2e, pool, req = "rows_per_s_end_to_end", "rows_per_s_pool", "requests_per_s_end_to_end"
    ratio("--no-read / minimal script (end to end, rows/s)", noread, minimal, e2e, e2e)
    ratio("--no-read / minimal script (pool vs request loop, rows/s)", noread, minimal, pool, pool)
    ratio(READS_RATIO, reads, minimal_reads, e2e, e2e)
    ratio(
        "with reads / minimal GET+PATCH script (pool vs request loop, rows/s)",
        reads,
        minimal_reads,
        pool,
        pool,
    )
    # The floor of bulkpatch's promises (its event loop and a write-ahead journal, nothing
    # else) against the bare script: what is left below 0.8x pays for everything else.
    ratio(FLOOR_RATIO, floor, minimal, e2e, e2e)
    ratio("--no-read / floor (end to end, rows/s)", noread, floor, e2e, e2e)
    ratio("--no-read / xargs+curl (rows/s)", noread, "xargs+curl", e2e, e2e)
    ratio("with reads / --no-read (rows/s)", reads, noread, e2e, e2e)
    for tool in tools[:-1] if have_wrk else ():
        ratio(f"{tool} / wrk ceiling (requests/s)", tool, "wrk", req, req)
    targets = [
        target(
            "--no-read rows/s >= 0.8x a minimal aiohttp script",
            value=ratios["--no-read / minimal script (end to end, rows/s)"]["median"],
            op=">=",
            limit=0.8,
            basis="median",
            shown=ratios["--no-read / minimal script (end to end, rows/s)"],
            unit="x",
        ),
        target(
            "with reads rows/s >= 0.8x a minimal GET+PATCH script",
            value=ratios[READS_RATIO]["median"],
            op=">=",
            limit=0.8,
            basis="median",
            shown=ratios[READS_RATIO],
            unit="x",
        ),
        target(
            "--no-read rows/s >= 10x xargs -P with curl",
            value=ratios["--no-read / xargs+curl (rows/s)"]["median"],
            op=">=",
            limit=10,
            basis="median",
            shown=ratios["--no-read / xargs+curl (rows/s)"],
            unit="x",
        ),
    ]
    return {
        "title": "Throughput, rate unlimited, zero latency",
        "params": {
            "rows": rows,
            "xargs_rows": xrows,
            "wrk_seconds": bench.sizes.wrk_seconds if have_wrk else None,
            "concurrency": bench.concurrency,
            "wrk": "available" if have_wrk else "not available",
        },
        "runs": runs,
        "stats": per_tool,
        "ratios": ratios,
        "profiles": profiles,
        "targets": targets,
    }


# ----------------------------------------------------------------------------------------------
# 3. Latency-bound
# ----------------------------------------------------------------------------------------------


def _latency_run(
    bench: Bench, sim: SimulatorProcess, rows: int, tag: str, ideal: float
) -> dict[str, Any]:
    sheet = write_name_sheet(bench.path(f"latency-{tag}.csv"), rows, f"lat {tag}")
    sim.reset_stats()
    run = bench.bulkpatch_run(sheet, sim, rows=rows, concurrency=LATENCY_CONCURRENCY, no_read=True)
    stats = _server_check(sim, patches=rows)
    # The server is busy from the first start to the last answer, one latency later.
    span = _span(_starts(sim)) + LATENCY_MS / 1000.0
    server_rate = rows / span
    run.update(
        achieved_over_ideal=round(run["achieved_rate"] / ideal, 4),
        server_rate=round(server_rate, 2),
        server_rate_over_ideal=round(server_rate / ideal, 4),
        server_span_s=round(span, 3),
        peak_in_flight=stats["peak_in_flight"],
    )
    return run


def case_latency(bench: Bench) -> dict[str, Any]:
    """The target's setting (a fixed 100 ms), with two references: wrk at the same setting (what
    the simulator itself can serve), and bulkpatch against a latency of 100 ms +- 20 ms (the
    same mean; the jitter keeps the 50 requests from falling due together)."""
    rows = bench.sizes.latency_rows
    jitter_rows = max(rows // 2, 1)
    ideal = LATENCY_CONCURRENCY / (LATENCY_MS / 1000.0)
    have_wrk = wrk_available() is not None
    runs: list[dict[str, Any]] = []
    wrk_runs: list[dict[str, Any]] = []
    jitter_runs: list[dict[str, Any]] = []
    common = ["--status", "paused", "--latency-ms", str(LATENCY_MS)]
    with (
        bench.sim("--generate", str(rows), *common) as sim,
        bench.sim("--generate", str(jitter_rows), *common, "--latency-jitter-ms", "20") as jsim,
    ):
        script = _wrk_script(bench.path("latency.lua"), rows)
        for rep in range(bench.sizes.reps):
            run = _latency_run(bench, sim, rows, f"r{rep}", ideal)
            runs.append(run)
            line = (
                f"latency {rep + 1}/{bench.sizes.reps}: {run['achieved_rate']} requests/s "
                f"({run['achieved_over_ideal']} of {ideal:g})"
            )
            if have_wrk:
                sim.reset_stats()
                ceiling = _wrk(bench, sim, script, concurrency=LATENCY_CONCURRENCY)
                _wrk_check(sim, ceiling["requests"], LATENCY_CONCURRENCY)
                ceiling["over_ideal"] = round(ceiling["requests_per_s_end_to_end"] / ideal, 4)
                ceiling["bulkpatch_over_wrk"] = round(
                    run["achieved_rate"] / ceiling["requests_per_s_end_to_end"], 4
                )
                wrk_runs.append(ceiling)
                line += f"; wrk {ceiling['requests_per_s_end_to_end']}"
            jittered = _latency_run(bench, jsim, jitter_rows, f"j{rep}", ideal)
            jitter_runs.append(jittered)
            bench.log(line + f"; with jitter {jittered['achieved_rate']} requests/s")
    keys = (
        "achieved_rate",
        "achieved_over_ideal",
        "server_rate",
        "server_rate_over_ideal",
        "requests_per_s_end_to_end",
        "summary_duration_s",
        "wall_s",
        "peak_in_flight",
    )
    stats_ = {k: spread([r[k] for r in runs]) for k in keys}
    references: dict[str, dict[str, float]] = {
        "jitter achieved_rate": spread([r["achieved_rate"] for r in jitter_runs]),
        "jitter achieved_over_ideal": spread([r["achieved_over_ideal"] for r in jitter_runs]),
    }
    if wrk_runs:
        references["wrk requests_per_s"] = spread(
            [r["requests_per_s_end_to_end"] for r in wrk_runs]
        )
        references["wrk over_ideal"] = spread([r["over_ideal"] for r in wrk_runs])
        references["bulkpatch over_wrk"] = spread([r["bulkpatch_over_wrk"] for r in wrk_runs])
    return {
        "title": "Latency-bound",
        "params": {
            "rows": rows,
            "latency_ms": LATENCY_MS,
            "concurrency": LATENCY_CONCURRENCY,
            "no_read": True,
            "ideal_requests_per_s": ideal,
            "wrk": "available" if have_wrk else "not available",
            "wrk_seconds": bench.sizes.wrk_seconds if have_wrk else None,
            "jitter_ms": 20,
            "jitter_rows": jitter_rows,
        },
        "runs": runs,
        "wrk_runs": wrk_runs,
        "jitter_runs": jitter_runs,
        "stats": stats_,
        "references": references,
        "targets": [
            target(
                f"{LATENCY_MS} ms latency, concurrency {LATENCY_CONCURRENCY}: "
                f">= 95% of {ideal:g} requests/s",
                value=stats_["achieved_over_ideal"]["median"],
                op=">=",
                limit=0.95,
                basis="median",
                shown=stats_["achieved_over_ideal"],
                unit="x ideal",
            )
        ],
    }


# ----------------------------------------------------------------------------------------------
# 4. validate
# ----------------------------------------------------------------------------------------------


def case_validate(bench: Bench) -> dict[str, Any]:
    sizes = bench.sizes.validate_rows
    sheets = {n: write_validate_sheet(bench.path(f"validate-{n}.csv"), n) for n in sizes}
    runs: dict[str, list[dict[str, Any]]] = {str(n): [] for n in sizes}
    for rep in range(bench.sizes.reps):
        for n in sizes:
            child: ChildResult = run_child(
                [*BULKPATCH, "validate", str(sheets[n]), "--quiet"], timeout=300, env=bench.env
            )
            if child.returncode != 0:
                raise BenchError(f"validate exited with {child.returncode}:\n{child.tail()}")
            expected = f"{n:,} rows: {n:,} valid, 0 invalid"
            if expected not in child.stdout + child.stderr:
                raise BenchError(f"validate did not report {expected!r}:\n{child.tail()}")
            run = {
                "rows": n,
                "file_mib": round(sheets[n].stat().st_size / 2**20, 1),
                "wall_s": round(child.wall_s, 3),
                "cpu_s": round(child.user_s + child.sys_s, 3),
                "peak_rss_mib": round(child.max_rss_mib, 1),
                "rows_per_s": round(n / child.wall_s, 1),
            }
            if n == max(sizes):  # beside it, in the same repetition: the bare read, a run
                bare = bare_read(sheets[n], bench.env)
                run["bare_read_s"] = bare["wall_s"]
                run["bare_read_rss_mib"] = bare["peak_rss_mib"]
                run["first_request_s"] = first_request_s(bench, sheets[n], KEY_ENV)
            runs[str(n)].append(run)
            bench.log(
                f"validate {rep + 1}/{bench.sizes.reps} {n:,} rows: {run['wall_s']} s, "
                f"{run['rows_per_s']:,.0f} rows/s, {run['peak_rss_mib']} MiB"
                + (
                    f"; bare read {run['bare_read_s']} s, first request {run['first_request_s']} s"
                    if "bare_read_s" in run
                    else ""
                )
            )
    for path in sheets.values():
        path.unlink()
    stats_ = {
        n: {k: spread([r[k] for r in rs], 2) for k in ("wall_s", "rows_per_s", "peak_rss_mib")}
        for n, rs in runs.items()
    }
    largest = str(max(sizes))
    big = runs[largest]
    for k in ("bare_read_s", "first_request_s"):
        stats_[largest][k] = spread([r[k] for r in big], 3)
    bare_s = statistics.median(r["bare_read_s"] for r in big)
    ratios = {
        "validate_over_bare_read": round(stats_[largest]["wall_s"]["median"] / bare_s, 2),
        "first_request_over_bare_read": round(
            stats_[largest]["first_request_s"]["median"] / bare_s, 2
        ),
    }
    return {
        "title": "bulkpatch validate",
        "params": {"rows": list(sizes)},
        "runs": runs,
        "stats": stats_,
        "ratios": ratios,
        "targets": [
            target(
                f"validate on a {int(largest):,}-row CSV: <= 6x a bare polars.read_csv of it",
                value=ratios["validate_over_bare_read"],
                op="<=",
                limit=6.0,
                basis="median",
                unit="x",
                digits=2,
            ),
            target(
                f"first request of a run of a {int(largest):,}-row CSV: <= 6x a bare read of it",
                value=ratios["first_request_over_bare_read"],
                op="<=",
                limit=6.0,
                basis="median",
                unit="x",
                digits=2,
            ),
            target(
                f"validate on a {int(largest):,}-row CSV: peak memory <= 300 MiB",
                value=max(r["peak_rss_mib"] for r in big),
                op="<=",
                limit=300.0,
                basis="worst",
                shown=stats_[largest]["peak_rss_mib"],
                unit="MiB",
                digits=0,
            ),
            target(
                f"validate on a {int(largest):,}-row CSV: <= 10 s",
                value=max(r["wall_s"] for r in big),
                op="<=",
                limit=10.0,
                basis="worst",
                shown=stats_[largest]["wall_s"],
                unit="s",
                digits=2,
            ),
            target(
                f"validate on a {int(largest):,}-row CSV: peak memory <= 1 GiB",
                value=max(r["peak_rss_mib"] for r in big),
                op="<=",
                limit=1024.0,
                basis="worst",
                shown=stats_[largest]["peak_rss_mib"],
                unit="MiB",
                digits=0,
            ),
        ],
    }


# ----------------------------------------------------------------------------------------------
# 5. Memory of run
# ----------------------------------------------------------------------------------------------


def case_memory(bench: Bench) -> dict[str, Any]:
    small, large = bench.sizes.memory_rows
    seed = write_name_sheet(bench.path("memory-seed.csv"), large, "seed")
    runs: dict[str, list[dict[str, Any]]] = {str(small): [], str(large): []}
    with bench.sim("--campaigns", str(seed), "--status", "paused") as sim:
        for rep in range(bench.sizes.reps):
            for n in (small, large):
                sheet = write_name_sheet(
                    bench.path(f"memory-{n}-{rep}.csv"), n, f"mem r{rep}", total=large
                )
                sim.reset_stats()
                run = bench.bulkpatch_run(sheet, sim, rows=n, no_read=True)
                _server_check(sim, patches=n)
                sheet.unlink()
                runs[str(n)].append(run)
                bench.log(
                    f"memory {rep + 1}/{bench.sizes.reps} {n:,} rows: peak RSS "
                    f"{run['peak_rss_mib']} MiB, {run['rows_per_s_end_to_end']} rows/s"
                )
    rss = {n: [r["peak_rss_mib"] for r in rs] for n, rs in runs.items()}
    per_rep = [b / a for a, b in zip(rss[str(small)], rss[str(large)], strict=True)]
    stats_ = {
        n: {
            k: spread([r[k] for r in rs], 2)
            for k in ("peak_rss_mib", "wall_s", "rows_per_s_end_to_end", "rows_per_s_pool")
        }
        for n, rs in runs.items()
    }
    ratio = statistics.median(rss[str(large)]) / statistics.median(rss[str(small)])
    return {
        "title": "Memory of bulkpatch run",
        "params": {
            "rows": [small, large],
            "no_read": True,
            "rate": "unlimited",
            "concurrency": bench.concurrency,
            "first_id": campaign_id(1, large),
        },
        "runs": runs,
        "stats": stats_,
        "ratio": {"median_over_median": round(ratio, 3), "per_repetition": spread(per_rep)},
        "targets": [
            target(
                f"a {large:,}-row run peaks under 1.5x a {small:,}-row run",
                value=round(ratio, 3),
                op="<",
                limit=1.5,
                basis="median",
                shown=spread(per_rep),
                unit="x",
            )
        ],
    }


def case_shared_rate(bench: Bench) -> dict[str, Any]:
    """6. Several processes sharing one --rate through Redis (tests/benchmarks/shared_rate.py)."""
    from .shared_rate import case_shared_rate as case

    return case(bench)


CASES: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "pacing": case_pacing,
    "throughput": case_throughput,
    "latency": case_latency,
    "validate": case_validate,
    "memory": case_memory,
    "shared_rate": case_shared_rate,
    "startup": case_startup,
}
