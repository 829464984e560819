"""``bulkpatch verify RUN_DIR``: every campaign read back, a verdict per row in verify.csv."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.roundtrips import read_csv, verify
from support.runs import StartSimulator, bulkpatch, run_sheet, write_sheet

ORG, WS = "org-demo", "ws-demo"
IDS = [f"cmp-{i:06d}" for i in range(1, 9)]


def sheet_of(tmp_path: Path) -> Path:
    rows = [
        {
            "org_id": ORG,
            "workspace_id": WS,
            "campaign_id": c,
            "allowed_schedule.allowed_days": "Mon-Sat",
            "app_config.retry_config.retry_interval_minutes": "[5, 10]",
        }
        for c in IDS
    ]
    return write_sheet(tmp_path / "changes.csv", rows)


async def test_verify_says_holds_drifted_or_gone_per_row_and_exits_1_unless_all_hold(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=8, status_weights=(("paused", 1.0),))
    run = await run_sheet(sheet_of(tmp_path), sim, monkeypatch)
    assert run.code == 0, run.output
    clean = await verify(run.run_dir, sim, monkeypatch)
    assert clean.code == 0
    assert clean.summary is not None
    assert clean.summary.outcomes == {"holds": 8, "drifted": 0, "gone": 0, "unknown": 0}
    # Someone changes two campaigns; a third disappears.
    sim.state.edit((ORG, WS, "cmp-000002"), {"allowed_schedule.allowed_days": ["Monday"]})
    sim.state.edit((ORG, WS, "cmp-000005"), {"app_config.retry_config.retry_interval_minutes": 5})
    gets_before = sum(sim.stats()["requests"]["GET"].values())
    gone = await start_simulator(  # the same campaigns, but cmp-000007 is not there
        campaigns=tuple((ORG, WS, c) for c in IDS if c != "cmp-000007"),
        api_key=sim.config.api_key,
    )
    for cid in IDS:
        if cid != "cmp-000007":
            gone.state.put((ORG, WS, cid), sim.state.get((ORG, WS, cid)))

    done = await verify(run.run_dir, sim, monkeypatch)
    moved = await verify(run.run_dir, gone, monkeypatch, base_url=gone.base_url)

    assert done.code == 1
    rows = {r["campaign_id"]: r for r in read_csv(run.run_dir / "verify.csv")}
    assert rows["cmp-000001"]["verdict"] == "holds"
    assert rows["cmp-000002"]["verdict"] == "drifted"
    assert rows["cmp-000002"]["details"] == (
        "allowed_schedule.allowed_days: Monday,Tuesday,Wednesday,Thursday,Friday,Saturday -> Monday"
    )
    assert (
        rows["cmp-000005"]["details"]
        == "app_config.retry_config.retry_interval_minutes: 5.0,10.0 -> 5"
    )
    assert rows["cmp-000005"]["outcome"] == "updated"
    assert sum(sim.stats()["requests"]["GET"].values()) == gets_before + 8
    assert set(sim.stats()["requests"]) == {"GET", "PATCH"}
    assert moved.code == 1
    moved_rows = {r["campaign_id"]: r for r in read_csv(run.run_dir / "verify.csv")}
    assert moved_rows["cmp-000007"]["verdict"] == "gone"
    assert "drifted: allowed_schedule.allowed_days" in done.output


async def test_verify_checks_only_rows_that_ended_updated_or_unchanged(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(
        generate=8,
        status_weights=(("paused", 1.0),),
        overrides={(ORG, WS, "cmp-000003"): {"status": "ended"}},
    )
    run = await run_sheet(sheet_of(tmp_path), sim, monkeypatch)
    assert run.outcomes()["cmp-000003"] == "skipped"

    done = await verify(run.run_dir, sim, monkeypatch)

    assert done.code == 0
    checked = [r["campaign_id"] for r in read_csv(run.run_dir / "verify.csv")]
    assert checked == [c for c in IDS if c != "cmp-000003"]


async def test_verify_csv_cells_never_start_a_formula(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=1, status_weights=(("paused", 1.0),))
    sheet = write_sheet(
        tmp_path / "changes.csv",
        [{"org_id": ORG, "workspace_id": WS, "campaign_id": "cmp-000001", "name": "Fine name"}],
    )
    run = await run_sheet(sheet, sim, monkeypatch)
    sim.state.edit((ORG, WS, "cmp-000001"), {"name": "=HYPERLINK(1)", "updated_at": "=1+1"})

    await verify(run.run_dir, sim, monkeypatch)

    text = (run.run_dir / "verify.csv").read_text()
    [row] = read_csv(run.run_dir / "verify.csv")
    assert row["details"] == "name: Fine name -> =HYPERLINK(1)"  # not at the cell's start
    assert row["updated_at"] == "'=1+1"
    assert ",=" not in text


async def test_verify_refuses_what_is_not_a_run_it_can_check(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=1)
    sheet = write_sheet(
        tmp_path / "changes.csv",
        [{"org_id": ORG, "workspace_id": WS, "campaign_id": "cmp-000001", "name": "Fine"}],
    )
    simulated = await run_sheet(sheet, sim, monkeypatch, simulate=True)
    planned = await run_sheet(sheet, sim, monkeypatch, mode="plan")

    for where, says in (
        (simulated.run_dir, "this run used --simulate"),
        (planned.run_dir, "the directory of a plan"),
        (tmp_path, "has no journal.jsonl"),
    ):
        assert where is not None
        done = await verify(where, sim, monkeypatch)
        assert done.code == 2, where
        assert says in done.output


async def test_the_verify_command_prints_the_verdicts_and_exit_code(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=8, status_weights=(("paused", 1.0),))
    run = await run_sheet(sheet_of(tmp_path), sim, monkeypatch)
    sim.state.edit((ORG, WS, "cmp-000004"), {"allowed_schedule.allowed_days": ["Friday"]})

    done = await bulkpatch("verify", run.run_dir, api_key=sim.config.api_key)
    as_json = await bulkpatch("verify", run.run_dir, "--json", api_key=sim.config.api_key)

    assert done.returncode == 1
    assert b"holds 7, drifted 1, gone 0, unknown 0" in done.stderr
    assert b"row 4 cmp-000004: drifted" in done.stderr
    assert b"verify.csv" in done.stderr
    assert as_json.returncode == 1
    assert b'"drifted": 1' in as_json.stdout
