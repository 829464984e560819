"""Campaigns left paused (issue 10, items 1 and 2, and its closing run).

A campaign that ``--pause-active`` paused and nobody resumed stops dialling: the costliest way a
bulk edit can go wrong.  These tests kill runs mid-way, re-save or delete their sheets, and
exhaust an org's limit of live campaigns, and check on the server that nothing stays paused
unless it is named, loudly, with the command that resumes it.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import LEFT_PAUSED_NOTE, RESUMED_LATER_NOTE, RowResult, resumed_later
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.values import get_path
from bulkpatch.rundir.journal import read_journal
from bulkpatch.simulator import SimulatorConfig
from support.faketime import FakeTime
from support.runs import (
    StartSimulator,
    bulkpatch,
    bulkpatch_running,
    campaign_rows,
    only_run_dir,
    run_dirs,
    run_sheet,
    write_sheet,
)
from support.scripted import scripted_simulator

ORG, WS = "org-p", "ws-p"
VERSION = "app_config.app_version"
TARGET = 11


def ids(n: int, prefix: str = "p") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


def all_active(names: list[str]) -> dict[Any, dict[str, Any]]:
    return {(ORG, WS, c): {"status": "active", VERSION: 1} for c in names}


def patched(sim: Any) -> int:
    return int(sim.stats()["patches_applied_total"])


def paused_now(sim: Any, names: list[str]) -> list[str]:
    return [c for c in names if sim.state.status_of((ORG, WS, c)) == "paused"]


async def kill_while_paused(args: list[str], sim: Any, names: list[str]) -> list[str]:
    """Start ``bulkpatch ARGS``; kill -9 it the moment it holds campaigns paused (mid-row).
    Returns the campaigns then paused."""
    async with bulkpatch_running(*args, api_key=sim.config.api_key) as process:
        with anyio.fail_after(20):
            while (
                not (paused := paused_now(sim, names)) or sim.stats()["patches_applied_total"] < 3
            ):
                assert process.returncode is None, "the run ended before it could be killed"
                await anyio.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        await process.wait()
    return paused_now(sim, names) or paused


def lf_sheet(path: Path, names: list[str]) -> Path:
    """The nightly sheet, with LF line ends (as an export on Linux writes it)."""
    write_sheet(path, campaign_rows(names, ORG, WS, **{VERSION: str(TARGET)}))
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
    return path


def crlf(path: Path) -> None:
    """Re-save the sheet as a spreadsheet would on Windows: same rows, CRLF line ends."""
    before = path.read_bytes()
    path.write_bytes(before.replace(b"\n", b"\r\n"))
    assert path.read_bytes() != before


# -- 1. resume works from the run's own copy; a new run names what an earlier one left paused ----


@pytest.mark.parametrize("afterwards", ["re-saved with CRLF", "deleted"])
async def test_after_kill_9_with_campaigns_paused_resume_works_whatever_became_of_the_sheet(
    tmp_path: Path, start_simulator: StartSimulator, afterwards: str
) -> None:
    names = ids(24)
    sim = await start_simulator(latency_ms=30, overrides=all_active(names))
    sheet = lf_sheet(tmp_path / "nightly.csv", names)
    reports = tmp_path / "reports"
    args = ["run", str(sheet), "--base-url", sim.base_url, "--rate", "unlimited",
            "--pause-active", "--report-dir", str(reports), "--quiet"]  # fmt: skip
    paused = await kill_while_paused(args, sim, names)
    assert paused
    if afterwards == "deleted":
        sheet.unlink()
    else:
        crlf(sheet)
    run_dir = only_run_dir(reports)

    done = await bulkpatch("resume", run_dir, api_key=sim.config.api_key)

    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "is gone or has changed since the run started" in err
    assert f"own copy {run_dir / 'sheet.csv'}" in err
    assert paused_now(sim, names) == []
    stats = sim.stats()
    assert stats["max_patches_per_campaign"] == 1, stats["patches_applied"]
    for name in names:
        assert get_path(sim.state.get((ORG, WS, name)), VERSION) == TARGET
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["campaigns_left_paused"] == {}
    assert summary["outcomes"]["updated"] == len(names)


async def test_a_new_run_names_the_campaigns_an_earlier_killed_run_left_paused(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(24)
    sim = await start_simulator(latency_ms=30, overrides=all_active(names))
    sheet = lf_sheet(tmp_path / "nightly.csv", names)
    reports = tmp_path / "reports"
    args = ["run", str(sheet), "--base-url", sim.base_url, "--rate", "unlimited",
            "--pause-active", "--report-dir", str(reports), "--quiet"]  # fmt: skip
    paused = await kill_while_paused(args, sim, names)
    killed = only_run_dir(reports)
    left = read_journal(killed / "journal.jsonl").paused
    assert set(paused) <= {key.rsplit("/", 1)[1] for key in left}
    crlf(sheet)  # the user re-saves the sheet and starts it again instead of resuming

    again = await bulkpatch(*args[:-1], "--json", api_key=sim.config.api_key)

    err = again.stderr.decode()
    command = f"bulkpatch resume {killed}"
    assert f"were paused by an earlier bulkpatch run in {reports}" in err
    assert command in err
    new_dir = next(d for d in run_dirs(reports) if d != killed)
    summary = json.loads((new_dir / "summary.json").read_text())
    assert summary == json.loads(again.stdout)
    assert summary["campaigns_paused_by_earlier_runs"] == {k: str(killed) for k in left}
    tail = err[err.rindex("reports in") - 2000 :]  # named again at the end, where it is seen
    for key in list(left)[:3]:
        assert key in tail
    assert command in tail

    # The resume it names brings them back.
    done = await bulkpatch("resume", killed, "--quiet", api_key=sim.config.api_key)
    assert done.returncode == 0, done.stderr.decode()
    assert paused_now(sim, names) == []


# -- 2. once resuming is refused for good, pause no more; retry the few left; exit 3 ------------


async def test_after_a_resume_is_refused_for_good_no_more_campaigns_are_paused(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(generate=400, live_limit_per_org=5)
    org, ws = sim.config.org_id, sim.config.workspace_id
    names = [f"cmp-{i:06d}" for i in range(1, 401)]
    active = [c for c in names if sim.state.status_of((org, ws, c)) == "active"]
    assert len(active) > 40  # the org is far over its live limit already
    sheet = write_sheet(tmp_path / "limit.csv", campaign_rows(names, org, ws, **{VERSION: "3"}))
    reports = tmp_path / "reports"
    started = anyio.current_time()

    done = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--rate", "unlimited", "--pause-active",
        "--max-outage", "1", "--report-dir", reports, "--json", api_key=sim.config.api_key,
    )  # fmt: skip

    took = anyio.current_time() - started
    err = done.stderr.decode()
    assert done.returncode == 3, err
    left = [c for c in active if sim.state.status_of((org, ws, c)) == "paused"]
    # At most the campaigns already being paused when the first refusal came back.
    assert 1 <= len(left) <= 8, left
    summary = json.loads(done.stdout)
    assert sorted(summary["campaigns_left_paused"]) == sorted(f"{org}/{ws}/{c}" for c in left)
    for name in left:
        assert f"LEFT PAUSED: {org}/{ws}/{name}" in err
    run_dir = only_run_dir(reports)
    assert f"bulkpatch resume {run_dir}" in err
    rows = {r["campaign_id"]: r for r in _results(run_dir)}
    for name in left:
        assert rows[name]["outcome"] == "failed"
        assert "LEFT PAUSED" in rows[name]["reason"]
    skipped = [c for c in active if c not in left and rows[c]["outcome"] == "skipped"]
    assert len(skipped) >= len(active) - 8 - len(left)
    assert (
        f"bulkpatch pauses no more campaigns of org {org} in this run"
        in (rows[skipped[0]]["reason"])
    )
    steps = {step["reason"]: step for step in summary["next_steps"]}
    rerun = steps["campaign is active; pausing was stopped"]["command"]
    assert rerun == (
        f"bulkpatch run {run_dir / 'retry.csv'} --pause-active --base-url {sim.base_url}"
        f" --report-dir {reports}"
    )
    # Paused campaigns are tried again after the pool: every one at least twice in all.
    puts = sim.stats()["requests"]["PUT"]
    assert sum(puts.values()) >= 3 * len(left)
    assert "trying to resume them for up to 1 s" in err
    assert took < 30  # the campaigns left paused are retried for 1 s, not for ever


def _results(run_dir: Path) -> list[dict[str, str]]:
    import csv

    with (run_dir / "results.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- the closing run: every fault at once, 1,000 rows --------------------------------------------


def mixed_statuses(names: list[str]) -> dict[Any, dict[str, Any]]:
    cycle = ("active", "paused", "scheduled", "active", "paused", "ended", "cancelled")
    return {(ORG, WS, c): {"status": cycle[i % 7], VERSION: 1} for i, c in enumerate(names)}


async def test_a_thousand_rows_under_every_fault_each_get_one_right_outcome_none_left_paused(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ids(1000)
    statuses = mixed_statuses(names)
    sim = await start_simulator(
        fail_after_store_rate=0.1, reset_rate=0.05, fail_rate=0.05, overrides=statuses
    )
    sheet = write_sheet(tmp_path / "thousand.csv", campaign_rows(names, ORG, WS, **{VERSION: "11"}))
    fake = FakeTime()  # backoffs and breaker pauses take no real time

    run = await run_sheet(
        sheet, sim, monkeypatch, pause_active=True, concurrency=16, timing=fake.timing()
    )

    stats = sim.stats()
    for fault, least in [("failures_after_store", 50), ("injected_failures", 50),
                         ("resets_before_store", 10), ("resets_after_store", 10)]:  # fmt: skip
        assert stats[fault] > least, stats
    results = run.results()
    assert [int(r["row"]) for r in results] == list(range(1, 1001))  # one line per row
    for row in results:
        status = statuses[(ORG, WS, row["campaign_id"])]["status"]
        want = "skipped" if status in ("ended", "cancelled") else "updated"
        assert row["outcome"] == want, row
    assert stats["max_patches_per_campaign"] == 1, stats["patches_applied"]
    editable = [c for c in names if statuses[(ORG, WS, c)]["status"] not in ("ended", "cancelled")]
    assert stats["patches_applied_total"] == len(editable)
    active = [c for c in names if statuses[(ORG, WS, c)]["status"] == "active"]
    assert stats["max_status_changes_per_campaign"] == 2, stats["status_changes"]
    assert stats["status_changes_total"] == 2 * len(active)
    assert paused_now(sim, active) == []
    for name in editable:
        assert get_path(sim.state.get((ORG, WS, name)), VERSION) == TARGET, name
    assert run.summary()["campaigns_left_paused"] == {}
    assert run.code == 1  # the ended and cancelled rows are skipped


# -- a row whose campaign was left paused, once a later session resumed it -----------------------


def left_paused_row(outcome: Outcome, reason: str) -> RowResult:
    key = CampaignKey(ORG, WS, "a1")
    return RowResult(3, key, outcome, reason, campaign_status="paused", before={"name": "Old"})


def test_an_applied_update_left_paused_is_updated_once_resumed_and_keeps_its_undo_data() -> None:
    row = left_paused_row(
        Outcome.FAILED,
        "the update was applied, but resuming the campaign failed (HTTP 409: limit); "
        + LEFT_PAUSED_NOTE,
    )
    now = resumed_later(row)
    assert now.outcome is Outcome.UPDATED
    assert "LEFT PAUSED" not in now.reason
    assert now.campaign_status == "scheduled"
    assert now.before == {"name": "Old"}


def test_a_refused_update_left_paused_stays_rejected_once_resumed() -> None:
    row = left_paused_row(
        Outcome.REJECTED,
        "PATCH: locked; resuming the campaign failed (HTTP 409: limit); " + LEFT_PAUSED_NOTE,
    )
    now = resumed_later(row)
    assert now.outcome is Outcome.REJECTED
    assert now.reason == f"PATCH: locked; {RESUMED_LATER_NOTE}"
    unrelated = RowResult(4, None, Outcome.REJECTED, "PATCH: locked")
    assert resumed_later(unrelated) is unrelated


async def test_a_campaign_resumed_after_the_last_row_no_longer_reads_left_paused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def decide(method: str, path: str, nth: int, total: int) -> Any:
        if method == "PUT" and 2 <= nth <= 6:
            return (409, "Organisation is at its limit of live campaigns")  # the resume, 5 times
        return None

    config = SimulatorConfig(seed=3, overrides=all_active(["a1", "a2"]))
    sheet = write_sheet(tmp_path / "late.csv", campaign_rows(["a1"], ORG, WS, **{VERSION: "11"}))
    fake = FakeTime()
    async with scripted_simulator(config, decide) as sim:
        run = await run_sheet(
            sheet, sim, monkeypatch, pause_active=True, max_outage=120.0, timing=fake.timing()
        )
        assert sim.state.status_of((ORG, WS, "a1")) == "scheduled"
        assert sim.script.count("PUT") == 7  # pause, 5 refused resumes, the one that worked
        assert run.code == 0, run.output
        (row,) = run.results()
        assert row["outcome"] == "updated"
        assert "LEFT PAUSED" not in row["reason"]
        assert row["campaign_status"] == "scheduled"
        summary = run.summary()
        assert summary["campaigns_left_paused"] == {}
        assert summary["outcomes"]["updated"] == 1
        assert summary["outcomes"]["failed"] == 0
        assert summary["next_steps"] == []
        assert run.run_dir is not None
        assert (run.run_dir / "retry.csv").read_text().count("\n") == 1  # the header only
        # The journal's last word agrees: a resume keeps the row as updated, sends nothing.
        requests = sim.stats()["requests_total"]
        again = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=run.run_dir)
        assert again.outcomes() == {"a1": "updated"}
        assert sim.stats()["requests_total"] == requests


@pytest.mark.parametrize(
    ("status", "faults"),
    [
        ("active", {"fail_rate": 0.3}),  # pause, patch, resume: resumes read back
        ("scheduled", {"fail_rate": 0.3}),  # patches read back after a 5xx
        ("scheduled", {"fail_after_store_rate": 0.3}),  # stored, then 5xx: read back
    ],
)
async def test_read_backs_answered_with_another_campaign_settle_nothing_from_it(
    status: str,
    faults: dict[str, float],
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = ids(200)
    sim = await start_simulator(
        wrong_id_rate=0.3, overrides={(ORG, WS, c): {"status": status} for c in names}, **faults
    )
    sheet = write_sheet(tmp_path / "wrong.csv", campaign_rows(names, ORG, WS, **{VERSION: "11"}))
    fake = FakeTime()

    run = await run_sheet(
        sheet,
        sim,
        monkeypatch,
        pause_active=True,
        concurrency=16,
        max_attempts=8,
        timing=fake.timing(),
    )

    stats = sim.stats()
    assert stats["wrong_id_answers"] > 20, stats
    assert stats["max_patches_per_campaign"] <= 1, stats["patches_applied"]
    left = run.summary()["campaigns_left_paused"]
    assert sorted(paused_now(sim, names)) == sorted(k.rsplit("/", 1)[-1] for k in left)
    for row in run.results():
        if row["outcome"] == "updated":  # every row said to be updated holds the change
            value = get_path(sim.state.get((ORG, WS, row["campaign_id"])), VERSION)
            assert value == TARGET, row


async def test_a_refused_key_stops_pausing_only_for_its_own_org(
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> None:
    keys = {"org-a": "key-A-fake-0001", "org-b": "key-B-fake-0002"}
    orgs = {"org-b": ids(3, "b"), "org-a": ids(7, "a")}  # org-b's rows come first
    sim = await start_simulator(
        SimulatorConfig(
            api_key=keys["org-a"],
            extra_api_keys=(keys["org-b"],),
            key_orgs={key: {org} for org, key in keys.items()},
            revoke_keys_after={keys["org-b"]: 3},  # GET, pause, PATCH; not the resume
            overrides={(o, WS, c): {"status": "active", VERSION: 1} for o, cs in orgs.items()
                       for c in cs},
        )
    )  # fmt: skip
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text(
        "\n".join(f'[orgs.{org}]\napi_key_env = "KEY_{org[-1].upper()}"\n' for org in keys)
    )
    for org, key in keys.items():
        monkeypatch.setenv(f"KEY_{org[-1].upper()}", key)
    rows = [r for org, cs in orgs.items() for r in campaign_rows(cs, org, WS, **{VERSION: "4"})]
    run = await run_sheet(
        write_sheet(tmp_path / "two-orgs.csv", rows),
        sim,
        monkeypatch,
        keys_file=keys_file,
        pause_active=True,
        concurrency=1,
        max_outage=5.0,
        timing=fake_time.timing(),
    )
    assert run.code == 3, run.output
    outcomes = {r["campaign_id"]: r for r in run.results()}
    for name in orgs["org-a"]:  # org-a's key is fine: paused, updated, resumed
        assert outcomes[name]["outcome"] == "updated", outcomes[name]["reason"]
        assert sim.state.status_of(("org-a", WS, name)) != "paused"
    assert list(run.summary()["campaigns_left_paused"]) == [f"org-b/{WS}/b0000"]
    assert {outcomes[n]["outcome"] for n in orgs["org-b"][1:]} == {"not_attempted"}
