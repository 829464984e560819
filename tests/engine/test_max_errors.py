"""``run --max-errors N|N%``: a run stops (aborted, resumable) once too many rows fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkpatch.core.maxerrors import MIN_FINISHED, ErrorBudget, MaxErrors, parse_max_errors
from bulkpatch.core.outcomes import Outcome
from support.runs import StartSimulator, bulkpatch, run_sheet, write_sheet

ORG, WS = "org-demo", "ws-demo"


def every_fifth_missing(n: int) -> tuple[list[str], list[str]]:
    """(campaign ids of the sheet, the ids the simulator holds): every fifth one is missing, so
    a fifth of the rows answer 404 (rejected)."""
    ids = [f"cmp-{i:06d}" for i in range(1, n + 1)]
    return ids, [c for i, c in enumerate(ids, start=1) if i % 5]


def sheet_of(tmp_path: Path, ids: list[str]) -> Path:
    rows = [{"org_id": ORG, "workspace_id": WS, "campaign_id": c, "name": "Spring"} for c in ids]
    return write_sheet(tmp_path / "changes.csv", rows)


async def test_max_errors_5_percent_stops_a_run_against_20_percent_4xx_within_the_first_40_rows(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, present = every_fifth_missing(400)
    sim = await start_simulator(
        campaigns=tuple((ORG, WS, c) for c in present), status_weights=(("paused", 1.0),)
    )

    run = await run_sheet(sheet_of(tmp_path, ids), sim, monkeypatch, max_errors="5%")

    assert run.code == 3, run.output
    summary = run.summary()
    finished = sum(n for o, n in summary["outcomes"].items() if o != "not_attempted")
    assert MIN_FINISHED <= finished <= 40
    assert summary["outcomes"]["rejected"] >= 2
    assert summary["error_budget"]["stopped"] is True
    assert summary["stop_reason"].startswith("--max-errors 5%: ")
    assert f"continue with: bulkpatch resume {run.run_dir}" in run.output
    requests = sim.stats()["requests"]
    assert sum(requests["GET"].values()) <= 48


async def test_max_errors_as_a_number_stops_once_more_rows_than_that_failed(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, present = every_fifth_missing(100)
    sim = await start_simulator(
        campaigns=tuple((ORG, WS, c) for c in present), status_weights=(("paused", 1.0),)
    )

    run = await run_sheet(sheet_of(tmp_path, ids), sim, monkeypatch, max_errors="2", concurrency=1)

    assert run.code == 3
    counts = run.summary()["outcomes"]
    assert counts["rejected"] == 3  # the third one is one too many
    assert counts["updated"] == 12
    assert counts["not_attempted"] == 85


async def test_a_run_within_its_error_budget_finishes_and_a_stopped_one_resumes(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, present = every_fifth_missing(60)
    sim = await start_simulator(
        campaigns=tuple((ORG, WS, c) for c in present), status_weights=(("paused", 1.0),)
    )
    sheet = sheet_of(tmp_path, ids)
    stopped = await run_sheet(sheet, sim, monkeypatch, max_errors="10%")
    assert stopped.code == 3
    before = stopped.summary()["outcomes"]
    finished_before = sum(n for o, n in before.items() if o != "not_attempted")
    for cid in set(ids) - set(present):  # the missing campaigns turn up
        sim.state.add((ORG, WS, cid), {"status": "paused"})

    resumed = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=stopped.run_dir)

    assert resumed.code == 1  # the rows rejected before keep their outcome
    counts = resumed.summary()["outcomes"]
    assert counts["not_attempted"] == 0
    assert counts["rejected"] == before["rejected"]
    assert resumed.summary()["error_budget"] == {
        "max_errors": "10%",
        "finished": 60 - finished_before,  # this session's rows only
        "errors": 0,
        "stopped": False,
    }


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("5%", MaxErrors(5, True)), ("0", MaxErrors(0, False)), (" 12 ", MaxErrors(12, False)),
     ("2.5%", MaxErrors(2.5, True))],
)  # fmt: skip
def test_max_errors_reads_rows_or_a_percentage(text: str, parsed: MaxErrors) -> None:
    assert parse_max_errors(text) == parsed


@pytest.mark.parametrize("text", ["5 %%", "five", "-1", "1.5", "100%", ""])
def test_max_errors_refuses_what_is_neither(text: str) -> None:
    with pytest.raises(ValueError, match="--max-errors"):
        parse_max_errors(text)


def test_a_percentage_is_checked_from_20_finished_rows_on_and_not_attempted_ones_do_not_count() -> (
    None
):
    budget = ErrorBudget(MaxErrors(5, True))
    for _ in range(3):
        assert budget.note(Outcome.REJECTED) == ""
    for _ in range(50):
        assert budget.note(Outcome.NOT_ATTEMPTED) == ""
    for _ in range(MIN_FINISHED - 4):
        assert budget.note(Outcome.UPDATED) == ""
    why = budget.note(Outcome.SKIPPED)  # the 20th finished row: 3 of 20 = 15% > 5%
    assert why == "--max-errors 5%: 3 of the 20 rows finished so far were rejected or failed (15%)"
    assert budget.note(Outcome.FAILED) == ""  # said once


async def test_the_command_line_refuses_a_max_errors_it_cannot_read(tmp_path: Path) -> None:
    sheet = sheet_of(tmp_path, ["c1"])

    done = await bulkpatch("run", sheet, "--simulate", "--max-errors", "lots", cwd=tmp_path)

    assert done.returncode == 2
    assert b"neither a number of rows" in done.stderr
