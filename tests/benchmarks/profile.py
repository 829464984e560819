"""Where a throughput run's CPU goes: ``bulkpatch run`` under cProfile, summed by stage.

The run is the throughput case's (rate unlimited, the simulator in its own process), once with
``--no-read`` and once with reads, each under ``python -m cProfile``.  The stages below are the
cumulative times of named functions (nested stages are subtracted from the stage around them, so
the shares add up); the rest is the event loop, aiohttp's callbacks and everything unnamed.

cProfile adds a cost to every Python call, so profiled times run several times slower than real
ones and code with many small calls looks dearer than it is: read the shares, and the per-row
figures scaled to the unprofiled run's CPU time, as estimates.
"""

from __future__ import annotations

import pstats
from pathlib import Path
from typing import Any

#: (label, [(file suffix, function name), ...], label of the stage it is nested in or None).
STAGES: tuple[tuple[str, tuple[tuple[str, str], ...], str | None], ...] = (
    ("start-up: imports", (("<frozen importlib._bootstrap>", "_find_and_load"),), None),
    (
        "sheet: copy, hash and check (one pass)",
        (
            ("bulkpatch/sheet/files.py", "snapshot_sheet"),
            ("bulkpatch/engine/preflight.py", "checked_sheet"),
        ),
        None,
    ),
    (
        "sheet: the run's streaming pass (validation)",
        (("bulkpatch/engine/procedure.py", "work_items"),),
        None,
    ),
    (
        "row: read, plan, carry out (bulkpatch code)",
        (("bulkpatch/engine/procedure.py", "apply_row"),),
        None,
    ),
    (
        "HTTP: aiohttp request and answer",
        (("bulkpatch/transport/client.py", "_send_once"),),
        "row: read, plan, carry out (bulkpatch code)",
    ),
    (
        "HTTP: answer parsed (JSON) and classified",
        (("bulkpatch/transport/replies.py", "answer_reply"),),
        "HTTP: aiohttp request and answer",
    ),
    (
        "journal: sent lines (written before each PATCH)",
        (
            ("bulkpatch/engine/executor.py", "_log"),
            ("bulkpatch/engine/executor.py", "journal_sent"),
        ),
        "row: read, plan, carry out (bulkpatch code)",
    ),
    (
        "row: recorded (done line, results.csv, counts, event)",
        (("bulkpatch/engine/recorder.py", "record"),),
        None,
    ),
    (
        "row: reported (events, once the batch's lines are flushed)",
        (("bulkpatch/engine/recorder.py", "report_pending"),),
        None,
    ),
    (
        "journal: batch flushes (one per turn of the event loop)",
        (("bulkpatch/rundir/journal.py", "_flush_batch"),),
        None,
    ),
    (
        "end: reports (results, retry, summary, report.html)",
        (("bulkpatch/engine/session.py", "_finish"),),
        None,
    ),
)
LOOP_WAIT = (
    ("~", "<method 'run_forever' of 'uvloop.loop.Loop' objects>"),
    ("~", "<method 'poll' of 'select.epoll' objects>"),
)


def _matches(key: tuple[str, int, str], wanted: tuple[str, str]) -> bool:
    path, _, name = key
    suffix, func = wanted
    return name == func and path.replace("\\", "/").endswith(suffix)


def summarize(
    stats_path: Path, *, rows: int, cpu_s: float | None, startup_cpu_s: float | None
) -> dict[str, Any]:
    """Stage totals of a cProfile dump, as seconds, shares and estimated microseconds per row.

    ``cpu_s``: the unprofiled run's CPU time; ``startup_cpu_s``: the CPU time of a process that
    only imports what ``bulkpatch run`` imports.  cProfile slows imports far more than the
    run itself, so the start-up is taken as measured and only the rest is shared out by the
    profile."""
    stats = pstats.Stats(str(stats_path))
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = float(stats.total_tt)  # type: ignore[attr-defined]
    inclusive: dict[str, float] = {}
    for label, functions, _ in STAGES:
        inclusive[label] = sum(
            cum
            for key, (_, _, _, cum, _) in table.items()
            if any(_matches(key, f) for f in functions)
        )
    waiting = sum(
        own for key, (_, _, own, _, _) in table.items() if any(_matches(key, f) for f in LOOP_WAIT)
    )
    own = dict(inclusive)
    for label, _, parent in STAGES:
        if parent is not None:
            own[parent] -= inclusive[label]
    busy = max(total - waiting, 1e-9)
    named = sum(own.values())
    own["event loop, aiohttp callbacks and the rest"] = max(busy - named, 0.0)
    imports = own[STAGES[0][0]]
    scale = None
    if cpu_s and startup_cpu_s is not None and busy > imports:
        scale = max(cpu_s - startup_cpu_s, 0.0) / (busy - imports)

    def per_row(label: str, seconds: float) -> float | None:
        if scale is None or startup_cpu_s is None:
            return None
        real = startup_cpu_s if label == STAGES[0][0] else seconds * scale
        return round(real / rows * 1e6, 1)

    stages = [
        {
            "stage": label,
            "profiled_s": round(seconds, 3),
            "share": round(seconds / busy, 4),
            "us_per_row": per_row(label, seconds),
        }
        for label, seconds in own.items()
    ]
    top = sorted(table.items(), key=lambda item: -item[1][2])[:15]
    return {
        "rows": rows,
        "profiled_total_s": round(total, 3),
        "profiled_waiting_s": round(waiting, 3),
        "profiled_busy_s": round(busy, 3),
        "unprofiled_cpu_s": cpu_s,
        "startup_cpu_s": startup_cpu_s,
        "stages": stages,
        "top_own_time": [
            {
                "function": f"{Path(path).name}:{line} {name}",
                "calls_per_row": round(calls / rows, 2),
                "share": round(own_s / busy, 4),
            }
            for (path, line, name), (_, calls, own_s, _, _) in top
        ],
    }
