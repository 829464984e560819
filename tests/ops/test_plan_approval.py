"""``plan --out`` and ``run --plan``: a reviewed plan runs exactly as approved, or not at all."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import anyio
import pytest

from bulkpatch.core.results import FieldChange
from bulkpatch.core.rows import CampaignKey, RowChange
from bulkpatch.engine.approval import Approval
from bulkpatch.engine.planfile import PlannedRow, canonical, changes_list
from bulkpatch.engine.planner import Patch, Stale, Unchanged
from bulkpatch.html import planpage
from bulkpatch.rundir.journal import read_journal
from bulkpatch.rundir.names import JOURNAL
from bulkpatch.sheet import file_sha256
from support.disks import tmpfs
from support.roundtrips import apply_plan, plan_to, read_csv
from support.runs import StartSimulator, bulkpatch, run_sheet, write_sheet

ORG, WS = "org-demo", "ws-demo"
PLAN_FILES = {"plan.json", "plan.csv", "plan.html", "plan-rows.jsonl", "changes.csv"}


def sheet_of(tmp_path: Path, ids: list[str], **changes: str) -> Path:
    rows = [{"org_id": ORG, "workspace_id": WS, "campaign_id": cid, **changes} for cid in ids]
    return write_sheet(tmp_path / "changes.csv", rows)


def ids(n: int) -> list[str]:
    return [f"cmp-{i:06d}" for i in range(1, n + 1)]


async def editable(start_simulator: StartSimulator, n: int, **knobs: Any) -> Any:
    return await start_simulator(generate=n, status_weights=(("paused", 1.0),), **knobs)


async def test_plan_out_writes_a_plan_directory_a_reviewer_can_check(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await editable(start_simulator, 8)
    sheet = sheet_of(tmp_path, ids(8), **{"allowed_schedule.allowed_start_time": "10:15"})

    done = await plan_to(sheet, tmp_path / "plan", sim, monkeypatch)

    assert done.code == 0, done.output
    plan_dir = tmp_path / "plan"
    assert {p.name for p in plan_dir.iterdir()} == PLAN_FILES
    for path in plan_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    plan = json.loads((plan_dir / "plan.json").read_text())
    assert plan["sheet"]["sha256"] == file_sha256(sheet) == file_sha256(plan_dir / "changes.csv")
    assert plan["digest"].startswith("sha256:")
    assert plan["counts"]["updated"] + plan["counts"]["unchanged"] == 8
    for name, sha in plan["files"].items():  # the page's without the digest it shows
        assert file_sha256(plan_dir / name) == sha or name == "plan.html"
    assert set(plan["files"]) == PLAN_FILES - {"plan.json"}
    assert plan["digest"] in (plan_dir / "plan.html").read_text()
    rows = [json.loads(line) for line in (plan_dir / "plan-rows.jsonl").read_text().splitlines()]
    assert [r["row"] for r in rows] == list(range(1, 9))
    assert all(r["updated_at"] for r in rows)
    assert read_csv(plan_dir / "plan.csv") == read_csv(done.run_dir / "plan.csv")
    assert plan["digest"] in " ".join(done.said("plan_written"))
    assert set(sim.stats()["requests"]) == {"GET"}


async def test_a_plan_directory_that_holds_anything_is_never_overwritten(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await editable(start_simulator, 2)
    sheet = sheet_of(tmp_path, ids(2), name="New name")
    (tmp_path / "plan").mkdir()
    (tmp_path / "plan" / "notes.txt").write_text("mine")

    done = await plan_to(sheet, tmp_path / "plan", sim, monkeypatch)

    assert done.code == 2
    assert "a plan is never overwritten" in done.output
    assert sim.stats()["requests_total"] == 0


@pytest.mark.parametrize("made", [False, True], ids=["new PLAN_DIR", "empty PLAN_DIR"])
async def test_a_plan_that_does_not_fit_on_the_disk_leaves_plan_dir_as_it_was_for_the_next_try(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch, made: bool
) -> None:
    sim = await editable(start_simulator, 200)
    sheet = sheet_of(tmp_path, ids(200), name="A new name long enough to fill a small disk")
    with tmpfs(tmp_path / "small", "size=24k,mode=0700") as disk:
        plan_dir = disk / "plan"
        if made:
            plan_dir.mkdir()

        done = await plan_to(sheet, plan_dir, sim, monkeypatch)

        assert done.code == 2, done.output
        assert f"cannot write the plan into {plan_dir}: No space left on device" in done.output
        assert plan_dir.exists() is made
        assert list(disk.rglob("*")) == ([plan_dir] if made else [])
        await anyio.run_process(["mount", "-o", "remount,size=8m", str(disk)])

        again = await plan_to(sheet, plan_dir, sim, monkeypatch)

        assert again.code == 0, again.output
        assert {p.name for p in plan_dir.iterdir()} == PLAN_FILES


async def test_a_plan_whose_last_file_cannot_be_written_removes_the_ones_written_before(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await editable(start_simulator, 3)
    sheet = sheet_of(tmp_path, ids(3), name="New name")

    write_plan_page = planpage.write_plan_page

    def full(path: Path, *args: Any, **kwargs: Any) -> Path:
        if path.parent != tmp_path / "plan":  # the run directory's own plan.html
            return write_plan_page(path, *args, **kwargs)
        path.write_text("half a page")  # written in part, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(planpage, "write_plan_page", full)
    done = await plan_to(sheet, tmp_path / "plan", sim, monkeypatch)

    assert done.code == 2, done.output
    assert f"cannot write the plan into {tmp_path / 'plan'}: No space left" in done.output
    assert not (tmp_path / "plan").exists()


async def test_run_plan_applies_exactly_the_plan_and_records_who_approved_it(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=12)
    sheet = sheet_of(tmp_path, ids(12), **{"app_config.app_version": "9"})
    planned = await plan_to(sheet, tmp_path / "plan", sim, monkeypatch)
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())

    run = await apply_plan(tmp_path / "plan", sim, monkeypatch, approved_by="asha.rao")

    assert run.code == planned.code
    plan_outcomes = {r["row"]: r["outcome"] for r in read_csv(tmp_path / "plan" / "plan.csv")}
    assert {r["row"]: r["outcome"] for r in run.results()} == plan_outcomes
    assert run.run_dir.name.startswith("changes-")
    start = read_journal(run.run_dir / JOURNAL).start
    assert start is not None
    assert start["approved_by"] == "asha.rao"
    assert start["plan"]["digest"] == plan["digest"]
    summary = run.summary_json()
    assert summary["approved_by"] == "asha.rao"
    assert summary["plan"]["digest"] == plan["digest"]
    assert (run.run_dir / "approved-plan.json").read_bytes() == (
        tmp_path / "plan" / "plan.json"
    ).read_bytes()


async def test_a_row_whose_campaign_changed_since_the_plan_is_skipped_as_stale(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await editable(start_simulator, 6)
    sheet = sheet_of(tmp_path, ids(6), **{"allowed_schedule.allowed_end_time": "20:45"})
    await plan_to(sheet, tmp_path / "plan", sim, monkeypatch)
    # Someone else edits a field the sheet does not even touch.
    sim.state.edit((ORG, WS, "cmp-000003"), {"description": "changed behind our back"})

    run = await apply_plan(tmp_path / "plan", sim, monkeypatch)

    assert run.code == 1
    results = {r["campaign_id"]: r for r in run.results()}
    assert results["cmp-000003"]["outcome"] == "skipped"
    assert "changed since the plan was approved (updated_at" in results["cmp-000003"]["reason"]
    assert "make a new plan" in results["cmp-000003"]["reason"]
    assert f"{ORG}/{WS}/cmp-000003" not in sim.stats()["patches_applied"]
    assert {r["outcome"] for c, r in results.items() if c != "cmp-000003"} == {"updated"}


def _edit_rows(plan_dir: Path) -> None:
    path = plan_dir / "plan-rows.jsonl"
    path.write_text(path.read_text().replace("20:45", "23:45"))


def _edit_sheet(plan_dir: Path) -> None:
    path = plan_dir / "changes.csv"
    path.write_text(path.read_text().replace("20:45", "23:45"))


def _edit_plan_json(plan_dir: Path) -> None:
    path = plan_dir / "plan.json"
    plan = json.loads(path.read_text())
    plan["options"]["pause_active"] = True
    path.write_text(json.dumps(plan))


def _drop_page(plan_dir: Path) -> None:
    (plan_dir / "plan.html").unlink()


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_edit_rows, "plan-rows.jsonl: it changed (sha256)"),
        (_edit_sheet, "changes.csv: it changed (sha256)"),
        (_edit_plan_json, "does not match its digest"),
        (_drop_page, "plan.html: it is missing"),
    ],
    ids=["rows", "sheet", "plan.json", "page"],
)
async def test_a_plan_directory_in_which_anything_changed_is_refused_and_nothing_sent(
    tamper: Any,
    message: str,
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = await editable(start_simulator, 3)
    sheet = sheet_of(tmp_path, ids(3), **{"allowed_schedule.allowed_end_time": "20:45"})
    await plan_to(sheet, tmp_path / "plan", sim, monkeypatch)
    tamper(tmp_path / "plan")
    sent_before = sim.stats()["requests_total"]

    run = await apply_plan(tmp_path / "plan", sim, monkeypatch)

    assert run.code == 2
    assert message in run.output
    assert "Make a new plan" in run.output
    assert sim.stats()["requests_total"] == sent_before


def _rehash(plan_dir: Path) -> None:
    """What someone who edits a plan does next: plan.json's sha256 and digest made to match."""
    from bulkpatch.engine.planfile import directory_digest

    path = plan_dir / "plan.json"
    plan = json.loads(path.read_text())
    plan["digest"], plan["files"] = directory_digest(plan_dir, plan)
    path.write_text(json.dumps(plan))


