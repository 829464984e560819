"""`bulkpatch run` and `plan` end to end, against the simulator over loopback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bulkpatch.core.values import get_path
from support.faketime import FakeTime
from support.runs import StartSimulator, run_sheet, write_sheet

ORG, WS = "org-e2e", "ws-e2e"
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
TARGET = {
    "allowed_schedule.allowed_start_time": "10:00",
    "allowed_schedule.allowed_end_time": "19:00",
    "allowed_schedule.allowed_days": "Mon,Tue,Wed,Thu,Fri,Sat",
    "app_config.app_version": "9",
}
STATUSES = {
    "c-paused": "paused",
    "c-sched": "scheduled",
    "c-active": "active",
    "c-ended": "ended",
    "c-cancelled": "cancelled",
    "c-same": "paused",
}
AT_TARGET = {
    "allowed_schedule.allowed_start_time": "10:00",
    "allowed_schedule.allowed_end_time": "19:00",
    "allowed_schedule.allowed_days": WEEKDAYS,
    "app_config.app_version": 9,
}


def key(cid: str) -> tuple[str, str, str]:
    return (ORG, WS, cid)


def mixed_overrides() -> dict[Any, dict[str, Any]]:
    overrides: dict[Any, dict[str, Any]] = {key(c): {"status": s} for c, s in STATUSES.items()}
    overrides[key("c-same")].update(AT_TARGET)
    return overrides


def mixed_sheet(tmp_path: Path) -> Path:
    rows = [
        {"org_id": ORG, "workspace_id": WS, "campaign_id": cid, **TARGET}
        for cid in [*STATUSES, "c-missing"]
    ]
    return write_sheet(tmp_path / "mixed.csv", rows)


async def test_a_mixed_sheet_gets_exactly_the_outcomes_the_spec_defines(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides=mixed_overrides())
    before = {c: copy.deepcopy(sim.state.get(key(c))) for c in STATUSES}

    run = await run_sheet(mixed_sheet(tmp_path), sim, monkeypatch)

    assert run.outcomes() == {
        "c-paused": "updated",
        "c-sched": "updated",
        "c-active": "skipped",
        "c-ended": "skipped",
        "c-cancelled": "skipped",
        "c-same": "unchanged",
        "c-missing": "rejected",
    }
    assert run.code == 1  # some rows were not updated / unchanged
    stats = sim.stats()
    assert stats["patches_applied"] == {f"{ORG}/{WS}/c-paused": 1, f"{ORG}/{WS}/c-sched": 1}
    for cid in ("c-paused", "c-sched"):
        after = sim.state.get(key(cid))
        for path, value in AT_TARGET.items():
            assert get_path(after, path) == value
        # Every field the row did not touch is as it was.
        expected = copy.deepcopy(before[cid])
        expected["allowed_schedule"].update(
            {k.split(".")[1]: v for k, v in AT_TARGET.items() if k.startswith("allowed_")}
        )
        expected["app_config"]["app_version"] = 9
        for volatile in ("updated_at", "updated_by", "app_version"):
            expected.pop(volatile, None)
            after.pop(volatile, None)
        assert after == expected
    results = {r["campaign_id"]: r for r in run.results()}
    assert results["c-missing"]["reason"].startswith("GET: campaign not found")
    assert results["c-active"]["reason"].startswith("campaign is active")
    assert results["c-paused"]["attempts"] == "1"
    assert results["c-paused"]["changed_fields"] == ";".join(TARGET)
    assert [r["row"] for r in run.results()] == [str(n) for n in range(1, 8)]


async def test_a_second_run_of_the_same_sheet_patches_nothing(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides=mixed_overrides())
    sheet = mixed_sheet(tmp_path)
    await run_sheet(sheet, sim, monkeypatch)
    applied = sim.stats()["patches_applied_total"]

    again = await run_sheet(sheet, sim, monkeypatch)

    assert sim.stats()["patches_applied_total"] == applied
    assert again.outcomes()["c-paused"] == "unchanged"
    assert again.outcomes()["c-sched"] == "unchanged"


async def test_retry_csv_holds_the_sheets_own_rows_that_did_not_succeed(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides=mixed_overrides())
    run = await run_sheet(mixed_sheet(tmp_path), sim, monkeypatch)
    retry = run.results("retry.csv")
    assert [r["campaign_id"] for r in retry] == ["c-active", "c-ended", "c-cancelled", "c-missing"]
    assert retry[0] == {"org_id": ORG, "workspace_id": WS, "campaign_id": "c-active", **TARGET}


async def test_pause_active_pauses_updates_and_resumes_and_leaves_nothing_paused(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(
        overrides={key("a1"): {"status": "active"}, key("a2"): {"status": "active"}},
        refuse_patches={key("a2"): "Campaign is locked by another editor"},
    )
    sheet = write_sheet(
        tmp_path / "active.csv",
        [{"org_id": ORG, "workspace_id": WS, "campaign_id": c, **TARGET} for c in ("a1", "a2")],
    )

    run = await run_sheet(sheet, sim, monkeypatch, pause_active=True)

    results = {r["campaign_id"]: r for r in run.results()}
    assert results["a1"]["outcome"] == "updated"
    assert results["a2"]["outcome"] == "rejected"
    assert "locked by another editor" in results["a2"]["reason"]
    for cid in ("a1", "a2"):
        assert sim.state.status_of(key(cid)) != "paused"
        assert results[cid]["campaign_status"] != "paused"
    assert sim.stats()["status_changes"] == {
        f"{ORG}/{WS}/a1": 2,
        f"{ORG}/{WS}/a2": 2,
    }
    assert run.summary()["campaigns_left_paused"] == {}
    assert get_path(sim.state.get(key("a1")), "app_config.app_version") == 9


async def test_a_campaign_that_cannot_be_resumed_is_reported_as_left_paused(
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> None:
    # The org may hold only one live campaign, and another one is live: resume is refused.
    sim = await start_simulator(
        overrides={key("a1"): {"status": "active"}, key("live"): {"status": "scheduled"}},
        live_limit_per_org=1,
    )
    sheet = write_sheet(
        tmp_path / "one.csv", [{"org_id": ORG, "workspace_id": WS, "campaign_id": "a1", **TARGET}]
    )
    run = await run_sheet(
        sheet,
        sim,
        monkeypatch,
        pause_active=True,
        max_attempts=2,
        max_outage=1.0,
        timing=fake_time.timing(),  # the resume is tried for --max-outage, on the fake clock
    )
    result = run.results()[0]
    assert result["outcome"] == "failed"
    assert "LEFT PAUSED" in result["reason"]
    assert list(run.summary()["campaigns_left_paused"]) == [f"{ORG}/{WS}/a1"]
    assert run.code == 3  # a campaign left paused: resumable, like an abort
    assert "LEFT PAUSED" in run.output


async def test_plan_reads_only_and_shows_old_and_new_values(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides=mixed_overrides())
    run = await run_sheet(mixed_sheet(tmp_path), sim, monkeypatch, mode="plan")
    assert set(sim.stats()["requests"]) == {"GET"}
    plan = {r["campaign_id"]: r for r in run.results("plan.csv")}
    assert plan["c-paused"]["outcome"] == "updated"
    assert "app_config.app_version: " in plan["c-paused"]["changes"]
    assert "-> 9" in plan["c-paused"]["changes"]
    assert plan["c-same"]["outcome"] == "unchanged"
    assert plan["c-active"]["outcome"] == "skipped"
    assert run.run_dir is not None
    assert not (run.run_dir / "results.csv").exists()
    assert "app_config.app_version: " in run.output  # shown on screen too
    assert "nothing was sent" in run.output


async def test_no_read_sends_only_patches(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(
        overrides={key(f"n{i}"): {"status": "paused"} for i in range(5)},
    )
    sheet = write_sheet(
        tmp_path / "names.csv",
        [
            {"org_id": ORG, "workspace_id": WS, "campaign_id": f"n{i}", "name": f"Renamed {i}"}
            for i in range(5)
        ],
    )
    run = await run_sheet(sheet, sim, monkeypatch, no_read=True)
    assert set(run.outcomes().values()) == {"updated"}
    assert set(sim.stats()["requests"]) == {"PATCH"}
    assert sim.state.get(key("n3"))["name"] == "Renamed 3"


async def test_no_read_is_refused_for_a_change_inside_an_object(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides=mixed_overrides())
    run = await run_sheet(mixed_sheet(tmp_path), sim, monkeypatch, no_read=True)
    assert run.code == 2
    assert "--no-read" in run.output
    assert sim.stats()["requests_total"] == 0


async def test_an_invalid_sheet_sends_nothing_unless_skip_invalid(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides={key("ok1"): {"status": "paused"}})
    sheet = write_sheet(
        tmp_path / "some-bad.csv",
        [
            {"org_id": ORG, "workspace_id": WS, "campaign_id": "ok1", "name": "Fine name"},
            {"org_id": ORG, "workspace_id": WS, "campaign_id": "bad1", "name": "No! Bad*name"},
        ],
    )
    refused = await run_sheet(sheet, sim, monkeypatch)
    assert refused.code == 2
    assert "row 2" in refused.output
    assert sim.stats()["requests_total"] == 0

    skipped = await run_sheet(sheet, sim, monkeypatch, skip_invalid=True)
    assert skipped.outcomes() == {"ok1": "updated", "bad1": "invalid"}
    assert "name" in skipped.results()[1]["reason"]
    assert skipped.code == 1


@pytest.mark.slow
@pytest.mark.realtime
async def test_pacing_against_a_server_limit_equal_to_the_rate_draws_no_429(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one run test on real time against the simulator's real limiter: two seconds of it (a
    # pacer without its slack drew a 429 here six times out of six; on 1.5 s, four out of six).
    rate, rows = 60, 60
    sim = await start_simulator(
        rate_limit=rate, overrides={key(f"p{i}"): {"status": "paused"} for i in range(rows)}
    )
    sheet = write_sheet(
        tmp_path / "paced.csv",
        [
            {"org_id": ORG, "workspace_id": WS, "campaign_id": f"p{i}", "name": f"Paced {i}"}
            for i in range(rows)
        ],
    )
    run = await run_sheet(sheet, sim, monkeypatch, rate=float(rate), concurrency=16)
    stats = sim.stats()
    assert stats["rate_limited"] == 0, stats
    assert stats["max_starts_in_any_second"] <= rate, stats
    assert stats["requests_total"] == 2 * rows
    assert set(run.outcomes().values()) == {"updated"}
    # Close to the ideal: 120 requests at 60/s is 2 s.
    assert run.summary()["duration_s"] < 2 + 0.6, run.summary()


async def test_a_refused_key_stops_the_run_and_leaves_the_rest_not_attempted(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(
        revoke_after=20, overrides={key(f"k{i}"): {"status": "paused"} for i in range(200)}
    )
    sheet = write_sheet(
        tmp_path / "keyed.csv",
        [
            {"org_id": ORG, "workspace_id": WS, "campaign_id": f"k{i}", "name": f"Keyed {i}"}
            for i in range(200)
        ],
    )
    run = await run_sheet(sheet, sim, monkeypatch, concurrency=4)
    assert run.code == 3
    outcomes = list(run.outcomes().values())
    assert outcomes.count("not_attempted") >= 180
    assert set(outcomes) <= {"updated", "not_attempted"}
    # It stopped within about one request per worker after the first 401.
    assert sim.stats()["unauthorized"] <= 4 + 1
    assert "bulkpatch resume" in run.output
