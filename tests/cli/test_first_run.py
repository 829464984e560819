"""The README's first command as a newcomer runs it: what the end of the output says, with
``--quiet`` and with ``--json`` (faster than the README's rate, the same rows and words)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

from bulkpatch.core.summary import FRESH_SIMULATOR
from support.runs import bulkpatch_sync

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "input_examples" / "mass-schedule-change.csv"


def first_command(tmp_path: Path, *more: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SARVAM_API_KEY", "BULKPATCH_BASE_URL")}
    env["COLUMNS"] = "200"
    args = ["run", str(EXAMPLE), "--simulate", "--rate", "unlimited", *more]
    # The run directory goes to ./reports, as in the README.
    return bulkpatch_sync(*args, env=env, cwd=tmp_path, timeout=90)


def run_dir_of(tmp_path: Path) -> Path:
    (found,) = [p for p in (tmp_path / "reports").iterdir() if p.is_dir()]
    return found


def skipped(run_dir: Path) -> tuple[int, int]:
    """(active, ended or cancelled) rows in results.csv."""
    with (run_dir / "results.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    active = sum(1 for r in rows if r["outcome"] == "skipped" and r["campaign_status"] == "active")
    gone = sum(
        1
        for r in rows
        if r["outcome"] == "skipped" and r["campaign_status"] in ("ended", "cancelled")
    )
    return active, gone


def test_the_summary_ends_with_what_to_do_next_and_where_the_report_is(tmp_path: Path) -> None:
    done = first_command(tmp_path)

    assert done.returncode == 1  # some rows were skipped
    run_dir = run_dir_of(tmp_path)
    shown = run_dir.relative_to(tmp_path)  # as the run prints it: under ./reports
    active, gone = skipped(run_dir)
    assert active > 0
    assert gone > 0
    lines = done.stderr.splitlines()
    tail = lines[lines.index(next(line for line in lines if line.startswith("requests "))) + 1 :]
    assert tail == [
        f"{active} skipped (campaign is active): pause, update and resume them with:",
        f"    bulkpatch run {shown}/retry.csv --pause-active --simulate",
        f"    ({FRESH_SIMULATOR})",
        f"{gone} skipped (campaign ended or cancelled): nothing to do",
        f"reports in {shown}: report.html, results.csv, retry.csv",
    ]
    assert done.stdout == ""


@pytest.mark.parametrize("flag", ["--quiet", "-q"])
def test_quiet_says_only_where_the_run_and_its_reports_are(tmp_path: Path, flag: str) -> None:
    done = first_command(tmp_path, flag)

    assert done.returncode == 1
    run_dir = run_dir_of(tmp_path)
    shown = run_dir.relative_to(tmp_path)  # as the run prints it: under ./reports
    assert done.stderr.splitlines() == [
        f"run directory: {shown}",
        f"reports in {shown}: report.html, results.csv, retry.csv",
    ]
    assert done.stdout == ""


def test_json_carries_the_next_steps_and_the_report_as_data(tmp_path: Path) -> None:
    done = first_command(tmp_path, "--json")

    data = json.loads(done.stdout)
    run_dir = run_dir_of(tmp_path)
    shown = run_dir.relative_to(tmp_path)  # as the run prints it: under ./reports
    active, gone = skipped(run_dir)
    assert data["report"] == str(shown / "report.html")
    assert data["next_steps"] == [
        {
            "rows": active,
            "outcome": "skipped",
            "reason": "campaign is active",
            "advice": "pause, update and resume them",
            "command": f"bulkpatch run {shown}/retry.csv --pause-active --simulate",
            "note": FRESH_SIMULATOR,
        },
        {
            "rows": gone,
            "outcome": "skipped",
            "reason": "campaign ended or cancelled",
            "advice": "nothing to do",
            "command": None,
            "note": None,
        },
    ]
    assert "pause, update and resume" not in done.stderr
    assert json.loads((run_dir / "summary.json").read_text())["next_steps"] == data["next_steps"]
