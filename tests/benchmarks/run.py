"""Run every case, then write ``benchmark.md``, ``benchmark.json`` and ``benchmark-pacing.png``.

python -m tests.benchmarks --full             # the committed report, a few minutes
python -m tests.benchmarks --quick --out DIR  # under a minute (what the test suite runs)
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .cases import CASES, FULL, QUICK, Bench
from .procs import BenchError
from .report import machine, write_all

ROOT = Path(__file__).resolve().parents[2]


def _busy_cpu_s() -> float | None:
    """CPU seconds the whole machine has been busy (all processes), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    except (OSError, ValueError, IndexError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    """CPU seconds of this process and every child it has reaped (servers and contenders)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks",
        description="Benchmark bulkpatch against its peers and its performance targets.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="Small sizes, under a minute.")
    mode.add_argument("--full", action="store_true", help="The targets' sizes (default).")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "reports",
        help="Where the report files go (default: reports/).",
    )
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help=f"Comma-separated subset of: {', '.join(CASES)}.",
    )
    parser.add_argument("--reps", type=int, help="Repetitions per case (default 3; quick 2).")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="Concurrency of the throughput cases."
    )
    parser.add_argument(
        "--notes", type=Path, help="A Markdown file appended to the report as its Notes."
    )
    parser.add_argument("--keep-work", action="store_true", help="Keep the scratch directory.")
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="JSON",
        help="Measure nothing: write the report again from a benchmark.json (with --notes).",
    )
    args = parser.parse_args(argv)
    unknown = set(args.cases.split(",")) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    return args


def rewrite(source: Path, out: Path, notes: Path | None) -> int:
    """Write the report files again from the data of an earlier run."""
    data: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    data.pop("notes", None)
    if notes is not None:
        data["notes"] = notes.read_text(encoding="utf-8")
    for path in write_all(data, out):
        _log(f"wrote {path}")
    return 0


def compile_bytecode() -> str:
    """Compile bulkpatch's modules to bytecode first, as installing a wheel does.

    Where ``PYTHONDONTWRITEBYTECODE`` is set (as on some CI machines) an editable install never
    gets its ``.pyc`` files, and every measured ``bulkpatch`` process would compile its whole
    source again at start-up: a cost no installed copy pays.
    """
    spec = importlib.util.find_spec("bulkpatch")
    if spec is None or not spec.submodule_search_locations:
        return "bulkpatch not found"
    where = next(iter(spec.submodule_search_locations))
    ok = compileall.compile_dir(where, quiet=1)
    try:
        shown = str(Path(where).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:  # installed elsewhere (site-packages)
        shown = "the installed package"
    return f"compiled before measuring ({shown})" if ok else "compiling failed"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json is not None:
        return rewrite(args.from_json, args.out, args.notes)
    mode = "quick" if args.quick else "full"
    sizes = QUICK if args.quick else FULL
    if args.reps:
        sizes = replace(sizes, reps=args.reps)
    bytecode = compile_bytecode()
    _log(f"bytecode: {bytecode}")
    work = Path(tempfile.mkdtemp(prefix="bulkpatch-bench-"))
    bench = Bench(sizes, work=work, concurrency=args.concurrency, log=_log)
    command = "python -m tests.benchmarks " + ("--quick" if args.quick else "--full")
    started = time.monotonic()
    data: dict[str, Any] = {
        "mode": mode,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "repetitions": sizes.reps,
        "sizes": {k: v for k, v in vars(sizes).items()},
        "machine": machine(ROOT),
        "bytecode": bytecode,
        "cases": {},
    }
    failed = False
    try:
        for name in args.cases.split(","):
            _log(f"case {name} ...")
            busy, own, wall = _busy_cpu_s(), _own_cpu_s(), time.monotonic()
            try:
                data["cases"][name] = CASES[name](bench)
            except BenchError as exc:
                failed = True
                _log(f"case {name} failed: {exc}")
                data["cases"][name] = {"title": name, "error": str(exc), "targets": []}
            except Exception as exc:  # a bug in a case: report it, go on with the others
                failed = True
                traceback.print_exc()
                data["cases"][name] = {"title": name, "error": repr(exc), "targets": []}
            busy_after = _busy_cpu_s()
            if busy is not None and busy_after is not None:
                # Other processes' CPU during the case: a sign of a busy, noisy machine.
                wall = time.monotonic() - wall
                other = max(0.0, (busy_after - busy) - (_own_cpu_s() - own))
                data["cases"][name]["machine_load"] = {
                    "wall_s": round(wall, 1),
                    "other_processes_cpu_s": round(other, 1),
                    "other_processes_cores": round(other / wall, 3) if wall else None,
                }
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        else:
            _log(f"scratch directory kept: {work}")
    data["duration_s"] = round(time.monotonic() - started, 1)
    if args.notes is not None:
        data["notes"] = args.notes.read_text(encoding="utf-8")
    targets = [t for case in data["cases"].values() for t in case.get("targets", [])]
    data["targets_met"] = sum(t["met"] for t in targets)
    data["targets_total"] = len(targets)
    for path in write_all(data, args.out):
        _log(f"wrote {path}")
    _log(f"{data['targets_met']} of {data['targets_total']} targets met in {data['duration_s']} s")
    return 1 if failed else 0
