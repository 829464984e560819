"""Figures beside their baselines for the validate case: a bare ``polars.read_csv`` of the same
sheet, and the time from starting ``bulkpatch run`` on it to the first request the simulator
sees (copy, hash and check every row happen before it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .procs import BULKPATCH, BenchError, run_child

#: A bare read of a sheet by polars: the floor any reader of it stands on.
BARE_READ = "import polars as pl, sys; pl.read_csv(sys.argv[1], infer_schema=False)"


def bare_read(path: Path, env: dict[str, str]) -> dict[str, float]:
    """``polars.read_csv`` of ``path`` in its own process: wall seconds and peak RSS."""
    child = run_child([sys.executable, "-c", BARE_READ, str(path)], timeout=300, env=env)
    if child.returncode != 0:
        raise BenchError(f"the bare read exited with {child.returncode}:\n{child.tail()}")
    return {"wall_s": round(child.wall_s, 3), "peak_rss_mib": round(child.max_rss_mib, 1)}


def first_request_s(bench: Any, sheet: Path, key_env: str) -> float:
    """Seconds from starting ``bulkpatch run`` on ``sheet`` to the simulator's first request;
    the run is stopped then."""
    with bench.sim() as sim:
        argv = [
            *BULKPATCH,
            "run",
            str(sheet),
            "--base-url",
            sim.base_url,
            "--api-key-env",
            key_env,
            "--rate",
            "unlimited",
            "--quiet",
            "--report-dir",
            str(bench.work / "first-request"),
        ]
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=bench.env,
            start_new_session=True,
        )
        try:
            while time.monotonic() - started < 300:
                if sim.stats()["requests_total"] > 0:
                    return round(time.monotonic() - started, 3)
                if proc.poll() is not None:
                    code = proc.returncode
                    raise BenchError(f"bulkpatch run exited with {code} before a request")
                time.sleep(0.02)
            raise BenchError("bulkpatch run sent no request in 300 s")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
