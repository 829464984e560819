"""Every report of a run says the same: the terminal's summary, results.csv, summary.json,
report.html and the reports ``bulkpatch report RUN_DIR`` rebuilds from the journal -- for a run
against an API that fails now and then, where some PATCH outcomes stay unknown."""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import bulkpatch.cli.report  # noqa: F401  (registers the command)
from bulkpatch.cli import cli
from bulkpatch.rundir.names import JOURNAL, REPORT_HTML, RESULTS_CSV, SUMMARY_JSON, retry_name
from support.faketime import FakeTime
from support.runs import StartSimulator, run_sheet, write_sheet

ROWS = 300
ORG, WS = "org-demo", "ws-demo"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def page_counts(page: str) -> dict[str, int]:
    """The outcome cards of report.html: label -> rows."""
    section = page.split("<h2>Outcomes</h2>", 1)[1].split("</div></div>", 1)[0] + "</div>"
    found = re.findall(r'<span class="n">([\d,]+)</span><span class="l">([^<]+)</span>', section)
    return {html.unescape(label): int(n.replace(",", "")) for n, label in found}


def counted(rows: list[dict[str, str]]) -> dict[str, int]:
    return dict(Counter(r["outcome"] for r in rows))


async def faulty_run(
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> tuple[Path, Any]:
    sim = await start_simulator(generate=ROWS, fail_rate=0.4, fail_after_store_rate=0.3)
    rows = [
        {
            "org_id": ORG,
            "workspace_id": WS,
            "campaign_id": f"cmp-{n:06d}",
            "allowed_schedule.allowed_start_time": "10:00",
            "allowed_schedule.allowed_end_time": "19:00",
        }
        for n in range(1, ROWS + 1)
    ]
    sheet = write_sheet(tmp_path / "window.csv", rows)
    run = await run_sheet(sheet, sim, monkeypatch, timing=fake_time.timing(), max_attempts=2)
    assert run.run_dir is not None
    assert run.summary_obj is not None
    return run.run_dir, run.summary_obj


async def test_every_report_of_a_run_with_unknown_patch_outcomes_gives_the_same_counts_and_steps(
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> None:
    run_dir, summary = await faulty_run(tmp_path, start_simulator, monkeypatch, fake_time)
    journal = [json.loads(line) for line in (run_dir / JOURNAL).read_text().splitlines()]
    sent = {r["row"] for r in journal if r["e"] == "sent" and r.get("op") == "patch"}
    done = {r["row"] for r in journal if r["e"] == "done"}
    assert sent - done, "the scenario needs rows whose PATCH outcome stayed unknown"
    live_rows = read_csv(run_dir / RESULTS_CSV)
    live_summary = json.loads((run_dir / SUMMARY_JSON).read_text())
    live_page = (run_dir / REPORT_HTML).read_text()
    live_retry = (run_dir / retry_name("csv")).read_bytes()
    counts = counted(live_rows)
    assert counts.get("failed", 0) > 0

    runner = CliRunner()
    answer = runner.invoke(cli, ["report", str(run_dir), "--json"])
    assert answer.exit_code == 0, answer.output
    rebuilt = json.loads(answer.output)

    assert len(live_rows) == ROWS
    assert {k: v for k, v in summary.outcomes.items() if v} == counts
    assert {k: v for k, v in live_summary["outcomes"].items() if v} == counts
    assert page_counts(live_page) == counts
    assert {k: v for k, v in rebuilt["outcomes"].items() if v} == counts
    assert page_counts((run_dir / REPORT_HTML).read_text()) == counts
    assert read_csv(run_dir / RESULTS_CSV) == live_rows
    assert (run_dir / retry_name("csv")).read_bytes() == live_retry
    assert rebuilt["next_steps"] == live_summary["next_steps"]
    assert [s.as_dict() for s in summary.next_steps] == live_summary["next_steps"]


async def test_a_rebuild_from_the_journal_alone_gives_the_rows_the_run_reported(
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> None:
    run_dir, _ = await faulty_run(tmp_path, start_simulator, monkeypatch, fake_time)
    kept = tmp_path / "kept"
    kept.mkdir()
    for name in (RESULTS_CSV, retry_name("csv")):
        shutil.move(run_dir / name, kept / name)

    answer = CliRunner().invoke(cli, ["report", str(run_dir)])

    assert answer.exit_code == 0, answer.output
    assert read_csv(run_dir / RESULTS_CSV) == read_csv(kept / RESULTS_CSV)
    assert (run_dir / retry_name("csv")).read_bytes() == (kept / retry_name("csv")).read_bytes()
