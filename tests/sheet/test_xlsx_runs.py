"""Excel in and out, end to end: an .xlsx sheet is planned, run, stopped, resumed, verified and
undone, and its retry sheet is an .xlsx that runs again."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkpatch.sheet import open_sheet, write_table
from support.roundtrips import plan_to, read_csv, undo, verify
from support.runs import StartSimulator, run_sheet

ORG, WS = "org-demo", "ws-demo"


async def test_an_xlsx_sheet_goes_through_plan_run_resume_retry_verify_and_undo(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=12, status_weights=(("paused", 1.0),))
    before = {c["campaign_id"]: c["app_config"]["app_version"] for c in sim.state.dump()}
    ids = [f"cmp-{i:06d}" for i in range(1, 13)] + ["cmp-late"]
    sheet = tmp_path / "changes.xlsx"
    write_table(  # Excel's own cells: a number in the version column
        sheet,
        ["org_id", "workspace_id", "campaign_id", "app_config.app_version", "# note"],
        [[ORG, WS, cid, 11, "=not a formula"] for cid in ids],
    )

    planned = await plan_to(sheet, tmp_path / "plan", sim, monkeypatch)
    assert planned.code == 1  # cmp-late does not exist yet
    assert [r["row"] for r in read_csv(tmp_path / "plan" / "plan.csv")][:2] == ["2", "3"]
    assert (tmp_path / "plan" / "changes.xlsx").is_file()

    first = await run_sheet(sheet, sim, monkeypatch, canary=3)
    assert first.code == 0, first.output
    assert (first.run_dir / "sheet.xlsx").is_file()
    rest = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=first.run_dir)
    assert rest.code == 1
    assert rest.outcomes()["cmp-late"] == "rejected"
    retry = first.run_dir / "retry.xlsx"
    retry_sheet = open_sheet(retry)
    assert [cells["campaign_id"] for _, cells in retry_sheet.iter_rows()] == ["cmp-late"]
    assert [cells["# note"] for _, cells in retry_sheet.iter_rows()] == ["=not a formula"]

    sim.state.add((ORG, WS, "cmp-late"), {"status": "paused"})
    again = await run_sheet(retry, sim, monkeypatch)
    assert again.code == 0, again.output
    assert again.outcomes() == {"cmp-late": "updated"}

    checked = await verify(first.run_dir, sim, monkeypatch)
    assert checked.code == 0
    assert checked.summary is not None
    assert checked.summary.outcomes["holds"] == 12

    undone = await undo(first.run_dir, sim, monkeypatch)
    assert undone.code == 0, undone.output
    after = {c["campaign_id"]: c["app_config"]["app_version"] for c in sim.state.dump()}
    assert {c: v for c, v in after.items() if c != "cmp-late"} == before
    assert read_csv(first.run_dir / "undo.csv")[0]["#undo_of_row"] == "2"
