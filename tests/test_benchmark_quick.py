"""The benchmark (tests/benchmarks) in quick mode, so that it cannot rot.

It runs as the README says, in a child process, into a temporary directory, and must write its
three report files with figures that make sense.  Speed targets are not asserted here: a test
machine's speed is not the product's; the full benchmark reports them.  One repetition of each
case is enough for that (``--reps 1``: half the time of the quick default).  Its pacing figures
are measured at the server, in another process, while other tests may load the machine: they are
checked with a little room here; the exact ceiling is asserted where the clock is ours
(tests/test_pacing.py, and test_run_e2e's pacing against a server limit equal to the rate).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_benchmark_writes_a_sane_report(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks", "--quick", "--reps", "1", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((out / "benchmark.json").read_text(encoding="utf-8"))
    markdown = (out / "benchmark.md").read_text(encoding="utf-8")
    assert data["mode"] == "quick"
    assert "Mode: **quick**" in markdown
    cases = data["cases"]
    assert set(cases) == {"pacing", "throughput", "latency", "validate", "memory"}
    assert not [name for name, case in cases.items() if "error" in case]

    pacing = cases["pacing"]["stats"]
    rate = cases["pacing"]["params"]["rate"]
    requests = cases["pacing"]["params"]["requests_per_run"]
    # A starved child sends a few requests late and then together: at most 5 % over, a few 429s.
    assert 0 < pacing["worst_window"]["max"] <= rate * 1.05
    assert 0.5 < pacing["achieved_over_target"]["median"] <= 1.0
    assert pacing["rate_limited_429"]["max"] <= requests * 0.02

    throughput = cases["throughput"]
    for tool in ("bulkpatch --no-read", "bulkpatch (GET+PATCH)", "minimal aiohttp", "xargs+curl"):
        assert throughput["stats"][tool]["rows_per_s_end_to_end"]["median"] > 0, tool
    assert (throughput["params"]["wrk"] == "available") == (shutil.which("wrk") is not None)
    ratio = throughput["ratios"]["--no-read / minimal script (end to end, rows/s)"]["median"]
    assert 0 < ratio < 10

    latency = cases["latency"]["stats"]
    assert 0.3 < latency["achieved_over_ideal"]["median"] <= 1.0
    assert latency["peak_in_flight"]["max"] <= 50

    for stats in cases["validate"]["stats"].values():
        assert stats["rows_per_s"]["median"] > 0
        assert 10 < stats["peak_rss_mib"]["median"] < 4096

    memory = cases["memory"]
    assert 0.5 < memory["ratio"]["median_over_median"] < 5
    targets = [t for case in cases.values() for t in case["targets"]]
    assert len(targets) == data["targets_total"] == 9
    assert all(isinstance(t["met"], bool) for t in targets)
    if data["chart"] is not None:
        png = (out / "benchmark-pacing.png").read_bytes()
        assert png.startswith(b"\x89PNG")
    else:  # drawn only where matplotlib (the test extra) is installed
        pytest.importorskip("matplotlib")
        raise AssertionError("matplotlib is installed but no chart was drawn")
