"""``bulkpatch undo RUN_DIR``: what the run changed goes back, what others changed since stays."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bulkpatch.rundir.journal import iter_records
from bulkpatch.rundir.names import JOURNAL
from support.roundtrips import read_csv, undo
from support.runs import StartSimulator, bulkpatch, run_sheet, write_sheet

ORG, WS = "org-demo", "ws-demo"
FIELDS = ("name", "description", "allowed_schedule", "app_config", "end_timestamp", "status")
CHANGES = {
    "allowed_schedule.allowed_start_time": "06:15",
    "allowed_schedule.allowed_days": "Mon,Wed,Fri",
    "app_config.app_version": "9",
    "app_config.retry_config": '{"max_retries": 7}',
}


def ids(n: int) -> list[str]:
    return [f"cmp-{i:06d}" for i in range(1, n + 1)]


def sheet_of(tmp_path: Path, cids: list[str], **changes: str) -> Path:
    rows = [
        {"org_id": ORG, "workspace_id": WS, "campaign_id": c, **(changes or CHANGES)} for c in cids
    ]
    return write_sheet(tmp_path / "changes.csv", rows)


def fields(sim: Any, cids: list[str]) -> dict[str, dict[str, Any]]:
    return {c: {f: copy.deepcopy(sim.state.get((ORG, WS, c))[f]) for f in FIELDS} for c in cids}


async def test_undo_puts_back_what_the_run_changed_and_skips_campaigns_changed_since(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    cids = ids(12)
    sim = await start_simulator(generate=12, status_weights=(("paused", 1.0),))
    before = fields(sim, cids)
    run = await run_sheet(sheet_of(tmp_path, cids), sim, monkeypatch)
    assert run.code == 0, run.output
    sim.state.edit((ORG, WS, "cmp-000003"), {"app_config.app_version": 4})
    sim.state.edit((ORG, WS, "cmp-000008"), {"description": "ops note"})  # not a field we set
    meddled = fields(sim, ["cmp-000003", "cmp-000008"])

    done = await undo(run.run_dir, sim, monkeypatch)

    assert done.code == 1, done.output  # two rows skipped
    outcomes = done.outcomes()
    assert outcomes == {
        c: "skipped" if c in ("cmp-000003", "cmp-000008") else "updated" for c in cids
    }
    reasons = {r["campaign_id"]: r["reason"] for r in done.results()}
    assert reasons["cmp-000008"].startswith("stale: expected updated_at")
    after = fields(sim, cids)
    for cid in cids:
        assert after[cid] == (meddled[cid] if cid in meddled else before[cid]), cid
    assert done.run_dir.parent == run.run_dir.parent
    assert done.run_dir.name.startswith("undo-")
    undo_rows = read_csv(run.run_dir / "undo.csv")
    assert list(undo_rows[0]) == [
        "org_id",
        "workspace_id",
        "campaign_id",
        "#undo_of_row",
        "allowed_schedule.allowed_start_time",
        "allowed_schedule.allowed_days",
        "app_config.app_version",
        "app_config.retry_config",
        "expect.updated_at",
        "expect.allowed_schedule.allowed_start_time",
        "expect.allowed_schedule.allowed_days",
        "expect.app_config.app_version",
        "expect.app_config.retry_config",
    ]
    for row in undo_rows:  # what the run wrote guards each field put back
        if row["app_config.app_version"]:
            assert row["expect.app_config.app_version"] == "9"
        assert row["expect.updated_at"]


async def test_undoing_an_undo_is_a_normal_undo(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    cids = ids(5)
    sim = await start_simulator(generate=5, status_weights=(("scheduled", 1.0),))
    run = await run_sheet(sheet_of(tmp_path, cids), sim, monkeypatch)
    as_run_left_them = fields(sim, cids)
    first = await undo(run.run_dir, sim, monkeypatch)
    assert first.code == 0, first.output

    again = await undo(first.run_dir, sim, monkeypatch)

    assert again.code == 0, again.output
    assert fields(sim, cids) == {c: {**as_run_left_them[c], "status": "scheduled"} for c in cids}


async def test_undo_of_a_pause_active_run_pauses_restores_resumes_and_leaves_none_paused(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    cids = ids(6)
    sim = await start_simulator(generate=6, status_weights=(("active", 1.0),))
    before = fields(sim, cids)
    run = await run_sheet(sheet_of(tmp_path, cids), sim, monkeypatch, pause_active=True)
    assert run.code == 0, run.output
    resumed = {
        r["key"]: r["updated_at"]
        for r in iter_records(run.run_dir / JOURNAL)
        if r and r["e"] == "resumed"
    }
    assert len(resumed) == 6
    # The API turns a resumed campaign active again inside its window, on its own.
    for cid in cids:
        sim.state.update((ORG, WS, cid), {"status": "active"})

    done = await undo(run.run_dir, sim, monkeypatch)

    assert done.code == 0, done.output
    stamps = {
        f"{r['org_id']}/{r['workspace_id']}/{r['campaign_id']}": r["expect.updated_at"]
        for r in read_csv(run.run_dir / "undo.csv")
    }
    assert stamps == resumed
    after = fields(sim, cids)
    for cid in cids:
        assert {**after[cid], "status": "active"} == before[cid]
        assert after[cid]["status"] == "scheduled"  # resumed: it turns active on its own
    undo_journal = [r for r in iter_records(done.run_dir / JOURNAL) if r]
    assert sum(1 for r in undo_journal if r["e"] == "paused") == 6
    assert sum(1 for r in undo_journal if r["e"] == "resumed") == 6
    assert done.summary_json()["campaigns_left_paused"] == {}


async def test_undo_works_across_the_sessions_of_a_resumed_run(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    cids = ids(20)
    sim = await start_simulator(generate=20, status_weights=(("paused", 1.0),))
    before = fields(sim, cids)
    sheet = sheet_of(tmp_path, cids)
    first = await run_sheet(sheet, sim, monkeypatch, canary=3)
    rest = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=first.run_dir)
    assert rest.code == 0, rest.output
    # A row settled by reading back on resume has no before-values on its done line; its sent
    # line has them.
    journal = first.run_dir / JOURNAL
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    dropped = next(r for r in lines if r["e"] == "done" and r["row"] == 4)
    dropped["before"] = {}
    journal.write_text("".join(json.dumps(r) + "\n" for r in lines))

    done = await undo(first.run_dir, sim, monkeypatch)

    assert done.code == 0, done.output
    assert fields(sim, cids) == before


async def test_a_field_empty_before_the_run_is_named_and_left_as_the_run_set_it(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(
        generate=2,
        status_weights=(("paused", 1.0),),
        overrides={(ORG, WS, "cmp-000001"): {"description": None}},
    )
    before = fields(sim, ids(2))
    sheet = sheet_of(tmp_path, ids(2), description="now described", name="Renamed")
    run = await run_sheet(sheet, sim, monkeypatch)

    done = await undo(run.run_dir, sim, monkeypatch)

    assert done.code == 1, done.output  # one field is not put back: not a full undo
    [said] = done.said("undo_cannot")
    assert "cmp-000001: `description` was empty before the run" in said
    after = fields(sim, ids(2))
    assert after["cmp-000001"] == {**before["cmp-000001"], "description": "now described"}
    assert after["cmp-000002"] == before["cmp-000002"]


async def test_undo_refuses_a_no_read_run_and_a_run_that_did_not_finish(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=3, status_weights=(("paused", 1.0),))
    blind = await run_sheet(
        sheet_of(tmp_path, ids(3), name="Blind"), sim, monkeypatch, no_read=True
    )
    cut = await run_sheet(sheet_of(tmp_path, ids(3), name="Cut"), sim, monkeypatch)
    with (cut.run_dir / JOURNAL).open("a") as f:  # a write whose answer never came
        f.write(json.dumps({"e": "sent", "row": 2, "key": f"{ORG}/{WS}/cmp-000002",
                            "op": "patch", "attempt": 1, "fields": ["name"]}) + "\n")  # fmt: skip
    patches = sim.stats()["patches_applied"]

    no_read = await undo(blind.run_dir, sim, monkeypatch)
    unfinished = await undo(cut.run_dir, sim, monkeypatch)

    assert no_read.code == 2
    assert "used --no-read" in no_read.output
    assert "undo cannot know what to put back" in no_read.output
    assert unfinished.code == 2
    assert f"`bulkpatch resume {cut.run_dir}` first" in unfinished.output
    assert sim.stats()["patches_applied"] == patches


async def test_undo_plan_only_writes_undo_csv_and_sends_no_change(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=4, status_weights=(("paused", 1.0),))
    run = await run_sheet(sheet_of(tmp_path, ids(4)), sim, monkeypatch)
    patches = sim.stats()["patches_applied"]

    done = await undo(run.run_dir, sim, monkeypatch, plan_only=True)

    assert done.code == 0, done.output
    assert sim.stats()["patches_applied"] == patches
    assert (run.run_dir / "undo.csv").is_file()
    assert {r["outcome"] for r in done.results("plan.csv")} == {"updated"}
    assert "allowed_schedule.allowed_start_time: 06:15 ->" in done.output


async def test_the_undo_command_runs_the_undo_and_exits_as_a_run(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=3, status_weights=(("paused", 1.0),))
    before = fields(sim, ids(3))
    run = await run_sheet(sheet_of(tmp_path, ids(3)), sim, monkeypatch)
    key = sim.config.api_key

    planned = await bulkpatch("undo", run.run_dir, "--plan-only", "--quiet", api_key=key)
    done = await bulkpatch("undo", run.run_dir, "--rate", "unlimited", api_key=key)
    missing = await bulkpatch("undo", tmp_path, api_key=key)

    assert planned.returncode == 0, planned.stderr.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert b"puts back 3 of the 3 campaign(s)" in done.stderr
    assert fields(sim, ids(3)) == before
    assert missing.returncode == 2
    assert b"has no journal.jsonl" in missing.stderr


async def test_undo_names_fields_the_run_added_inside_an_object_and_does_not_exit_0(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    cids = ids(3)
    sim = await start_simulator(generate=3, status_weights=(("paused", 1.0),))
    for cid in cids:
        sim.state.edit(
            (ORG, WS, cid), {"app_config.webhook_config": {"url": "https://hooks.example.com/a"}}
        )
    hook = '{"url": "https://hooks.example.com/b", "metadata": {"team": "sales"}}'
    run = await run_sheet(
        sheet_of(tmp_path, cids, **{"app_config.webhook_config": hook}), sim, monkeypatch
    )
    assert run.code == 0, run.output

    done = await undo(run.run_dir, sim, monkeypatch)

    assert set(done.outcomes().values()) == {"updated"}
    assert done.code == 1, done.output  # every row ran, yet the undo is not whole
    assert "the run added `app_config.webhook_config.metadata`" in done.output
    assert "not a full undo" in done.output
    summary = json.loads((done.run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["exit_code"] == 1
    assert len(summary["not_undone"]) == 3
    for cid in cids:
        hook_now = sim.state.get((ORG, WS, cid))["app_config"]["webhook_config"]
        assert hook_now["url"] == "https://hooks.example.com/a"  # put back
        assert hook_now["metadata"] == {"team": "sales"}  # said to stay
