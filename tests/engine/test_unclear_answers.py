"""When answers are lost, cut short or unreadable: scripted, request by request.

Each test scripts one precise sequence of faults on the simulator and checks what a user fears
most: a campaign left paused silently, a change sent twice, a wrong outcome, a lost result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bulkpatch.core.stopper import Stopper
from bulkpatch.rundir.journal import read_journal
from bulkpatch.simulator import SimulatorConfig
from support.faketime import FakeTime
from support.runs import campaign_rows, run_sheet, write_sheet
from support.scripted import scripted_simulator

ORG, WS = "org-x", "ws-x"


def config(statuses: dict[str, str]) -> SimulatorConfig:
    return SimulatorConfig(
        seed=1,
        overrides={
            (ORG, WS, c): {"status": s, "app_config.app_version": 1} for c, s in statuses.items()
        },
    )


def version_sheet(tmp_path: Path, names: list[str]) -> Path:
    rows = campaign_rows(names, ORG, WS, **{"app_config.app_version": "9"})
    return write_sheet(tmp_path / "s.csv", rows)


async def test_a_pause_whose_answer_is_lost_is_resumed_and_never_left_paused_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> None:
    def decide(method: str, path: str, nth: int, total: int) -> Any:
        if method == "PUT" and nth == 1:
            return "drop_after"  # the pause is stored; its answer is lost
        if method == "PUT" and nth == 2:
            return (503, "busy")  # the pause, sent again
        if method == "GET" and nth in (2, 3):
            return (503, "busy")  # reading the status back
        return None

    async with scripted_simulator(config({"a1": "active"}), decide) as sim:
        run = await run_sheet(
            version_sheet(tmp_path, ["a1"]),
            sim,
            monkeypatch,
            timing=fake_time.timing(),
            pause_active=True,
            max_attempts=2,
        )
        assert sim.state.status_of((ORG, WS, "a1")) != "paused"
        assert run.results()[0]["outcome"] == "failed"
        assert run.summary()["campaigns_left_paused"] == {}
        assert sim.stats()["patches_applied_total"] == 0


async def test_a_pause_whose_answer_is_lost_and_cannot_be_undone_is_reported_and_resumed_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> None:
    def decide(method: str, path: str, nth: int, total: int) -> Any:
        if method == "PUT" and nth == 1:
            return "drop_after"
        if method in ("PUT", "GET") and nth >= 2:
            return (503, "busy")  # the API stays unwell for the rest of the run
        return None

    async with scripted_simulator(config({"a1": "active"}), decide) as sim:
        sheet = version_sheet(tmp_path, ["a1"])
        run = await run_sheet(
            sheet,
            sim,
            monkeypatch,
            timing=fake_time.timing(),
            pause_active=True,
            max_attempts=2,
            max_outage=1.0,
        )
        assert sim.state.status_of((ORG, WS, "a1")) == "paused"
        assert list(run.summary()["campaigns_left_paused"]) == [f"{ORG}/{WS}/a1"]
        assert "LEFT PAUSED" in run.output
        assert run.run_dir is not None
        assert list(read_journal(run.run_dir / "journal.jsonl").paused) == [f"{ORG}/{WS}/a1"]

        sim.script.decide = lambda *_: None  # the API is back
        await run_sheet(
            sheet, sim, monkeypatch, timing=fake_time.timing(), mode="resume", run_dir=run.run_dir
        )
        assert sim.state.status_of((ORG, WS, "a1")) != "paused"


@pytest.mark.parametrize("no_read", [False, True])
async def test_a_patch_whose_outcome_is_unknown_when_the_run_stops_is_read_back_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime, no_read: bool
) -> None:
    read_back = 1 if no_read else 2

    def decide(method: str, path: str, nth: int, total: int) -> Any:
        if method == "PATCH" and nth == 1:
            return "drop_after"  # stored, answer lost
        if method == "GET" and nth == read_back:
            return (401, "key revoked")  # the read-back: the run must stop
        return None

    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(["p1"], ORG, WS, name="New name"))
    async with scripted_simulator(config({"p1": "paused"}), decide) as sim:
        first = await run_sheet(sheet, sim, monkeypatch, timing=fake_time.timing(), no_read=no_read)
        assert first.code == 3
        sim.script.decide = lambda *_: None
        again = await run_sheet(
            sheet, sim, monkeypatch, timing=fake_time.timing(), mode="resume", run_dir=first.run_dir
        )
        assert again.code == 0
        assert again.results()[0]["outcome"] == "updated"
        assert sim.stats()["patches_applied"] == {f"{ORG}/{WS}/p1": 1}


async def test_a_200_whose_body_cannot_be_read_is_retried_not_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> None:
    def decide(method: str, path: str, nth: int, total: int) -> Any:
        return "garbage" if method == "GET" and nth == 1 else None

    async with scripted_simulator(config({"g1": "paused"}), decide) as sim:
        run = await run_sheet(
            version_sheet(tmp_path, ["g1"]), sim, monkeypatch, timing=fake_time.timing()
        )
        assert run.results()[0]["outcome"] == "updated"
        assert fake_time.slept  # retried after a backoff, not rejected


async def test_the_rate_recovers_after_a_single_429(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> None:
    def decide(method: str, path: str, nth: int, total: int) -> Any:
        return (429, "slow down") if total == 1 else None

    names = [f"r{i:03d}" for i in range(70)]
    async with scripted_simulator(config(dict.fromkeys(names, "paused")), decide) as sim:
        run = await run_sheet(
            version_sheet(tmp_path, names), sim, monkeypatch, timing=fake_time.timing(), rate=20.0
        )
    assert run.code == 0
    rate = run.summary()["final_rate"]
    assert rate is not None
    assert rate > 15  # halved to 10 by the 429, then back toward 20
    # 141 requests at 20/s is 7 s; staying at half the rate would take 14 s.
    assert run.summary()["duration_s"] < 11


async def test_resuming_a_campaign_left_paused_keeps_the_outcome_of_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> None:
    def decide(method: str, path: str, nth: int, total: int) -> Any:
        if method == "PATCH":
            return (422, "injected refusal")
        if method == "PUT" and nth >= 2:
            return (503, "busy")  # the resume after the refused PATCH fails
        if method == "GET" and nth >= 2:
            return (503, "busy")
        return None

    sheet = version_sheet(tmp_path, ["b1"])
    async with scripted_simulator(config({"b1": "active"}), decide) as sim:
        first = await run_sheet(
            sheet,
            sim,
            monkeypatch,
            timing=fake_time.timing(),
            pause_active=True,
            max_attempts=2,
            max_outage=1.0,
        )
        assert first.results()[0]["outcome"] == "rejected"
        sim.script.decide = lambda m, *_: (422, "injected refusal") if m == "PATCH" else None
        await run_sheet(
            sheet, sim, monkeypatch, timing=fake_time.timing(), mode="resume", run_dir=first.run_dir
        )
        assert sim.state.status_of((ORG, WS, "b1")) != "paused"
        patches = sim.script.count("PATCH")
        second = await run_sheet(
            sheet, sim, monkeypatch, timing=fake_time.timing(), mode="resume", run_dir=first.run_dir
        )
        assert sim.script.count("PATCH") == patches  # the finished row is not sent again
        assert second.results()[0]["outcome"] == "rejected"


async def test_after_an_interrupt_resuming_a_paused_campaign_is_still_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> None:
    stopper = Stopper()

    def decide(method: str, path: str, nth: int, total: int) -> Any:
        if method == "PATCH":  # Ctrl-C while the PATCH is on its way
            stopper.stop("interrupted by SIGINT")
        if method == "PUT" and nth == 2:
            return (503, "busy")  # the first try at resuming
        return None

    async with scripted_simulator(config({"c1": "active"}), decide) as sim:
        run = await run_sheet(
            version_sheet(tmp_path, ["c1"]),
            sim,
            monkeypatch,
            timing=fake_time.timing(),
            pause_active=True,
            stopper=stopper,
        )
        assert run.code == 3
        assert sim.state.status_of((ORG, WS, "c1")) != "paused"
        assert run.summary()["campaigns_left_paused"] == {}


async def test_a_sheet_rewritten_during_the_run_changes_neither_what_is_applied_nor_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sheet = write_sheet(
        tmp_path / "s.csv",
        [
            *campaign_rows(["k1"], ORG, WS, name="Alpha"),
            *campaign_rows(["k2"], ORG, WS, name="Beta"),
        ],
    )

    def decide(method: str, path: str, nth: int, total: int) -> Any:
        if total == 1:  # tomorrow's export lands in place while the run goes
            write_sheet(sheet, campaign_rows(["z9", "z8"], ORG, WS, name="Zulu"))
        return None

    async with scripted_simulator(config({"k1": "paused", "k2": "ended"}), decide) as sim:
        run = await run_sheet(sheet, sim, monkeypatch)
    assert [(r["campaign_id"], r["outcome"]) for r in run.results()] == [
        ("k1", "updated"),
        ("k2", "skipped"),
    ]
    assert [r["campaign_id"] for r in run.results("retry.csv")] == ["k2"]


async def test_only_the_first_line_of_a_key_file_is_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with scripted_simulator(config({"f1": "paused"})) as sim:
        key_file = tmp_path / "key.txt"
        key_file.write_text(f"{sim.config.api_key}\n# rotated 2026-01-01\n")
        monkeypatch.delenv("SARVAM_API_KEY", raising=False)
        run = await run_sheet(
            version_sheet(tmp_path, ["f1"]),
            sim,
            monkeypatch,
            api_key_file=key_file,
        )
        assert run.code == 0
        key_file.write_text("sim key with spaces\n")
        bad = await run_sheet(
            version_sheet(tmp_path, ["f1"]),
            sim,
            monkeypatch,
            api_key_file=key_file,
        )
        assert bad.code == 2
        assert "sim key with spaces" not in bad.output
        assert json.loads(json.dumps(sim.stats()))["requests_total"] == 2
