"""Sharded runs and ``bulkpatch merge``: an incomplete merge never says it is complete, --out never
replaces a shard's own reports, next steps resume the shard that stopped, a shard counts its own
rows, and --shard with --shards is refused."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from bulkpatch.core.errors import UsageError
from bulkpatch.core.events import Progress, RunStarted
from bulkpatch.core.options import RunOptions
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.shards import Shard, shard_of
from bulkpatch.ops.apply import apply_sheet_async
from bulkpatch.ops.merge import merge_run_dirs
from bulkpatch.rundir.journal import read_journal
from bulkpatch.rundir.names import JOURNAL
from bulkpatch.simulator import SimulatorConfig
from support.runs import StartSimulator, bulkpatch, campaign_rows, run_sheet, write_sheet

ORG, WS = "org-m", "ws-m"


def names(n: int, prefix: str = "m") -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


def paused(campaigns: list[str]) -> dict[Any, dict[str, Any]]:
    return {(ORG, WS, c): {"status": "paused"} for c in campaigns}


def results(folder: Path) -> list[dict[str, str]]:
    with (folder / "results.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def summary(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    return data


def shard_label(campaign: str, count: int) -> str:
    return f"{shard_of(CampaignKey(ORG, WS, campaign), count)}/{count}"


async def run_shard(
    sheet: Path, sim: Any, monkeypatch: pytest.MonkeyPatch, shard: str, report_dir: Path
) -> Path:
    run = await run_sheet(sheet, sim, monkeypatch, shard=shard, report_dir=report_dir)
    assert run.run_dir is not None, run.output
    return run.run_dir


async def test_merging_one_shard_of_four_reports_the_others_rows_not_attempted_and_exits_3(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaigns = names(20)
    sim = await start_simulator(overrides=paused(campaigns))
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(campaigns, ORG, WS, name="M"))
    one = await run_shard(sheet, sim, monkeypatch, "1/4", tmp_path / "r")

    done = await bulkpatch("merge", one, "--out", tmp_path / "m")
    assert done.returncode == 3, done.stderr.decode()
    assert b"2/4, 3/4, 4/4 are missing" in done.stderr
    merged = results(tmp_path / "m")
    assert [r["campaign_id"] for r in merged] == campaigns  # every row of the sheet, in order
    for r in merged:
        label = shard_label(r["campaign_id"], 4)
        if label == "1/4":
            assert r["outcome"] == "updated"
        else:
            assert r["outcome"] == "not_attempted"
            assert f"shard {label} is not in this merge" in r["reason"]
    data = summary(tmp_path / "m")
    assert data["exit_code"] == 3
    assert data["rows"] == 20
    assert data["missing_shards"] == ["2/4", "3/4", "4/4"]
    commands = [s["command"] for s in data["next_steps"]]
    carry = f" --base-url {sim.base_url} --report-dir {tmp_path / 'r'}"  # the same API
    assert commands == [f"bulkpatch run {sheet} --shard {k}/4{carry}" for k in (2, 3, 4)]
    missing = {k: sum(shard_label(c, 4) == f"{k}/4" for c in campaigns) for k in (2, 3, 4)}
    assert [s["rows"] for s in data["next_steps"]] == [missing[k] for k in (2, 3, 4)]
    # Those rows are for their shard to do, not for the retry sheet.
    assert (tmp_path / "m" / "retry.csv").read_text().splitlines() == [
        "org_id,workspace_id,campaign_id,name"
    ]


async def test_merge_refuses_shards_of_different_splits_before_writing(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaigns = names(16)
    sim = await start_simulator(overrides=paused(campaigns))
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(campaigns, ORG, WS, name="M"))
    half = await run_shard(sheet, sim, monkeypatch, "1/2", tmp_path / "rs2")
    quarter = await run_shard(sheet, sim, monkeypatch, "2/4", tmp_path / "rs")

    with pytest.raises(UsageError, match=r"split the sheet differently \(N=2, N=4\)"):
        merge_run_dirs([half, quarter], tmp_path / "m")  # a usage error: exit 2
    assert not (tmp_path / "m").exists()


async def test_merge_refuses_an_out_that_is_or_is_inside_one_of_its_shards(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaigns = names(10)
    sim = await start_simulator(overrides=paused(campaigns))
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(campaigns, ORG, WS, name="M"))
    first = await run_shard(sheet, sim, monkeypatch, "1/2", tmp_path / "r")
    second = await run_shard(sheet, sim, monkeypatch, "2/2", tmp_path / "r")
    before = {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()}

    done = await bulkpatch("merge", first, second, "--out", first)
    assert done.returncode == 2, done.stderr.decode()
    assert b"would replace that shard's own" in done.stderr
    with pytest.raises(UsageError, match="is inside the run directory"):
        merge_run_dirs([first, second], second / "merged")
    assert not (second / "merged").exists()
    assert {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()} == before
    data, _ = merge_run_dirs([first, second], tmp_path / "m")
    assert data["exit_code"] == 0


async def test_merged_next_steps_resume_the_shard_that_stopped_and_retry_only_finished_rows(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaigns = names(40)
    in_shard = {c: shard_label(c, 2) for c in campaigns}
    active = [c for c in campaigns if in_shard[c] == "2/2"][:3]
    overrides = paused([c for c in campaigns if c not in active])
    overrides.update({(ORG, WS, c): {"status": "active"} for c in active})
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(campaigns, ORG, WS, name="M"))
    # Shard 1's key is revoked after a few requests: it stops, its later rows not attempted.
    revoking = await start_simulator(
        SimulatorConfig(
            api_key="key-shard-one", overrides=overrides, revoke_keys_after={"key-shard-one": 6}
        )
    )
    stopped = await run_sheet(
        sheet, revoking, monkeypatch, shard="1/2", report_dir=tmp_path / "r", concurrency=1
    )
    assert stopped.code == 3, stopped.output
    assert stopped.run_dir is not None
    # Shard 2 finishes; its active campaigns are skipped (a row that finished not OK).
    sim = await start_simulator(overrides=overrides)
    finished = await run_shard(sheet, sim, monkeypatch, "2/2", tmp_path / "r")

    done = await bulkpatch("merge", stopped.run_dir, finished, "--out", tmp_path / "m")
    assert done.returncode == 3, done.stderr.decode()
    data = summary(tmp_path / "m")
    merged = results(tmp_path / "m")
    left = [r for r in merged if r["outcome"] not in ("updated", "unchanged", "skipped")]
    assert left
    assert {in_shard[r["campaign_id"]] for r in left} == {"1/2"}
    commands = [s["command"] for s in data["next_steps"]]
    assert commands[0] == f"bulkpatch resume {stopped.run_dir}"
    assert data["next_steps"][0]["rows"] == len(left)
    # The merged retry file goes to the API and report directory of the first shard merged.
    assert commands[1:] == [
        f"bulkpatch run {tmp_path / 'm' / 'retry.csv'} --pause-active"
        f" --base-url {revoking.base_url} --report-dir {tmp_path / 'r'}"
    ]
    assert data["next_steps"][1]["rows"] == len(active)
    with (tmp_path / "m" / "retry.csv").open(newline="", encoding="utf-8") as f:
        retry = list(csv.DictReader(f))
    assert [r["campaign_id"] for r in retry] == active
    assert f"bulkpatch resume {stopped.run_dir}" in done.stderr.decode()


async def test_a_shard_counts_its_own_rows_and_keeps_the_sheets_and_merge_adds_them_up(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaigns = names(40)
    sim = await start_simulator(overrides=paused(campaigns))
    monkeypatch.setenv("SARVAM_API_KEY", sim.config.api_key)
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(campaigns, ORG, WS, name="M"))
    dirs = []
    for k in range(1, 5):
        events: list[Any] = []
        options = RunOptions(
            base_url=sim.base_url, rate=None, report_dir=tmp_path / "r", shard=f"{k}/4"
        )
        done = await apply_sheet_async(sheet, options=options, on_event=events.append)
        mine = sum(Shard(k, 4).holds(CampaignKey(ORG, WS, c)) for c in campaigns)
        assert 0 < mine < 40
        (started,) = [e for e in events if isinstance(e, RunStarted)]
        assert started.rows == mine
        progress = [e for e in events if isinstance(e, Progress)]
        assert progress[-1].total == progress[-1].done == mine
        data = done.as_dict()
        assert (data["rows"], data["sheet_rows"]) == (mine, 40)
        start = read_journal(done.run_dir / JOURNAL).start
        assert start is not None
        assert start["rows"] == mine
        dirs.append(done.run_dir)
    merged = await bulkpatch("merge", *dirs, "--out", tmp_path / "m")
    assert merged.returncode == 0, merged.stderr.decode()
    data = summary(tmp_path / "m")
    assert (data["rows"], data["outcomes"]["updated"], data["next_steps"]) == (40, 40, [])


async def test_shard_and_shards_together_are_refused_before_sending(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(overrides=paused(names(4)))
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(names(4), ORG, WS, name="M"))
    done = await bulkpatch(
        "run",
        sheet,
        "--shard",
        "1/4",
        "--shards",
        "3",
        "--base-url",
        sim.base_url,
        "--report-dir",
        tmp_path / "r",
        api_key=sim.config.api_key,
    )
    assert done.returncode == 2, done.stderr.decode()
    assert b"not both" in done.stderr
    assert sim.stats()["requests_total"] == 0


async def test_a_merge_cut_short_leaves_the_earlier_merge_whole_and_the_next_one_cleans_up(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaigns = names(12)
    sim = await start_simulator(overrides=paused(campaigns))
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(campaigns, ORG, WS, name="M"))
    one = await run_shard(sheet, sim, monkeypatch, "1/2", tmp_path / "r")
    two = await run_shard(sheet, sim, monkeypatch, "2/2", tmp_path / "r")
    out = tmp_path / "m"
    merge_run_dirs([one], out)  # shard 2/2 missing: an incomplete merge
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(earlier) == ["results.csv", "retry.csv", "summary.json"]

    def disk_gone(path: Path, data: Any) -> None:
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patched:  # results.csv and retry.csv written, then a fault
        patched.setattr("bulkpatch.ops.merge.write_summary", disk_gone)
        with pytest.raises(OSError, match="Input/output error"):
            merge_run_dirs([one, two], out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier

    # What a merge killed with -9 mid-write leaves behind (this version's and an older one's).
    (out / ".merging").mkdir()
    (out / ".merging" / "results.csv").write_text("row\n")
    for name in (".results.csv.tmp", ".retry.csv.1a2b3c4d.tmp", ".summary.json.tmp"):
        (out / name).write_text("cut short")
    data, warnings = merge_run_dirs([one, two], out)

    assert sorted(p.name for p in out.iterdir()) == ["results.csv", "retry.csv", "summary.json"]
    assert (data["exit_code"], warnings) == (0, [])
    assert summary(out) == json.loads(json.dumps(data))
    assert [r["outcome"] for r in results(out)] == ["updated"] * len(campaigns)