def _page_rehashed(plan_dir: Path) -> None:
    path = plan_dir / "plan.html"
    path.write_text(path.read_text().replace("20:45", "23:45"))
    _rehash(plan_dir)


def _sheet_rehashed(plan_dir: Path) -> None:
    _edit_sheet(plan_dir)
    _rehash(plan_dir)


def _rows_rehashed(plan_dir: Path) -> None:
    _edit_rows(plan_dir)
    _rehash(plan_dir)


def _digest_shown_changed(plan_dir: Path) -> None:
    """The page made to show another digest: it still hashes as it did."""
    path = plan_dir / "plan.html"
    plan = json.loads((plan_dir / "plan.json").read_text())
    path.write_text(path.read_text().replace(plan["digest"], "sha256:" + "e" * 64))


@pytest.mark.parametrize(
    "tamper",
    [_page_rehashed, _sheet_rehashed, _rows_rehashed],
    ids=["page", "sheet", "rows"],
)
async def test_a_plan_edited_and_rehashed_is_refused_for_its_digest_is_not_the_approved_one(
    tamper: Any, tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await editable(start_simulator, 3)
    sheet = sheet_of(tmp_path, ids(3), **{"allowed_schedule.allowed_end_time": "20:45"})
    await plan_to(sheet, tmp_path / "plan", sim, monkeypatch)
    approved = json.loads((tmp_path / "plan" / "plan.json").read_text())["digest"]
    tamper(tmp_path / "plan")
    sent_before = sim.stats()["requests_total"]

    run = await apply_plan(tmp_path / "plan", sim, monkeypatch, approved_digest=approved)

    assert run.code == 2
    assert f"not the approved {approved} (--approved-digest)" in run.output
    assert sim.stats()["requests_total"] == sent_before


async def test_the_digest_covers_the_page_but_not_the_digest_it_shows(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await editable(start_simulator, 2)
    sheet = sheet_of(tmp_path, ids(2), **{"allowed_schedule.allowed_end_time": "20:45"})
    await plan_to(sheet, tmp_path / "plan", sim, monkeypatch)
    approved = json.loads((tmp_path / "plan" / "plan.json").read_text())["digest"]
    page = (tmp_path / "plan" / "plan.html").read_text()
    assert f'<span class="mono" id="plan-digest">{approved}</span>' in page
    _digest_shown_changed(tmp_path / "plan")

    run = await apply_plan(tmp_path / "plan", sim, monkeypatch, approved_digest=approved[7:])

    assert run.code == 0, run.output
    assert run.summary_json()["plan"]["approved_digest"] == approved


async def test_a_sheet_given_with_the_plan_must_be_the_sheet_planned(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await editable(start_simulator, 3)
    sheet = sheet_of(tmp_path, ids(3), name="Spring sale")
    await plan_to(sheet, tmp_path / "plan", sim, monkeypatch)
    other = write_sheet(
        tmp_path / "other.csv",
        [{"org_id": ORG, "workspace_id": WS, "campaign_id": "cmp-000001", "name": "Autumn"}],
    )

    refused = await apply_plan(tmp_path / "plan", sim, monkeypatch, sheet=other)
    shaped = await apply_plan(tmp_path / "plan", sim, monkeypatch, given={"org": "org-other"})
    same = await apply_plan(tmp_path / "plan", sim, monkeypatch, sheet=sheet)

    assert refused.code == 2
    assert "is not the sheet the plan" in refused.output
    assert shaped.code == 2
    assert "--org 'org-other' differs from the plan's" in shaped.output
    assert same.code == 0, same.output
    assert sim.stats()["patches_applied"] == {f"{ORG}/{WS}/{c}": 1 for c in ids(3)}


async def test_a_campaign_the_plan_could_not_read_is_not_written_when_it_appears_later(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await editable(start_simulator, 2)
    sheet = sheet_of(tmp_path, [*ids(2), "cmp-late"], name="Spring sale")
    planned = await plan_to(sheet, tmp_path / "plan", sim, monkeypatch)
    assert {r["campaign_id"]: r["outcome"] for r in planned.results("plan.csv")}[
        "cmp-late"
    ] == "rejected"
    sim.state.add((ORG, WS, "cmp-late"), {"status": "paused"})

    run = await apply_plan(tmp_path / "plan", sim, monkeypatch)

    late = {r["campaign_id"]: r for r in run.results()}["cmp-late"]
    assert late["outcome"] == "skipped"
    assert "the plan could not read this campaign (it was rejected there)" in late["reason"]
    assert f"{ORG}/{WS}/cmp-late" not in sim.stats()["patches_applied"]


async def test_a_resumed_plan_run_keeps_holding_its_rows_to_its_own_copy_of_the_plan(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await editable(start_simulator, 10)
    sheet = sheet_of(tmp_path, ids(10), **{"app_config.attempts_per_second": "3.5"})
    await plan_to(sheet, tmp_path / "plan", sim, monkeypatch)
    first = await apply_plan(tmp_path / "plan", sim, monkeypatch, overrides={"canary": 2})
    assert first.code == 0, first.output
    shutil.rmtree(tmp_path / "plan")  # the run keeps its own copy
    waiting = sorted(c for c, o in first.outcomes().items() if o == "not_attempted")
    assert len(waiting) == 8
    changed = waiting[-1]
    sim.state.edit((ORG, WS, changed), {"name": "Renamed by ops"})

    resumed = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=first.run_dir)

    outcomes = resumed.outcomes()
    assert outcomes[changed] == "skipped"
    assert {o for c, o in outcomes.items() if c != changed} == {"updated"}
    assert f"{ORG}/{WS}/{changed}" not in sim.stats()["patches_applied"]


# -- the rule itself -------------------------------------------------------------------------

KEY = CampaignKey(ORG, WS, "c1")
CHANGE = RowChange(1, KEY, {"name": "New"})
CHANGES = (FieldChange("name", "Old", "New"),)
STAMP = "2026-01-10T10:00:00Z"


def approval(**row: Any) -> Approval:
    planned = {
        "row": 1,
        "campaign": str(KEY),
        "outcome": "updated",
        "updated_at": STAMP,
        "changes": canonical(changes_list(CHANGES)),
        **row,
    }

    class Plan:
        rows: ClassVar[dict[int, PlannedRow]] = {1: PlannedRow(**planned)}

    return Approval(Plan())  # type: ignore[arg-type]


def test_a_row_goes_as_planned_when_its_stamp_and_changes_are_the_plans() -> None:
    plan = Patch(body={"name": "New"}, updated_at="2026-01-10T15:30:00+05:30", changes=CHANGES)
    assert approval().check(plan, CHANGE) is plan


@pytest.mark.parametrize(
    ("plan", "planned", "why"),
    [
        (
            Patch(
                body={"name": "Newer"},
                updated_at=STAMP,
                changes=(FieldChange("name", "Old", "Newer"),),
            ),
            {},
            "its changes now differ",
        ),
        (Patch(body={}, updated_at=STAMP, changes=CHANGES), {"outcome": "skipped"}, "differ"),
        (Patch(body={}, updated_at="2026-01-11T00:00:00Z", changes=CHANGES), {}, "changed since"),
        (Unchanged(updated_at="2026-01-11T00:00:00Z"), {}, "changed since"),
        (Patch(body={}, updated_at=STAMP, changes=CHANGES), {"campaign": "o/w/c2"}, "not in the"),
    ],
    ids=["other-values", "not-planned-to-write", "moved", "moved-unchanged", "other-campaign"],
)
def test_a_row_that_is_not_what_was_approved_becomes_stale(
    plan: Any, planned: dict[str, Any], why: str
) -> None:
    checked = approval(**planned).check(plan, CHANGE)
    assert isinstance(checked, Stale)
    assert why in checked.mismatches[0]


def test_a_write_in_doubt_that_landed_is_not_mistaken_for_someone_elses_change() -> None:
    landed = Unchanged(updated_at="2026-01-11T00:00:00Z")
    assert approval().check(landed, CHANGE, in_doubt=True) is landed


@pytest.mark.slow
async def test_the_command_line_applies_a_plan_and_refuses_what_does_not_go_together(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await editable(start_simulator, 3)
    sheet = sheet_of(tmp_path, ids(3), name="Spring sale")
    key = sim.config.api_key
    base = ("--base-url", sim.base_url, "--rate", "unlimited", "--report-dir", tmp_path / "r")

    planned = await bulkpatch(
        "plan", sheet, "--out", tmp_path / "plan", *base, "--json", api_key=key
    )
    no_sheet = await bulkpatch("run", *base, api_key=key)
    lonely = await bulkpatch("run", sheet, "--approved-by", "x", *base, api_key=key)
    approved = (
        "--approved-digest",
        json.loads((tmp_path / "plan" / "plan.json").read_text())["digest"],
    )
    shaped = await bulkpatch(
        "run", "--plan", tmp_path / "plan", *approved, "--org", "org-z", *base, api_key=key
    )
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())
    unpinned = await bulkpatch("run", "--plan", tmp_path / "plan", *base, api_key=key)
    wrong = await bulkpatch(
        "run", "--plan", tmp_path / "plan", "--approved-digest", "sha256:" + "a" * 64,
        *base, api_key=key,
    )  # fmt: skip
    async with aiohttp.ClientSession() as http, http.get(f"{sim.root_url}/_sim/stats") as seen:
        patched_before = "PATCH" in (await seen.json())["requests"]
    applied = await bulkpatch(
        "run", "--plan", tmp_path / "plan", "--approved-by", "asha",
        "--approved-digest", plan["digest"], *base, "--json", api_key=key,
    )  # fmt: skip

    assert planned.returncode == 0, planned.stderr.decode()
    assert f"--approved-digest {plan['digest']}".encode() in planned.stderr
    assert json.loads(planned.stdout)["digest"] == plan["digest"]
    assert unpinned.returncode == 2
    assert b"give --approved-digest" in unpinned.stderr
    assert wrong.returncode == 2
    assert b"not the approved sha256:aaaa" in wrong.stderr
    assert not patched_before
    assert no_sheet.returncode == 2
    assert b"Missing argument 'SHEET' (or --plan PLAN_DIR)" in no_sheet.stderr
    assert lonely.returncode == 2
    assert b"use it with --plan" in lonely.stderr
    assert shaped.returncode == 2
    assert b"differs from the plan's" in shaped.stderr
    assert applied.returncode == 0, applied.stderr.decode()
    applied_summary = json.loads(applied.stdout)
    assert applied_summary["approved_by"] == "asha"
    assert applied_summary["plan"]["approved_digest"] == plan["digest"]
    assert sim.stats()["patches_applied"] == {f"{ORG}/{WS}/{c}": 1 for c in ids(3)}


def test_the_plan_page_marks_the_days_a_row_adds_and_removes() -> None:
    from bulkpatch.html.planpage import render_plan_page

    change = ["allowed_schedule.allowed_days", ["Monday", "Tuesday", "Sunday"],
              ["Monday", "Tuesday", "Saturday"]]  # fmt: skip
    row = {"row": 1, "campaign": "o/w/c1", "outcome": "updated", "changes": [change]}

    page = render_plan_page([row], {"digest": "sha256:" + "0" * 64})

    assert "Monday, Tuesday, <del>Sunday</del>" in page
    assert "Monday, Tuesday, <ins>Saturday</ins>" in page
