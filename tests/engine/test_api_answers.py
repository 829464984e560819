"""Answers a real API gives that a careful client must not misread (issue 10, items 4, 5, 6, 8, 11).

Each test runs bulkpatch against the simulator with one of its faults switched on and checks what
the server saw (``/_sim/stats``, the stored campaigns), not only what bulkpatch says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bulkpatch.core.stopper import Stopper
from bulkpatch.core.values import get_path
from support.runs import (
    StartSimulator,
    bulkpatch,
    campaign_rows,
    only_run_dir,
    run_sheet,
    write_sheet,
)

ORG, WS = "org-t", "ws-t"
VERSION = "app_config.app_version"


def ids(n: int, prefix: str = "c") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


def results_of(run_dir: Path) -> dict[str, dict[str, str]]:
    import csv

    with (run_dir / "results.csv").open(newline="", encoding="utf-8") as f:
        return {r["campaign_id"]: r for r in csv.DictReader(f)}


# -- 4. a 5xx or timeout after the change was stored: read back, never sent twice ---------------


async def test_a_patch_or_status_change_stored_then_answered_5xx_is_read_back_not_sent_again(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(150)
    active = set(names[::3])
    sim = await start_simulator(
        fail_after_store_rate=0.3,
        overrides={
            (ORG, WS, c): {"status": "active" if c in active else "paused", VERSION: 1}
            for c in names
        },
    )
    rows = campaign_rows(names, ORG, WS, **{VERSION: "7"})
    sheet = write_sheet(tmp_path / "after-store.csv", rows)
    reports = tmp_path / "reports"
    done = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--rate", "unlimited", "--pause-active",
        "--report-dir", reports, "--quiet", api_key=sim.config.api_key,
    )  # fmt: skip

    stats = sim.stats()
    assert stats["failures_after_store"] >= 30, stats  # the fault really happened, often
    assert done.returncode == 0, done.stderr.decode()
    assert stats["max_patches_per_campaign"] == 1, stats["patches_applied"]
    assert stats["patches_applied_total"] == len(names)
    # Each active campaign paused once and resumed once: no status change was sent twice.
    assert stats["max_status_changes_per_campaign"] == 2, stats["status_changes"]
    assert stats["status_changes_total"] == 2 * len(active)
    for name in names:
        detail = sim.state.get((ORG, WS, name))
        assert get_path(detail, VERSION) == 7
        assert detail["status"] == ("scheduled" if name in active else "paused"), name
    results = results_of(only_run_dir(reports))
    assert {r["outcome"] for r in results.values()} == {"updated"}
    confirmed = [r for r in results.values() if r["reason"].startswith("confirmed by reading")]
    assert confirmed, "some PATCH answers were lost: their rows say they were read back"


# -- 5. fields documented as replaced whole are replaced whole: merge, guards, read-back --------

RISK = {"team": "risk", "env": "prod"}


def webhook(metadata: dict[str, Any]) -> dict[str, Any]:
    return {"url": "https://hooks.example.com/x", "metadata": metadata}


async def test_webhook_metadata_is_replaced_whole_and_an_empty_object_clears_it(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    overrides = {
        (ORG, WS, c): {"status": "paused", "app_config.webhook_config": webhook(RISK)}
        for c in ("sales", "clear", "same", "guarded", "guard-ok")
    }
    sim = await start_simulator(overrides=overrides, fail_after_store_rate=1.0)
    meta = "app_config.webhook_config.metadata"
    rows = [
        {"campaign_id": "sales", meta: json.dumps({"team": "sales"})},
        {"campaign_id": "clear", meta: "{}"},
        {"campaign_id": "same", meta: json.dumps(RISK)},
        # A guard on a whole-replaced value compares the whole value: part of it is not enough.
        {"campaign_id": "guarded", meta: "{}", f"expect.{meta}": json.dumps({"team": "risk"})},
        {"campaign_id": "guard-ok", meta: "{}", f"expect.{meta}": json.dumps(RISK)},
    ]
    sheet = write_sheet(
        tmp_path / "meta.csv", [{"org_id": ORG, "workspace_id": WS, **r} for r in rows]
    )

    reports = tmp_path / "reports"
    done = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--report-dir", reports, "--quiet",
        "--rate", "unlimited", api_key=sim.config.api_key,
    )  # fmt: skip

    assert done.returncode == 1, done.stderr.decode()  # one row skipped as stale
    results = results_of(only_run_dir(reports))
    outcomes = {c: r["outcome"] for c, r in results.items()}
    assert outcomes == {
        "sales": "updated",
        "clear": "updated",
        "same": "unchanged",
        "guarded": "skipped",
        "guard-ok": "updated",
    }, results
    assert get_path(sim.state.get((ORG, WS, "sales")), meta) == {"team": "sales"}
    assert get_path(sim.state.get((ORG, WS, "clear")), meta) == {}
    assert get_path(sim.state.get((ORG, WS, "guard-ok")), meta) == {}
    assert get_path(sim.state.get((ORG, WS, "guarded")), meta) == RISK
    stats = sim.stats()
    # Every PATCH was stored and its answer lost: each was settled by reading the whole value
    # back, and none was sent twice.
    assert stats["failures_after_store"] == 3
    assert stats["max_patches_per_campaign"] == 1
    assert stats["patches_applied_total"] == 3
    reasons = {c: r["reason"] for c, r in results.items()}
    assert reasons["sales"].startswith("confirmed by reading back")
    assert "stale" in reasons["guarded"]


async def test_connection_configs_and_day_lists_are_replaced_whole_not_merged_item_by_item(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    two = [
        {"connection_id": "a", "phone_numbers": ["+919800000001"], "weight": 1},
        {"connection_id": "b", "phone_numbers": ["+919800000002"], "weight": 1},
    ]
    one = [{"connection_id": "a", "phone_numbers": ["+919800000001"], "weight": 1}]
    sim = await start_simulator(
        fail_after_store_rate=1.0,
        overrides={
            (ORG, WS, "conn"): {"status": "paused", "app_config.connection_configs": two},
            (ORG, WS, "days"): {
                "status": "paused",
                "allowed_schedule.allowed_days": ["Monday", "Tuesday", "Wednesday"],
            },
        },
    )
    sheet = write_sheet(
        tmp_path / "lists.csv",
        [
            {"org_id": ORG, "workspace_id": WS, "campaign_id": "conn",
             "app_config.connection_configs": json.dumps(one)},
            {"org_id": ORG, "workspace_id": WS, "campaign_id": "days",
             "allowed_schedule.allowed_days": "Mon,Tue"},
        ],
    )  # fmt: skip
    run = await run_sheet(sheet, sim, monkeypatch)
    assert run.outcomes() == {"conn": "updated", "days": "updated"}, run.results()
    assert get_path(sim.state.get((ORG, WS, "conn")), "app_config.connection_configs") == one
    days = get_path(sim.state.get((ORG, WS, "days")), "allowed_schedule.allowed_days")
    assert days == ["Monday", "Tuesday"]
    assert sim.stats()["max_patches_per_campaign"] == 1


# -- 6. a GET answering another campaign: failed, nothing sent -----------------------------------


async def test_a_get_answering_another_campaigns_id_fails_the_row_and_sends_nothing(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(120)
    # Each campaign has its own end time, so a body built from another campaign shows.
    overrides = {
        (ORG, WS, c): {
            "status": "paused",
            "allowed_schedule.allowed_start_time": "08:00",
            "allowed_schedule.allowed_end_time": f"{12 + i % 10}:{i % 60:02d}",
        }
        for i, c in enumerate(names)
    }
    sim = await start_simulator(wrong_id_rate=0.25, overrides=overrides)
    before = {c: sim.state.get((ORG, WS, c))["allowed_schedule"] for c in names}
    sheet = write_sheet(
        tmp_path / "ids.csv",
        campaign_rows(names, ORG, WS, **{"allowed_schedule.allowed_start_time": "09:00"}),
    )
    reports = tmp_path / "reports"
    done = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--rate", "unlimited", "--report-dir", reports,
        "--quiet", api_key=sim.config.api_key,
    )  # fmt: skip
    stats = sim.stats()
    wrong = stats["wrong_id_answers"]
    assert wrong >= 15, stats
    assert done.returncode == 1, done.stderr.decode()
    results = results_of(only_run_dir(reports))
    failed = {c for c, r in results.items() if r["outcome"] == "failed"}
    assert len(failed) == wrong
    for name in failed:
        assert "answered with campaign_id" in results[name]["reason"], results[name]
        assert "nothing was sent" in results[name]["reason"]
    assert stats["patches_applied_total"] == len(names) - wrong
    for name in names:
        schedule = sim.state.get((ORG, WS, name))["allowed_schedule"]
        # Never another campaign's schedule: the end time is each campaign's own.
        assert schedule["allowed_end_time"] == before[name]["allowed_end_time"], name
        expected = "08:00" if name in failed else "09:00"
        assert schedule["allowed_start_time"] == expected, name


# -- 8. 401 is the key; 403 is one campaign, unless several in a row ------------------------------


async def test_one_forbidden_campaign_is_rejected_and_the_run_completes(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(40)
    sim = await start_simulator(
        forbid=[names[0]], overrides={(ORG, WS, c): {"status": "paused"} for c in names}
    )
    sheet = write_sheet(tmp_path / "forbid.csv", campaign_rows(names, ORG, WS, name="Renamed"))
    reports = tmp_path / "reports"
    done = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--rate", "unlimited", "--report-dir", reports,
        "--quiet", api_key=sim.config.api_key,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr.decode()
    results = results_of(only_run_dir(reports))
    assert results[names[0]]["outcome"] == "rejected"
    assert results[names[0]]["http_status"] == "403"
    assert "forbidden" in results[names[0]]["reason"]
    assert {results[c]["outcome"] for c in names[1:]} == {"updated"}
    assert sim.stats()["patches_applied_total"] == len(names) - 1


async def test_resume_meeting_a_forbidden_campaign_first_rejects_it_and_goes_on(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ids(30)
    sim = await start_simulator(
        forbid=[names[0]], overrides={(ORG, WS, c): {"status": "paused"} for c in names}
    )
    sheet = write_sheet(tmp_path / "forbid.csv", campaign_rows(names, ORG, WS, name="Renamed"))
    stopped = Stopper()
    stopped.stop("interrupted by SIGINT")  # the run stops before its first row
    first = await run_sheet(sheet, sim, monkeypatch, stopper=stopped)
    assert first.code == 3
    assert set(first.outcomes().values()) == {"not_attempted"}
    assert first.run_dir is not None

    resumed = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=first.run_dir)

    assert resumed.code == 1, resumed.output
    outcomes = resumed.outcomes()
    assert outcomes[names[0]] == "rejected"
    assert {outcomes[c] for c in names[1:]} == {"updated"}
    assert "the API refused the API key" not in resumed.output


async def test_403s_from_three_campaigns_in_a_row_stop_the_run_as_a_refused_key(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(20)
    sim = await start_simulator(
        forbid=names[:3], overrides={(ORG, WS, c): {"status": "paused"} for c in names}
    )
    sheet = write_sheet(tmp_path / "forbid3.csv", campaign_rows(names, ORG, WS, name="Renamed"))
    reports = tmp_path / "reports"
    done = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--concurrency", "1", "--report-dir", reports,
        "--rate", "unlimited", api_key=sim.config.api_key,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr.decode()
    run_dir = only_run_dir(reports)
    rows = results_of(run_dir)
    # The three 403s were the key's refusal, not their campaigns': not_attempted, like the rest.
    assert {r["outcome"] for r in rows.values()} == {"not_attempted"}
    assert "the API refused the API key" in rows[names[0]]["reason"]
    err = done.stderr.decode()
    assert "the API refused the API key (HTTP 403 for 3 different campaigns in a row" in err
    assert f"bulkpatch resume {run_dir}" in err
    assert sim.stats()["requests_total"] == 3

    sim.faults.forbid = frozenset()  # the key is fixed: resume applies every row
    # the rate is not what this test is about: no real-time pacing of its 40 requests
    again = await bulkpatch("resume", run_dir, "--rate", "unlimited", api_key=sim.config.api_key)
    assert again.returncode == 0, again.stderr.decode()
    assert {r["outcome"] for r in results_of(run_dir).values()} == {"updated"}


async def test_a_success_between_403s_keeps_the_key_trusted(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ids(12)
    forbidden = [names[0], names[1], names[3], names[4], names[6]]
    sim = await start_simulator(
        forbid=forbidden, overrides={(ORG, WS, c): {"status": "paused"} for c in names}
    )
    sheet = write_sheet(tmp_path / "forbid-mixed.csv", campaign_rows(names, ORG, WS, name="New"))
    run = await run_sheet(sheet, sim, monkeypatch, concurrency=1)
    assert run.code == 1, run.output
    outcomes = run.outcomes()
    assert {outcomes[c] for c in forbidden} == {"rejected"}
    assert {outcomes[c] for c in names if c not in forbidden} == {"updated"}


async def test_a_401_stops_the_run_at_once(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ids(20)
    sim = await start_simulator(
        revoke_after=4, overrides={(ORG, WS, c): {"status": "paused"} for c in names}
    )
    sheet = write_sheet(tmp_path / "revoked.csv", campaign_rows(names, ORG, WS, name="New"))
    run = await run_sheet(sheet, sim, monkeypatch, concurrency=1)
    assert run.code == 3
    assert sim.stats()["unauthorized"] == 1
    assert list(run.outcomes().values()).count("updated") == 2
    assert "the API refused the API key (HTTP 401" in run.output


# -- 11. a redirect is not followed, not retried, and says where it pointed ---------------------


async def test_a_redirect_is_not_retried_and_names_where_it_pointed(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(5)
    sim = await start_simulator(
        redirect_to="https://elsewhere.example.com",
        redirect_status=301,
        overrides={(ORG, WS, c): {"status": "paused"} for c in names},
    )
    sheet = write_sheet(tmp_path / "redirect.csv", campaign_rows(names, ORG, WS, name="New"))
    reports = tmp_path / "reports"
    done = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--rate", "unlimited", "--report-dir", reports,
        "--quiet", api_key=sim.config.api_key,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr.decode()
    assert sim.stats()["redirects"] == len(names)  # one GET per row: nothing retried
    results = results_of(only_run_dir(reports))
    for name in names:
        row = results[name]
        assert row["outcome"] == "rejected"
        assert row["http_status"] == "301"
        assert row["attempts"] == "0"
        where = "https://elsewhere.example.com/api/scheduling/v1/orgs/"
        assert f"the API redirected to {where}" in row["reason"]
        assert "check --base-url" in row["reason"]
        assert "gave up after retries" not in row["reason"]


# -- a PATCH accepted with an answer naming another campaign, or another value ------------------


async def test_a_patch_answered_with_another_campaign_or_version_is_updated_with_a_remark(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ids(60, prefix="a")
    sim = await start_simulator(
        patch_answer_differs_rate=0.3,
        overrides={(ORG, WS, c): {"status": "paused", VERSION: 1} for c in names},
    )
    sheet = write_sheet(tmp_path / "answers.csv", campaign_rows(names, ORG, WS, **{VERSION: "7"}))
    run = await run_sheet(sheet, sim, monkeypatch)
    differing = sim.stats()["patch_answers_differing"]
    assert differing >= 8, sim.stats()
    assert run.code == 0, run.output
    results = run.results()
    assert {r["outcome"] for r in results} == {"updated"}  # the writes were accepted
    remarked = [r for r in results if r["reason"].startswith("answer differs: ")]
    assert len(remarked) == differing
    for row in remarked:
        reason = row["reason"]
        assert "campaign_id" in reason or f"{VERSION} 8, not 7" in reason, reason
        if "campaign_id" in reason:  # another campaign's status and stamp are not this one's
            assert row["updated_at"] == ""
    assert {get_path(sim.state.get((ORG, WS, c)), VERSION) for c in names} == {7}
    assert run.summary()["answers_differing"] == differing
    assert f"{differing} update(s) were accepted with an answer naming another" in run.output
