"""``run --canary N``: the first rows that write, read back, then stop or go on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bulkpatch.core.summary import exit_code_for
from bulkpatch.engine.canary import CANARY_RULE, drift
from bulkpatch.rundir.journal import iter_records
from bulkpatch.rundir.names import JOURNAL
from support.runs import StartSimulator, bulkpatch, run_sheet, write_sheet

ORG, WS = "org-demo", "ws-demo"


def sheet_of(tmp_path: Path, n: int, name: str = "changes.csv") -> Path:
    rows = [
        {
            "org_id": ORG,
            "workspace_id": WS,
            "campaign_id": f"cmp-{i:06d}",
            "allowed_schedule.allowed_start_time": "06:45",
        }
        for i in range(1, n + 1)
    ]
    return write_sheet(tmp_path / name, rows)


async def test_a_canary_applies_n_rows_reads_them_back_and_stops_then_resume_does_the_rest(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=60, status_weights=(("paused", 1.0),))
    sheet = sheet_of(tmp_path, 60)

    first = await run_sheet(sheet, sim, monkeypatch, canary=5)

    assert first.code == 0, first.output
    counts = first.summary()["outcomes"]
    assert counts["updated"] == 5
    assert counts["not_attempted"] == 55
    assert len(sim.stats()["patches_applied"]) == 5
    canary = first.summary()["canary"]
    assert canary["decision"] == "stopped"
    assert canary["held"] is True
    assert [r["check"] for r in canary["rows"]] == ["holds"] * 5
    assert "allowed_schedule.allowed_start_time:" in canary["rows"][0]["changes"]
    assert "the run stops here" in first.output
    assert first.output.count(f"bulkpatch resume {first.run_dir}") == 1  # printed once
    [step] = first.summary()["next_steps"]
    assert step["outcome"] == "not_attempted"
    assert step["command"] == f"bulkpatch resume {first.run_dir}"
    [line] = [r for r in iter_records(first.run_dir / JOURNAL) if r and r["e"] == "canary"]
    assert line["decision"] == "stopped"
    # The rows read back are GETs after the PATCHes: 60 reads at most, 5 read-backs.
    assert sim.stats()["requests"]["GET"]["200"] <= 60 + 5

    rest = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=first.run_dir)

    assert rest.code == 0, rest.output
    assert set(rest.outcomes().values()) == {"updated"}
    assert len(sim.stats()["patches_applied"]) == 60
    # The first session's decision and canary rows stay in the resumed run's summary.json.
    assert rest.summary()["canary"]["decision"] == "stopped"
    assert len(rest.summary()["canary"]["rows"]) == 5


async def test_with_many_workers_no_row_writes_before_the_canary_is_decided(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=200, status_weights=(("scheduled", 1.0),))

    run = await run_sheet(sheet_of(tmp_path, 200), sim, monkeypatch, canary=7, concurrency=16)

    assert run.code == 0, run.output
    assert len(sim.stats()["patches_applied"]) == 7
    assert run.summary()["outcomes"]["updated"] == 7


async def test_canary_continue_goes_on_when_every_canary_row_held(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=40, status_weights=(("paused", 1.0),))

    run = await run_sheet(sheet_of(tmp_path, 40), sim, monkeypatch, canary=4, canary_continue=True)

    assert run.code == 0, run.output
    assert set(run.outcomes().values()) == {"updated"}
    assert run.summary()["canary"]["decision"] == "continued"
    assert "going on (--canary-continue)" in run.output


@pytest.mark.parametrize("keep_going", [False, True], ids=["stop", "continue"])
async def test_a_canary_row_that_does_not_hold_stops_the_run_as_aborted(
    keep_going: bool,
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = await start_simulator(
        generate=20,
        status_weights=(("paused", 1.0),),
        refuse_patches={(ORG, WS, "cmp-000002"): "connection config locked by compliance"},
    )

    run = await run_sheet(
        sheet_of(tmp_path, 20),
        sim,
        monkeypatch,
        canary=3,
        canary_continue=keep_going,
        concurrency=1,
    )

    assert run.code == 3
    canary = run.summary()["canary"]
    assert canary["decision"] == "failed"
    assert [r["held"] for r in canary["rows"]] == [True, False, True]
    assert "rejected: PATCH: connection config locked by compliance" in canary["rows"][1]["check"]
    assert run.summary()["stop_reason"].startswith("canary: 1 of 3 rows did not hold (row 2")
    assert len(sim.stats()["patches_applied"]) == 2
    assert run.summary()["outcomes"]["not_attempted"] == 17


async def test_a_sheet_with_fewer_rows_that_write_than_the_canary_is_a_canary_as_a_whole(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=3, status_weights=(("paused", 1.0),))

    run = await run_sheet(sheet_of(tmp_path, 3), sim, monkeypatch, canary=10)

    assert run.code == 0, run.output
    assert set(run.outcomes().values()) == {"updated"}
    canary = run.summary()["canary"]
    assert canary["decision"] == "held"
    assert len(canary["rows"]) == 3


async def test_the_canary_rows_are_the_first_rows_of_the_sheet_give_or_take_those_in_flight(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=200, status_weights=(("paused", 1.0),))
    run = await run_sheet(sheet_of(tmp_path, 200), sim, monkeypatch, canary=10, concurrency=8)

    assert run.code == 0, run.output
    rows = [r["row"] for r in run.summary()["canary"]["rows"]]
    assert len(rows) == 10
    assert max(rows) <= 10 + 8, rows  # rows were handed out one at a time, in sheet order


async def test_a_canary_that_held_does_not_exit_0_when_a_row_before_it_was_rejected(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(
        generate=20, status_weights=(("paused", 1.0),), forbid=("cmp-000002",)
    )
    run = await run_sheet(sheet_of(tmp_path, 20), sim, monkeypatch, canary=3, concurrency=1)

    counts = run.summary()["outcomes"]
    assert counts["rejected"] == 1, counts
    assert counts["updated"] == 3, counts
    assert run.summary()["canary"]["decision"] == "stopped"
    assert run.code == 1, run.output  # the rejected row is not hidden behind the canary's 0


async def test_a_simulated_canary_gives_one_command_for_the_rest_its_next_step_not_resume(
    tmp_path: Path,
) -> None:
    sheet = sheet_of(tmp_path, 30)
    done = await bulkpatch(
        "run", sheet, "--simulate", "--canary", "3", "--report-dir", tmp_path / "r",
        "--log-format", "json", cwd=tmp_path,
    )  # fmt: skip
    events = [json.loads(line) for line in done.stderr.decode().splitlines()]
    [stopped] = [e for e in events if e.get("code") == "canary_stopped"]
    [finish] = [e for e in events if e["event"] == "finish"]
    rest = [s for s in finish["next_steps"] if s["outcome"] == "not_attempted"]

    assert "bulkpatch" not in stopped["text"]  # the notice names no command of its own
    assert "the next steps at the end give the command for the rest" in stopped["text"]
    [step] = rest
    assert "retry.csv" in step["command"]
    assert "--simulate" in step["command"]
    assert all("bulkpatch resume" not in str(s["command"]) for s in finish["next_steps"])
    summary = json.loads((Path(finish["run_dir"]) / "summary.json").read_text())
    outcomes = {k for k, n in summary["outcomes"].items() if n}
    assert finish["exit_code"] == (
        0 if outcomes <= {"updated", "unchanged", "not_attempted"} else 1
    )


def test_the_canary_rule_is_one_text_and_run_help_states_it() -> None:
    from click.testing import CliRunner

    from bulkpatch.cli import cli

    shown = CliRunner().invoke(cli, ["run", "--help"], terminal_width=10_000).output
    assert " ".join(CANARY_RULE.split()) in " ".join(shown.split())
    assert "exit 0 if they held" not in shown


def test_a_canary_that_held_exits_0_unless_a_row_it_did_not_hold_back_ended_badly() -> None:
    fine = {"updated": 3, "unchanged": 1, "not_attempted": 40}
    assert exit_code_for(fine, canary_held=True) == 0
    assert exit_code_for({**fine, "skipped": 2}, canary_held=True) == 1
    assert exit_code_for(fine, canary_held=False) == 1  # not stopped by the canary
    assert exit_code_for(fine, canary_held=True, aborted=True) == 3


def test_drift_says_each_field_expected_and_now() -> None:
    current = {"name": "Old", "allowed_schedule": {"allowed_days": ["Monday"]}}
    changes = {
        "name": "New",
        "allowed_schedule.allowed_days": ["Monday"],
        "allowed_schedule.timezone": "Asia/Kolkata",
    }
    assert drift(current, changes) == [
        "name: New -> Old",
        "allowed_schedule.timezone: Asia/Kolkata -> (absent)",
    ]
