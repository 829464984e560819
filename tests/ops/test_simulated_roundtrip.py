"""The whole round trip on one machine with no key: ``run --simulate``, ``verify --simulate``,
``undo --simulate``, ``verify --simulate`` again -- each starting a simulator from the campaigns
the last one ended with (``simulator-state.json`` in the run directory)."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

from support.runs import bulkpatch, run_dirs, write_sheet

NAMES = {"cmp-000001": "Renamed one", "cmp-000002": "Renamed two", "cmp-000003": "Renamed three"}


def verdicts(run_dir: Path) -> dict[str, str]:
    with (run_dir / "verify.csv").open(newline="", encoding="utf-8") as f:
        return {r["campaign_id"]: r["verdict"] for r in csv.DictReader(f)}


def names_in_state(run_dir: Path) -> dict[str, str]:
    data = json.loads((run_dir / "simulator-state.json").read_text(encoding="utf-8"))
    return {c["campaign_id"]: c["name"] for c in data["campaigns"]}


async def test_run_verify_undo_and_verify_again_all_under_simulate_through_the_cli(
    tmp_path: Path,
) -> None:
    rows = [
        {"org_id": "org-demo", "workspace_id": "ws-demo", "campaign_id": cid, "name": name}
        for cid, name in NAMES.items()
    ]
    sheet = write_sheet(tmp_path / "rename.csv", rows)
    reports = tmp_path / "reports"
    common = ("--report-dir", reports, "--rate", "unlimited", "--quiet")

    ran = await bulkpatch("run", sheet, "--simulate", "--pause-active", *common, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr.decode()
    (run_dir,) = run_dirs(reports)
    state = run_dir / "simulator-state.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert set(json.loads(state.read_text())) == {"format", "campaigns"}  # no key, no stats
    assert names_in_state(run_dir) == NAMES

    verified = await bulkpatch("verify", run_dir, "--simulate", "--quiet", cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr.decode()
    assert verdicts(run_dir) == dict.fromkeys(NAMES, "holds")

    undone = await bulkpatch("undo", run_dir, "--simulate", *common, cwd=tmp_path)
    assert undone.returncode == 0, undone.stderr.decode()
    (undo_dir,) = [d for d in run_dirs(reports) if d != run_dir]
    before = names_in_state(undo_dir)
    assert names_in_state(run_dir) == before  # written back to the run's own state
    assert not set(before.values()) & set(NAMES.values())

    again = await bulkpatch("verify", run_dir, "--simulate", "--quiet", cwd=tmp_path)
    assert again.returncode == 1, again.stderr.decode()
    assert verdicts(run_dir) == dict.fromkeys(NAMES, "drifted")
    assert "Renamed one -> " in again.stderr.decode()

    undo_verified = await bulkpatch("verify", undo_dir, "--simulate", "--quiet", cwd=tmp_path)
    assert undo_verified.returncode == 0, undo_verified.stderr.decode()


async def test_verify_and_undo_say_when_simulate_does_not_match_how_the_run_ran(
    tmp_path: Path,
) -> None:
    rows = [{"org_id": "o", "workspace_id": "w", "campaign_id": "c1", "name": "New name"}]
    sheet = write_sheet(tmp_path / "one.csv", rows)
    reports = tmp_path / "reports"
    ran = await bulkpatch("run", sheet, "--simulate", "--pause-active", "--report-dir", reports)
    assert ran.returncode in (0, 1), ran.stderr.decode()
    (run_dir,) = run_dirs(reports)

    for command in ("verify", "undo"):
        refused = await bulkpatch(command, run_dir, "--quiet")
        err = refused.stderr.decode()
        assert refused.returncode == 2, err
        assert f"this run used --simulate: add --simulate to {command} it" in err
        assert "Traceback" not in err

    (run_dir / "simulator-state.json").unlink()
    gone = await bulkpatch("verify", run_dir, "--simulate", "--quiet")
    assert gone.returncode == 2
    assert "left no simulator-state.json" in gone.stderr.decode()
