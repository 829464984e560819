"""The safe round trip, end to end, with ``bulkpatch simulate`` serving in a process of its own.

export 500 campaigns by a --where -> edit 200 cells in the CSV and in an .xlsx copy -> plan --out
-> run --plan --canary 10 -> resume -> verify (all hold) -> 5 campaigns changed behind our back
-> undo (those 5 skipped as stale, the other 95 back byte for byte to their exported values).
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from bulkpatch.sheet import open_sheet, write_table
from support.roundtrips import read_csv
from support.runs import bulkpatch, bulkpatch_running

pytestmark = pytest.mark.slow

ORG, WS = "org-demo", "ws-demo"
KEY = "sim-key"
# 1275 generated campaigns with seed 3 hold exactly 500 paused or scheduled ones in Asia/Kolkata
# (the simulator spreads calling hours over four zones).
GENERATE, SEED, EXPORTED = 1275, 3, 500
WHERE = "allowed_schedule.timezone=Asia/Kolkata"
EDITS = {"allowed_schedule.allowed_start_time": "06:40", "app_config.app_version": "12"}
COLUMNS = ",".join(
    [
        "allowed_schedule.allowed_start_time",
        "allowed_schedule.allowed_end_time",
        "app_config.app_version",
        "name",
    ]
)


@asynccontextmanager
async def simulator_process(*args: str) -> AsyncIterator[str]:
    """``bulkpatch simulate`` on a free port in its own process; yields its base URL."""
    async with bulkpatch_running("simulate", "--port", "0", *args) as process:
        with anyio.fail_after(30):
            while not (found := re.search(rb"base URL: (\S+)", process.stdout)):
                assert process.returncode is None, "the simulator exited before it was ready"
                await anyio.sleep(0.01)
        try:
            yield found[1].decode()
        finally:
            process.send_signal(signal.SIGTERM)


async def campaigns(http: aiohttp.ClientSession, root: str) -> dict[str, dict[str, Any]]:
    async with http.get(f"{root}/_sim/campaigns") as response:
        data = await response.json()
    return {c["campaign_id"]: c for c in data["campaigns"]}


def edited_copy(source: Path, target: Path, chosen: set[str]) -> int:
    """``source`` with EDITS made in the rows of ``chosen`` campaigns, as ``target`` (CSV or
    .xlsx by extension); returns the number of cells edited."""
    sheet = open_sheet(source)
    rows: list[list[Any]] = []
    cells = 0
    for _, row in sheet.iter_rows(raw=True):
        if row["campaign_id"] in chosen:
            row = {**row, **EDITS}
            cells += len(EDITS)
        rows.append([row.get(c) for c in sheet.columns])
    write_table(target, sheet.columns, rows)
    return cells


def plan_by_campaign(plan_dir: Path) -> dict[str, tuple[Any, ...]]:
    rows = [json.loads(line) for line in (plan_dir / "plan-rows.jsonl").read_text().splitlines()]
    return {r["campaign"]: (r["outcome"], r["updated_at"], r["changes"]) for r in rows}


async def test_export_edit_plan_canary_resume_verify_and_undo_against_a_simulator_process(
    tmp_path: Path,
) -> None:
    async with (
        simulator_process("--generate", str(GENERATE), "--seed", str(SEED)) as base,
        aiohttp.ClientSession() as http,
    ):
        root = base.removesuffix("/api/scheduling")
        common = ("--base-url", base, "--rate", "unlimited")
        reports = ("--report-dir", tmp_path / "reports")

        async def cli(*args: Any) -> tuple[int, str, str]:
            done = await bulkpatch(*args, api_key=KEY, cwd=tmp_path)
            return done.returncode, done.stdout.decode(), done.stderr.decode()

        # 1. Export the paused and scheduled campaigns in Asia/Kolkata.
        code, _, err = await cli(
            "export", tmp_path / "live.csv", "--org", ORG, "--workspace", WS,
            "--status", "paused,scheduled", "--where", WHERE, "--columns", COLUMNS, *common,
        )  # fmt: skip
        assert code == 0, err
        exported = read_csv(tmp_path / "live.csv")
        assert len(exported) == EXPORTED
        snapshot = await campaigns(http, root)
        assert {r["campaign_id"] for r in exported} == {
            c
            for c, d in snapshot.items()
            if d["status"] in ("paused", "scheduled")
            and d["allowed_schedule"]["timezone"] == "Asia/Kolkata"
        }

        # 2. Edit 200 cells: two fields of every fifth campaign, in the CSV and in an .xlsx
        # copy of it (text cells, as a spreadsheet saves them).
        chosen = {r["campaign_id"] for r in exported[::5]}
        assert len(chosen) == 100
        assert edited_copy(tmp_path / "live.csv", tmp_path / "edited.csv", chosen) == 200
        assert edited_copy(tmp_path / "live.csv", tmp_path / "edited.xlsx", chosen) == 200

        # 3. Plan both; the two plans agree campaign by campaign.
        for sheet, out in (("edited.csv", "plan-csv"), ("edited.xlsx", "plan-xlsx")):
            code, _, err = await cli("plan", tmp_path / sheet, "--out", tmp_path / out, *common,
                                     *reports, "--quiet")  # fmt: skip
            assert code == 0, err
        plan = plan_by_campaign(tmp_path / "plan-xlsx")
        assert plan == plan_by_campaign(tmp_path / "plan-csv")
        assert sum(1 for o, _, _ in plan.values() if o == "updated") == 100
        digest = json.loads((tmp_path / "plan-xlsx" / "plan.json").read_text())["digest"]

        # 4. Apply the approved .xlsx plan with a canary of 10: it stops, exit 0.
        code, out, err = await cli(
            "run", "--plan", tmp_path / "plan-xlsx", "--approved-by", "asha.rao",
            "--approved-digest", digest, "--canary", "10", *reports, "--rate", "unlimited",
            "--json",
        )  # fmt: skip
        assert code == 0, err
        summary = json.loads(out)
        run_dir = Path(summary["run_dir"])
        assert summary["canary"]["decision"] == "stopped"
        assert summary["plan"]["digest"] == digest
        assert summary["approved_by"] == "asha.rao"
        assert summary["outcomes"]["updated"] == 10
        async with http.get(f"{root}/_sim/stats") as response:
            assert len((await response.json())["patches_applied"]) == 10

        # 5. Resume: the rest, without stopping again.
        code, out, err = await cli("resume", run_dir, "--json")
        assert code == 0, err
        outcomes = json.loads(out)["outcomes"]
        assert (outcomes["updated"], outcomes["unchanged"]) == (100, 400)

        # 6. Verify: every row holds.
        code, out, err = await cli("verify", run_dir, "--json")
        assert code == 0, err
        assert json.loads(out)["verdicts"] == {"holds": 500, "drifted": 0, "gone": 0, "unknown": 0}

        # 7. Someone changes 5 of the edited campaigns behind our back.
        meddled = sorted(chosen)[:5]
        for cid in meddled:
            async with http.patch(
                f"{root}/_sim/campaigns/{ORG}/{WS}/{cid}", json={"description": "ops was here"}
            ) as response:
                assert response.status == 200

        # 8. Undo: those 5 are skipped as stale; the other 95 go back exactly.
        code, out, err = await cli("undo", run_dir, "--json")
        assert code == 1, err
        undone = json.loads(out)
        assert undone["outcomes"]["updated"] == 95
        assert undone["outcomes"]["skipped"] == 5
        results = read_csv(Path(undone["run_dir"]) / "results.csv")
        assert {r["campaign_id"] for r in results if r["outcome"] == "skipped"} == set(meddled)
        assert all(
            r["reason"].startswith("stale: expected updated_at")
            for r in results
            if r["outcome"] == "skipped"
        )
        now = await campaigns(http, root)
        for row in exported:
            cid = row["campaign_id"]
            if cid in meddled:
                assert now[cid]["allowed_schedule"]["allowed_start_time"] == "06:40"
                assert now[cid]["app_config"]["app_version"] == 12
                assert now[cid]["description"] == "ops was here"
                continue
            for name in ("allowed_schedule", "app_config", "name", "description", "status"):
                assert json.dumps(now[cid][name]) == json.dumps(snapshot[cid][name]), (cid, name)
            assert (
                now[cid]["allowed_schedule"]["allowed_start_time"]
                == row["allowed_schedule.allowed_start_time"]
            )
            assert str(now[cid]["app_config"]["app_version"]) == row["app_config.app_version"]
        # Campaigns the export left out were never touched.
        for cid, detail in now.items():
            if cid not in {r["campaign_id"] for r in exported}:
                assert detail == snapshot[cid]
    assert os.environ.get("SARVAM_API_KEY") != KEY  # the key went to the children only
