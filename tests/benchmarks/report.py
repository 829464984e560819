"""The benchmark's outputs: ``benchmark.json`` (everything), ``benchmark.md`` (tables) and
``benchmark-pacing.png`` (requests started per 100 ms in the pacing case)."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

JSON_NAME = "benchmark.json"
MD_NAME = "benchmark.md"
PNG_NAME = "benchmark-pacing.png"
PACKAGES = ("bulkpatch", "aiohttp", "polars", "pydantic")


def _first_line(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text()
        match = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', text, re.M)
        if match:
            return f"{match.group(1)} (kernel {platform.release()})"
    except OSError:
        pass
    return platform.platform()


def _git(root: Path) -> str | None:
    commit = _first_line(["git", "-C", str(root), "rev-parse", "--short", "HEAD"])
    if commit is None:
        return None
    status = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "src"],
        capture_output=True,
        text=True,
        check=False,
    )
    return commit + (" (src modified)" if status.stdout.strip() else "")


def machine(root: Path) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    wrk = _first_line(["wrk", "--version"])
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": _os_name(),
        "python": platform.python_version(),
        "packages": versions,
        "tools": {
            "wrk": wrk.split(" Copyright")[0] if wrk else "not available",
            "curl": " ".join((_first_line(["curl", "--version"]) or "").split()[:2])
            or "not available",
            "xargs": _first_line(["xargs", "--version"]) or "not available",
        },
        "commit": _git(root),
    }


# ----------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 100:
            return f"{int(value):,}"
        return f"{value:,.{digits}f}"
    return str(value)


def _spread(s: dict[str, float] | None, digits: int = 1) -> str:
    if not s:
        return "–"
    if s["n"] == 1 or s["min"] == s["max"]:
        return _num(s["median"], digits)
    return f"{_num(s['median'], digits)} ({_num(s['min'], digits)}–{_num(s['max'], digits)})"


def _met(flag: bool) -> str:
    return "**met**" if flag else "**not met**"


def _table(header: list[str], rows: list[list[str]], *, numbers: bool = True) -> list[str]:
    right = ["---" if i == 0 or not numbers else "---:" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(right) + " |"]
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    return out


def _targets_table(targets: list[dict[str, Any]]) -> list[str]:
    rows = []
    for t in targets:
        digits = t.get("digits", 3)
        limit = f"{t['op']} {_num(t['limit'], digits) if t['limit'] else 0} {t['unit']}".strip()
        basis = {"median": "median", "worst": "worst run", "total": "all runs"}[t["basis"]]
        rows.append(
            [
                t["spec"],
                _spread(t["spread"], digits),
                f"{_num(t['value'], digits)} ({basis})",
                limit,
                _met(t["met"]),
            ]
        )
    return _table(
        ["performance target", "measured: median (min–max)", "decided on", "limit", "result"],
        rows,
    )


def _pacing(case: dict[str, Any]) -> list[str]:
    p, s = case["params"], case["stats"]
    lines = [
        f"`bulkpatch run --rate {p['rate']}` (GET + PATCH per row: {p['rows']:,} rows, "
        f"{p['requests_per_run']:,} requests) against a simulator with `--rate-limit "
        f"{p['server_rate_limit']}`; concurrency {p['concurrency']}. The worst 1-second window "
        "and the 429s are the simulator's count; the achieved rate is `summary.json`'s "
        "(requests / run duration, the sheet check included); the server-side rate counts the "
        "span from the first to the last request start.",
        "",
    ]
    rows = [
        ["worst 1-second window (requests)", _spread(s["worst_window"], 0)],
        ["achieved rate (requests/s, summary.json)", _spread(s["achieved_rate"], 1)],
        ["achieved / target", _spread(s["achieved_over_target"], 3)],
        [
            "server-side rate / target (first to last start)",
            _spread(s["server_rate_over_target"], 3),
        ],
        ["429s", _spread(s["rate_limited_429"], 0)],
        ["run time / ideal (ideal = requests / rate)", _spread(s["run_time_over_ideal"], 3)],
        [
            "process wall time / ideal (start-up and reports included)",
            _spread(s["wall_over_ideal"], 3),
        ],
        ["run time (s, summary.json)", _spread(s["summary_duration_s"], 2)],
    ]
    lines += _table(["figure", "median (min–max)"], rows)
    lines += ["", f"![requests started per 100 ms]({PNG_NAME})", ""]
    return lines


def _throughput(case: dict[str, Any]) -> list[str]:
    p, s = case["params"], case["stats"]
    wrk_line = (
        f"`wrk -t1 -c{p['concurrency']} -d{p['wrk_seconds']}s` with a Lua script that PATCHes "
        "the same campaigns in turn (the server's ceiling)"
        if p["wrk"] == "available"
        else "wrk: **not available** on this machine (install it with `apt-get install wrk`)"
    )
    lines = [
        f"{p['rows']:,} rows renaming campaigns (a top-level `name` change), concurrency "
        f"**{p['concurrency']}** for every contender, rate unlimited, no server latency, the "
        "simulator in its own process. The contenders run one after the other in each "
        "repetition (order rotating), each with names of its own so every PATCH changes "
        "something; the simulator's counters are reset between them and checked after each. "
        f"xargs + curl (one `curl` per PATCH, `xargs -P {p['concurrency']}`) does the first "
        f"{p['xargs_rows']:,} rows only; {wrk_line}. The minimal scripts "
        "(`tests/benchmarks/minimal_client.py`) are one aiohttp session and a pool of tasks "
        "with nothing else: *minimal aiohttp* PATCHes each row as given; *minimal GET+PATCH* "
        "first GETs the campaign and parses the answer, then PATCHes. *floor: uvloop + journal* "
        "is the floor of bulkpatch's promises: the first script on uvloop (bulkpatch's event "
        "loop) keeping the least a tool that can resume after a crash must keep, a line "
        "written and flushed to the operating system before each PATCH and the parsed answer "
        "in a second line after it. What bulkpatch costs above the floor pays for everything "
        "else it does (start-up, checking the sheet, planning, pacing, retries, the reports).",
        "",
        "*End to end* = rows / wall time of the process (start-up, reading and checking the "
        "sheet, reports included). *Pool* = rows / `summary.json` `duration_s` for bulkpatch, "
        "rows / the request loop's time for the minimal script.",
        "",
    ]
    rows = []
    for tool, st in s.items():
        rows.append(
            [
                tool,
                _spread(st.get("rows_per_s_end_to_end"), 0) if tool != "wrk" else "–",
                _spread(st.get("rows_per_s_pool"), 0),
                _spread(st.get("requests_per_s_end_to_end"), 0),
                _spread(st.get("wall_s"), 2) if tool != "wrk" else "–",
                _spread(st.get("cpu_s"), 2),
                _spread(st.get("peak_rss_mib"), 0),
            ]
        )
    lines += _table(
        [
            "contender",
            "rows/s end to end",
            "rows/s pool",
            "requests/s",
            "wall s",
            "CPU s",
            "peak RSS MiB",
        ],
        rows,
    )
    lines += ["", "Ratios (per repetition, then median and range):", ""]
    lines += _table(
        ["ratio", "median (min–max)"],
        [[name, _spread(r, 3)] for name, r in case["ratios"].items()],
    )
    lines.append("")
    lines += _profiles(case, s)
    return lines


def _profiles(case: dict[str, Any], stats: dict[str, Any]) -> list[str]:
    profiles: dict[str, dict[str, Any]] = case.get("profiles") or {}
    if not profiles:
        return []
    minimal = {
        "bulkpatch --no-read": "minimal aiohttp",
        "bulkpatch (GET+PATCH)": "minimal GET+PATCH",
    }
    lines = [
        "### Where the CPU goes",
        "",
        "One more run of each bulkpatch contender under cProfile (`tests/benchmarks/profile.py`), "
        "its time summed by stage; waiting in the event loop for answers is left out. cProfile "
        "slows every Python call, so the profiled run is slower than a real one and call-heavy "
        "code looks dearer: the shares are estimates. *µs/row* takes the start-up as measured "
        "(CPU of a process importing what `bulkpatch run` imports, per row of the run) and "
        "shares the rest of the unprofiled runs' CPU time (median) out by the profile. For "
        "scale, the minimal script's CPU per row is given under each table.",
        "",
    ]
    for tool, prof in profiles.items():
        rows = prof["rows"]
        lines += [
            f"**{tool}** ({rows:,} rows; profiled busy time {prof['profiled_busy_s']:.2f} s, "
            f"unprofiled CPU {prof['unprofiled_cpu_s']:.2f} s, of which start-up "
            f"{prof['startup_cpu_s']:.2f} s):",
            "",
        ]
        lines += _table(
            ["stage", "share", "µs/row (est.)"],
            [
                [st["stage"], f"{st['share'] * 100:.1f}%", _num(st["us_per_row"], 1)]
                for st in prof["stages"]
            ],
        )
        peer = minimal.get(tool)
        cpu = stats.get(peer, {}).get("cpu_s") if peer else None
        if cpu:
            lines += [
                "",
                f"The {peer} script: {cpu['median'] / rows * 1e6:,.1f} µs of CPU per row "
                "(start-up included).",
            ]
        lines += ["", "Functions with the most own time:", ""]
        lines += _table(
            ["function", "calls per row", "share"],
            [
                [f"`{t['function']}`", _num(t["calls_per_row"], 2), f"{t['share'] * 100:.1f}%"]
                for t in prof["top_own_time"]
            ],
        )
        lines.append("")
    return lines


def _latency(case: dict[str, Any]) -> list[str]:
    p, s = case["params"], case["stats"]
    lines = [
        f"`bulkpatch run --no-read --concurrency {p['concurrency']} --rate unlimited`, "
        f"{p['rows']:,} rows, simulator `--latency-ms {p['latency_ms']}`. Little's law: "
        f"{p['concurrency']} in flight / {p['latency_ms'] / 1000:g} s = "
        f"{p['ideal_requests_per_s']:g} requests/s at best.",
        "",
    ]
    rows = [
        ["achieved requests/s (summary.json)", _spread(s["achieved_rate"], 1)],
        ["achieved / ideal", _spread(s["achieved_over_ideal"], 3)],
        ["server-side requests/s (first start to last answer)", _spread(s["server_rate"], 1)],
        ["server-side / ideal", _spread(s["server_rate_over_ideal"], 3)],
        ["requests/s end to end (process wall time)", _spread(s["requests_per_s_end_to_end"], 1)],
        ["peak requests in flight at the server", _spread(s["peak_in_flight"], 0)],
        ["run time (s, summary.json)", _spread(s["summary_duration_s"], 2)],
    ]
    ref = case.get("references", {})
    if "wrk requests_per_s" in ref:
        rows += [
            [
                f"reference: wrk -c{p['concurrency']} against the same simulator (requests/s)",
                _spread(ref["wrk requests_per_s"], 1),
            ],
            [
                "reference: wrk / ideal (what the simulator can serve)",
                _spread(ref["wrk over_ideal"], 3),
            ],
            ["bulkpatch / wrk", _spread(ref["bulkpatch over_wrk"], 3)],
        ]
    if "jitter achieved_rate" in ref:
        rows += [
            [
                f"reference: bulkpatch, latency {p['latency_ms']} ± {p['jitter_ms']} ms "
                f"({p['jitter_rows']:,} rows), requests/s",
                _spread(ref["jitter achieved_rate"], 1),
            ],
            [
                "reference: with jitter, achieved / ideal",
                _spread(ref["jitter achieved_over_ideal"], 3),
            ],
        ]
    lines += _table(["figure", "median (min–max)"], rows)
    lines += [
        "",
        "The references are not the target's setting; they show where the limit lies. With a "
        "fixed latency the answers to the 50 requests fall due together and the simulator's one "
        "event loop serves them one after another, so even wrk cannot reach the ideal; a "
        "jitter of the same mean spreads them out.",
        "",
    ]
    return lines


def _validate(case: dict[str, Any]) -> list[str]:
    lines = [
        "`bulkpatch validate SHEET --quiet` on generated CSVs (keys, a name, a time window, "
        "days in several spellings, an `expect.status` guard on half the rows, a note column; "
        "every row valid). Peak RSS of the process from `wait4`.",
        "",
    ]
    rows = []
    for n, st in case["stats"].items():
        size = case["runs"][n][0]["file_mib"]
        rows.append(
            [
                f"{int(n):,} rows ({size:g} MiB)",
                _spread(st["wall_s"], 2),
                _spread(st["rows_per_s"], 0),
                _spread(st["peak_rss_mib"], 0),
            ]
        )
    lines += _table(["sheet", "wall s", "rows/s", "peak RSS MiB"], rows)
    lines.append("")
    return lines


def _memory(case: dict[str, Any]) -> list[str]:
    p = case["params"]
    lines = [
        f"`bulkpatch run --no-read --rate unlimited --concurrency {p['concurrency']}` against a "
        "simulator in its own process seeded from the larger sheet "
        "(`--campaigns SHEET --status paused`). Peak RSS of the bulkpatch process from `wait4`.",
        "",
    ]
    rows = []
    for n, st in case["stats"].items():
        rows.append(
            [
                f"{int(n):,} rows",
                _spread(st["peak_rss_mib"], 1),
                _spread(st["wall_s"], 2),
                _spread(st["rows_per_s_end_to_end"], 0),
                _spread(st["rows_per_s_pool"], 0),
            ]
        )
    lines += _table(["sheet", "peak RSS MiB", "wall s", "rows/s end to end", "rows/s pool"], rows)
    r = case["ratio"]
    lines += [
        "",
        f"Peak RSS ratio, larger / smaller: {r['median_over_median']:.3f} (median over median); "
        f"per repetition {_spread(r['per_repetition'], 3)}.",
        "",
    ]
    return lines


def _shared_rate(case: dict[str, Any]) -> list[str]:
    p, s = case["params"], case["stats"]
    lines = [
        f"{p['processes']} processes (`{p['command']}`), each with its own pacer at `--rate "
        f"{p['rate']}`, against one simulator with `--rate-limit {p['server_rate_limit']}`, "
        f"{p['requests_per_run']:,} requests per run; with the store (`{p['store_args']}`, "
        "one Redis on loopback) they share the one rate, without it each paces alone. Worst "
        "window and 429s are the simulator's count; the rate is requests started (429s "
        "included) from the first to the last start it saw.",
        "",
    ]
    with_store, alone = s["store"], s["no_store"]
    rows = [
        [
            "worst 1-second window (requests)",
            _spread(with_store["worst_window"], 0),
            _spread(alone["worst_window"], 0),
        ],
        ["429s", _spread(with_store["rate_limited_429"], 0), _spread(alone["rate_limited_429"], 0)],
        [
            "achieved rate (requests/s)",
            _spread(with_store["achieved_rate"], 1),
            _spread(alone["achieved_rate"], 1),
        ],
        [
            "achieved / target",
            _spread(with_store["achieved_over_target"], 3),
            _spread(alone["achieved_over_target"], 3),
        ],
        ["store round trips per request", _spread(with_store["store_calls_per_request"], 3), "–"],
    ]
    if "missed_slots" in with_store:
        rows.append(["slots given up (late wake-ups)", _spread(with_store["missed_slots"], 0), "–"])
    lines += _table(["figure", "with the store", "without (each at the full rate)"], rows)
    lines.append("")
    return lines


def _startup(case: dict[str, Any]) -> list[str]:
    calls = case["params"]["calls_per_repetition"]
    lines = [
        f"Wall time from the fork to the exit of each command (the median of {calls} calls per "
        "repetition; the spread is over the repetitions), the bare interpreter and an "
        "interpreter that imports only click beside them, the order rotating.",
        "",
    ]
    floor = next(iter(case["stats"].values()))["median"]
    rows = [
        [name, _spread(st, 3), f"{st['median'] / floor:.2f}x"] for name, st in case["stats"].items()
    ]
    lines += _table(["command", "wall s", "/ python -c pass"], rows)
    lines.append("")
    return lines


_RENDER = {
    "pacing": _pacing,
    "throughput": _throughput,
    "latency": _latency,
    "validate": _validate,
    "memory": _memory,
    "shared_rate": _shared_rate,
    "startup": _startup,
}


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    mode = data["mode"]
    lines = [
        "# bulkpatch benchmark",
        "",
        f"Mode: **{mode}**"
        + (
            " (small sizes so the whole run takes under a minute: the figures show the "
            "benchmark works, not what the performance targets are about)"
            if mode == "quick"
            else ""
        )
        + f" · date {data['date']} · {data['repetitions']} repetition(s) per case · "
        f"total {data['duration_s']:.0f} s · commit {m['commit'] or 'unknown'}",
        "",
        f"Run it: `{data['command']}`",
        "",
        "## Machine",
        "",
    ]
    pk = m["packages"]
    lines += _table(
        ["", ""],
        [
            ["CPU", f"{m['cpu']}, {m['cores']} cores"],
            ["memory", f"{m['memory_gib']} GiB"],
            ["OS", m["os"]],
            ["Python", m["python"]],
            ["packages", ", ".join(f"{k} {v or '–'}" for k, v in pk.items())],
            ["tools", ", ".join(f"{v}" for v in m["tools"].values())],
        ],
        numbers=False,
    )
    lines += ["", "## Performance targets", ""]
    all_targets = [t for case in data["cases"].values() for t in case.get("targets", [])]
    lines += _targets_table(all_targets)
    met = sum(t["met"] for t in all_targets)
    lines += [
        "",
        f"{met} of {len(all_targets)} targets met. Limits that must hold every time are decided "
        "on the worst run; rates and ratios on the median of the runs.",
        "",
    ]
    for name, case in data["cases"].items():
        number = list(_RENDER).index(name) + 1
        lines += [f"## {number}. {case['title']}", ""]
        if "error" in case:
            lines += [f"**Not measured**: {case['error']}", ""]
            continue
        lines += _RENDER[name](case)
        lines += _targets_table(case["targets"])
        lines.append("")
        load = case.get("machine_load")
        if load:
            lines += [
                f"Case time {load['wall_s']:g} s; other processes on the machine used "
                f"{load['other_processes_cpu_s']:g} CPU s meanwhile "
                f"({load['other_processes_cores']:.2f} of a core on average).",
                "",
            ]
    if data.get("notes"):
        lines += ["## Notes", "", data["notes"].strip(), ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# The chart
# ----------------------------------------------------------------------------------------------


def pacing_chart(case: dict[str, Any], path: Path, *, mode: str) -> bool:
    """Requests started per 100 ms in each pacing run, with the target; False without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rate = case["params"]["rate"]
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    for i, counts in enumerate(case["timelines_100ms"]):
        xs = [k / 10 for k in range(len(counts))]
        ax.step(xs, counts, where="post", linewidth=0.9, alpha=0.8, label=f"run {i + 1}")
    ax.axhline(rate / 10, color="black", linestyle="--", linewidth=1.2, label=f"target {rate}/s")
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("requests started per 100 ms")
    ax.set_ylim(
        0, max(rate / 10 * 1.6, 1 + max((max(c) for c in case["timelines_100ms"] if c), default=0))
    )
    ax.set_title(f"bulkpatch run --rate {rate} against a simulator allowing {rate}/s ({mode} mode)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write_all(data: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    pacing = data["cases"].get("pacing")
    chart = out / PNG_NAME
    if pacing and "error" not in pacing and pacing_chart(pacing, chart, mode=data["mode"]):
        data["chart"] = PNG_NAME
        written.append(chart)
    else:
        data["chart"] = None
    for name, text in (
        (JSON_NAME, json.dumps(data, indent=2) + "\n"),
        (MD_NAME, markdown(data) + "\n"),
    ):
        tmp = out / (name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / name)
        written.append(out / name)
    return written
