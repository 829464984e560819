"""A run still going in the same report directory (another shard, say) is not an earlier run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bulkpatch import apply_sheet_async
from bulkpatch.core.errors import BusyError
from bulkpatch.core.events import RowFinished, RunStarted
from bulkpatch.core.options import RunOptions
from bulkpatch.rundir.directory import earlier_paused, is_live, lock_run_dir, lock_work, same_api
from bulkpatch.rundir.journal import FORMAT
from bulkpatch.rundir.names import JOURNAL
from support.runs import StartSimulator, campaign_rows, run_sheet, write_sheet

BASE = "http://127.0.0.1:9/api/scheduling"


def cut_off_run(report_dir: Path, name: str) -> Path:
    """A run directory whose journal paused a campaign and stops there (no resume, no end)."""
    run_dir = report_dir / name
    run_dir.mkdir(parents=True)
    lines = [
        {"e": "start", "journal": FORMAT, "options": {"base_url": BASE}, "rows": 1},
        {"e": "sent", "op": "pause", "row": 1, "key": "org/ws/cmp-1"},
        {"e": "paused", "row": 1, "key": "org/ws/cmp-1"},
    ]
    (run_dir / JOURNAL).write_text("".join(json.dumps(x) + "\n" for x in lines))
    return run_dir


def test_campaigns_paused_by_a_run_still_going_are_not_named_until_it_stops(
    tmp_path: Path,
) -> None:
    shard = cut_off_run(tmp_path, "sheet-shard-1-of-2")
    held = lock_run_dir(shard)  # the shard's process is still at work
    try:
        assert is_live(shard)
        assert earlier_paused(tmp_path, base_url=BASE) == {}
    finally:
        held.release()
    assert not is_live(shard)  # killed, say: now its campaigns are named
    assert earlier_paused(tmp_path, base_url=BASE) == {"org/ws/cmp-1": str(shard)}


def test_a_run_given_by_a_relative_path_is_not_its_own_earlier_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    run_dir = cut_off_run(reports, "sheet-20261201T000000Z")
    monkeypatch.chdir(tmp_path)
    relative = Path("reports") / run_dir.name
    assert earlier_paused(Path("reports"), base_url=BASE, exclude=relative) == {}
    assert earlier_paused(reports, base_url=BASE, exclude=relative) == {}
    assert earlier_paused(reports, base_url=BASE) == {"org/ws/cmp-1": str(run_dir)}


def test_the_same_api_written_another_way_is_the_same_api_for_the_run_lock(
    tmp_path: Path,
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    held = lock_work(tmp_path, "http://127.0.0.1:8080/api/scheduling", "sha", tmp_path / "a")
    try:
        for other in ("http://localhost:8080/api/scheduling/", "HTTP://[::1]:8080/api/scheduling"):
            with pytest.raises(BusyError, match="already applying this sheet"):
                lock_work(tmp_path, other, "sha", tmp_path / "b")
        lock_work(tmp_path, "http://127.0.0.1:8081/api/scheduling", "sha", tmp_path / "b").release()
    finally:
        held.release()
    assert same_api("https://Apps.Sarvam.ai:443/api/scheduling/") == (
        "https://apps.sarvam.ai/api/scheduling"
    )


async def test_a_plan_of_a_sheet_being_applied_is_not_held_back(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"c{i}" for i in range(5)]
    sim = await start_simulator(overrides={("o", "w", c): {"status": "paused"} for c in names})
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(names, "o", "w", name="Planned"))
    reports = tmp_path / "reports"
    reports.mkdir()
    sha = hashlib.sha256(sheet.read_bytes()).hexdigest()
    held = lock_work(reports, sim.base_url, sha, reports / "a-run")  # a run of it is going on
    try:
        plan = await run_sheet(sheet, sim, monkeypatch, mode="plan", report_dir=reports)
        assert plan.code == 0, plan.output
        run = await run_sheet(sheet, sim, monkeypatch, report_dir=reports)
        assert run.code == 2, run.output  # a second run is still refused
        assert "already applying this sheet" in run.output
    finally:
        held.release()


async def test_every_outcome_reported_is_in_the_journal_on_disk_when_it_is_reported(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"j{i:03d}" for i in range(60)]
    sim = await start_simulator(
        overrides={("org-j", "ws-j", n): {"status": "paused"} for n in names}
    )
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(names, "org-j", "ws-j", name="J"))
    monkeypatch.setenv("SARVAM_API_KEY", sim.config.api_key)
    where: list[Path] = []
    missing: list[int] = []

    def sink(event: object) -> None:
        if isinstance(event, RunStarted):
            where.append(event.run_dir / JOURNAL)
        elif isinstance(event, RowFinished):
            # read as another process would after a crash: only what reached the OS
            done = [
                json.loads(line)
                for line in where[0].read_text(encoding="utf-8").splitlines()
                if '"e":"done"' in line
            ]
            if event.result.row not in {d["row"] for d in done}:
                missing.append(event.result.row)

    summary = await apply_sheet_async(
        sheet,
        options=RunOptions(
            base_url=sim.base_url, report_dir=tmp_path / "r", rate=None, concurrency=8
        ),
        on_event=sink,
    )

    assert summary.outcomes["updated"] == len(names)
    assert missing == []
