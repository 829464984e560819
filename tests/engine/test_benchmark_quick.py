"""The benchmark (tests/benchmarks) in quick mode, so that it cannot rot.

It runs as docs/benchmark.md says, in a child process, into a temporary directory, and must write
its three report files with figures that make sense.  Speed targets are not asserted here: a test
machine's speed is not the product's; the full benchmark reports them.

Three tests share its seven cases, so that workers can run them side by side, one repetition each
(``--reps 1``).  The figures are measured while other tests load the machine, so the ceilings
(pacing, the rate shared through Redis) are checked with a little room: a starved child sends a
few requests late and then together (204 starts in a second at 200/s was seen).  The exact
ceilings are asserted where nothing else runs or the clock is ours: tests/transport/test_pacing.py,
test_run_e2e's pacing against a server limit equal to the rate, and test_ratestore's processes
sharing the store (both ``realtime``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support.redis_server import redis_server_binary

ROOT = Path(__file__).resolve().parents[2]


def quick_benchmark(out: Path, cases: list[str]) -> dict[str, Any]:
    """``python -m tests.benchmarks --quick --reps 1 --cases ...``: its benchmark.json, checked
    against its benchmark.md."""
    command = [sys.executable, "-m", "tests.benchmarks", "--quick", "--reps", "1"]
    command += ["--cases", ",".join(cases), "--out", str(out)]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=100, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data: dict[str, Any] = json.loads((out / "benchmark.json").read_text(encoding="utf-8"))
    markdown = (out / "benchmark.md").read_text(encoding="utf-8")
    assert data["mode"] == "quick"
    assert "Mode: **quick**" in markdown
    assert list(data["cases"]) == cases
    if redis_server_binary() is None and "shared_rate" in cases:  # it needs a real redis-server
        assert "redis-server is not installed" in data["cases"].pop("shared_rate")["error"]
    assert not [name for name, case in data["cases"].items() if "error" in case]
    targets = [t for case in data["cases"].values() for t in case["targets"]]
    assert len(targets) == data["targets_total"]
    assert all(isinstance(t["met"], bool) for t in targets)
    return data


@pytest.mark.slow
def test_the_quick_benchmarks_ceiling_cases_write_a_sane_report_and_chart(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    data = quick_benchmark(out, ["pacing", "shared_rate"])
    cases = data["cases"]

    pacing = cases["pacing"]["stats"]
    rate = cases["pacing"]["params"]["rate"]
    requests = cases["pacing"]["params"]["requests_per_run"]
    assert 0 < pacing["worst_window"]["max"] <= rate * 1.05
    assert 0.5 < pacing["achieved_over_target"]["median"] <= 1.0
    assert pacing["rate_limited_429"]["max"] <= requests * 0.02

    if "shared_rate" in cases:
        shared = cases["shared_rate"]["stats"]
        params = cases["shared_rate"]["params"]
        assert 0 < shared["store"]["worst_window"]["max"] <= params["rate"] * 1.05
        assert shared["store"]["rate_limited_429"]["max"] <= params["requests_per_run"] * 0.02
        assert 0.5 < shared["store"]["achieved_over_target"]["median"] <= 1.0
        # Four processes at the rate each, without the store: over it together.
        assert shared["no_store"]["worst_window"]["max"] > params["rate"]
    assert data["targets_total"] == (6 if "shared_rate" in cases else 3)

    if data["chart"] is not None:
        png = (out / "benchmark-pacing.png").read_bytes()
        assert png.startswith(b"\x89PNG")
    else:  # drawn only where matplotlib (the test extra) is installed
        pytest.importorskip("matplotlib")
        raise AssertionError("matplotlib is installed but no chart was drawn")


@pytest.mark.slow
def test_the_quick_benchmarks_throughput_and_latency_write_a_sane_report(tmp_path: Path) -> None:
    data = quick_benchmark(tmp_path / "reports", ["throughput", "latency"])
    cases = data["cases"]

    throughput = cases["throughput"]
    tools = (
        "bulkpatch --no-read",
        "bulkpatch (GET+PATCH)",
        "minimal aiohttp",
        "minimal GET+PATCH",
        "floor: uvloop + journal",
        "xargs+curl",
    )
    for tool in tools:
        assert throughput["stats"][tool]["rows_per_s_end_to_end"]["median"] > 0, tool
    assert (throughput["params"]["wrk"] == "available") == (shutil.which("wrk") is not None)
    ratio = throughput["ratios"]["--no-read / minimal script (end to end, rows/s)"]["median"]
    assert 0 < ratio < 10
    ratio = throughput["ratios"]["with reads / minimal GET+PATCH script (end to end, rows/s)"]
    assert 0 < ratio["median"] < 10
    floor = throughput["ratios"]["floor: uvloop + journal / minimal script (end to end, rows/s)"]
    assert 0 < floor["median"] < 10

    latency = cases["latency"]["stats"]
    assert 0.3 < latency["achieved_over_ideal"]["median"] <= 1.0
    assert latency["peak_in_flight"]["max"] <= 50
    assert data["targets_total"] == 4
    assert data["chart"] is None  # the chart is the pacing case's


@pytest.mark.slow
def test_the_quick_benchmarks_validation_memory_and_startup_write_a_sane_report(
    tmp_path: Path,
) -> None:
    data = quick_benchmark(tmp_path / "reports", ["validate", "memory", "startup"])
    cases = data["cases"]

    for stats in cases["validate"]["stats"].values():
        assert stats["rows_per_s"]["median"] > 0
        assert 10 < stats["peak_rss_mib"]["median"] < 4096

    largest = max(cases["validate"]["stats"], key=int)
    assert cases["validate"]["stats"][largest]["first_request_s"]["median"] > 0
    assert 0 < cases["validate"]["ratios"]["validate_over_bare_read"] < 100
    memory = cases["memory"]
    assert 0.5 < memory["ratio"]["median_over_median"] < 5
    startup = cases["startup"]
    floor = startup["stats"]["python -c pass (the floor)"]["median"]
    for name in ("bulkpatch --help", "bulkpatch run --help", "shell completion of `bulkpatch ru`"):
        assert floor < startup["stats"][name]["median"] < 30, name
        assert startup["ratios"][name] > 1
    # validate: 5 (3 of them against a bare read), memory: 1, startup: 3
    assert data["targets_total"] == 9
