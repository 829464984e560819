"""How soon the command line answers: ``--help``, ``run --help``, one shell-completion call and
``--version``, each beside the bare interpreter (``python -c pass``) and an interpreter that
imports only click, in the same repetition (the order rotating)."""

from __future__ import annotations

import statistics
import sys
from typing import Any

from .procs import BULKPATCH, BenchError, run_child

#: Runs of each command per repetition (the median is kept): one process start is noisy.
CALLS = 5
#: The goal: nothing heavy imported, an answer within this many seconds.
LIMIT_S = 0.15

COMMANDS: dict[str, tuple[list[str], dict[str, str]]] = {
    "python -c pass (the floor)": ([sys.executable, "-c", "pass"], {}),
    "python -c 'import click'": ([sys.executable, "-c", "import click"], {}),
    "bulkpatch --help": ([*BULKPATCH, "--help"], {}),
    "bulkpatch run --help": ([*BULKPATCH, "run", "--help"], {}),
    "bulkpatch --version": ([*BULKPATCH, "--version"], {}),
    "shell completion of `bulkpatch ru`": (
        [*BULKPATCH],
        {"_BULKPATCH_COMPLETE": "bash_complete", "COMP_WORDS": "bulkpatch ru", "COMP_CWORD": "1"},
    ),
}
MEASURED = ("bulkpatch --help", "bulkpatch run --help", "shell completion of `bulkpatch ru`")


def _median_wall(argv: list[str], env: dict[str, str]) -> float:
    walls = []
    for _ in range(CALLS):
        child = run_child(argv, timeout=60, env=env)
        if child.returncode != 0:
            raise BenchError(f"{argv} exited with {child.returncode}:\n{child.tail()}")
        walls.append(child.wall_s)
    return statistics.median(walls)


def case_startup(bench: Any) -> dict[str, Any]:
    from .cases import spread, target  # the harness's helpers (cases imports this module)

    names = list(COMMANDS)
    runs: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(bench.sizes.reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            argv, extra = COMMANDS[name]
            runs[name].append(round(_median_wall(argv, {**bench.env, **extra}), 3))
        bench.log(
            f"startup {rep + 1}/{bench.sizes.reps}: "
            + ", ".join(f"{n} {runs[n][-1]} s" for n in MEASURED)
        )
    stats_ = {n: spread(v, 3) for n, v in runs.items()}
    floor = stats_[names[0]]["median"]
    return {
        "title": "How soon the command line answers",
        "params": {"calls_per_repetition": CALLS},
        "runs": runs,
        "stats": stats_,
        "ratios": {n: round(stats_[n]["median"] / floor, 2) for n in MEASURED},
        "targets": [
            target(
                f"{name}: <= {LIMIT_S} s",
                value=stats_[name]["median"],
                op="<=",
                limit=LIMIT_S,
                basis="median",
                shown=stats_[name],
                unit="s",
                digits=3,
            )
            for name in MEASURED
        ],
    }
