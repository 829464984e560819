"""A row's two records: its line of results.csv and its journal line, each of its own shape; the
journal reads the lines of the previous version, refuses a newer format, and keeps a row whose
PATCH outcome stayed unknown in doubt while remembering what its session reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bulkpatch.core.errors import JournalError
from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import (
    DONE_FORMAT,
    REPORT_COLUMNS,
    RowResult,
    done_record,
    report_row,
    result_from_done,
)
from bulkpatch.core.rows import CampaignKey
from bulkpatch.rundir.files import RESULT_COLUMNS, read_results, rewrite_results, write_results
from bulkpatch.rundir.journal import JournalWriter, read_journal
from support.runs import StartSimulator, campaign_rows, run_sheet, write_sheet

KEY = CampaignKey("org-1", "ws-1", "cmp-1")
RESULT = RowResult(
    row=7,
    key=KEY,
    outcome=Outcome.UPDATED,
    reason="=SUM(A1)",
    http_status=200,
    attempts=2,
    changed_fields=("name", "allowed_schedule.allowed_days"),
    campaign_status="scheduled",
    updated_at="2026-12-01T03:15:28Z",
    duration_ms=41,
    before={"name": "Old", "allowed_schedule.allowed_days": ["Mon"]},
)


def test_a_report_row_has_exactly_the_results_columns_and_no_values_from_before() -> None:
    row = report_row(RESULT)
    assert tuple(row) == REPORT_COLUMNS == RESULT_COLUMNS
    assert row["changed_fields"] == "name;allowed_schedule.allowed_days"
    assert "before" not in row
    assert "v" not in row


def test_a_done_line_carries_its_format_and_the_values_before_the_change() -> None:
    record = done_record(RESULT)
    assert record["v"] == DONE_FORMAT
    assert record["before"] == RESULT.before
    assert record["outcome"] == "updated"
    assert json.loads(json.dumps(record)) == record  # plain JSON values only


def test_a_done_line_reads_back_as_the_result_it_was_made_from() -> None:
    assert result_from_done(json.loads(json.dumps(done_record(RESULT)))) == RESULT


def test_a_done_line_of_the_previous_version_without_a_format_reads_back(tmp_path: Path) -> None:
    # What bulkpatch wrote before done lines carried "v": the report row plus "before".
    old = {"e": "done", "t": 1.0, "before": RESULT.before, **report_row(RESULT)}
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps({"e": "start", "journal": 1}) + "\n" + json.dumps(old) + "\n")
    state = read_journal(path)
    assert result_from_done(state.done[7]) == RESULT


def test_a_done_line_of_a_newer_format_is_refused_naming_the_format(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    newer = {"e": "done", **done_record(RESULT), "v": DONE_FORMAT + 1}
    path.write_text(json.dumps({"e": "start", "journal": 1}) + "\n" + json.dumps(newer) + "\n")
    with pytest.raises(JournalError, match=f"in format {DONE_FORMAT + 1}"):
        read_journal(path)


def test_an_unsettled_row_stays_in_doubt_and_the_journal_keeps_what_its_session_reported(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path)
    writer.write("sent", row=7, key=str(KEY), op="patch")
    writer.write("unsettled", **done_record(RESULT))
    writer.write("sent", row=8, key="org-1/ws-1/cmp-2", op="patch")
    writer.write("unsettled", **done_record(RowResult(8, None, Outcome.FAILED)))
    writer.write("sent", row=8, key="org-1/ws-1/cmp-2", op="patch")  # a resume took it up
    writer.close()
    state = read_journal(path)
    assert set(state.in_doubt) == {7, 8}
    assert state.done == {}
    assert set(state.unsettled) == {7}
    assert result_from_done(state.unsettled[7]) == RESULT


def test_results_are_written_whole_with_their_cells_made_safe_and_rows_can_be_rewritten(
    tmp_path: Path,
) -> None:
    path = tmp_path / "results.csv"
    other = RowResult(8, KEY, Outcome.FAILED, "errors")
    write_results(path, [report_row(RESULT), report_row(other)])
    lines = list(read_results(path))
    assert [line["row"] for line in lines] == ["7", "8"]
    assert lines[0]["reason"] == "'=SUM(A1)"
    rewrite_results(path, {8: report_row(RowResult(8, KEY, Outcome.UPDATED))})
    again = list(read_results(path))
    assert again[0] == lines[0]
    assert again[1]["outcome"] == "updated"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]
    assert path.stat().st_mode & 0o777 == 0o600


async def test_a_journal_the_previous_version_wrote_is_resumed_keeping_its_rows(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [f"r{n}" for n in range(1, 7)]
    sim = await start_simulator(overrides={("org-r", "ws-r", c): {"status": "paused"} for c in ids})
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(ids, "org-r", "ws-r", name="New"))
    run = await run_sheet(sheet, sim, monkeypatch)
    assert run.run_dir is not None
    first = run.results()
    journal = run.run_dir / "journal.jsonl"
    old: list[str] = []
    for record in map(json.loads, journal.read_text().splitlines()):
        if record["e"] == "end" or (record["e"] == "done" and record["row"] > 4):
            continue  # killed after sending rows 5 and 6, before their answers were journaled
        record.pop("v", None)  # done lines as the previous version wrote them
        old.append(json.dumps(record) + "\n")
    journal.write_text("".join(old))

    again = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=run.run_dir)

    assert again.code == 0, again.output
    rows = again.results()
    assert rows[:4] == first[:4]
    assert [r["outcome"] for r in rows[4:]] == ["updated", "updated"]
    assert all(r["reason"].startswith("confirmed by reading back") for r in rows[4:])
    assert sim.stats()["patches_applied_total"] == 6  # nothing sent twice
    state = read_journal(journal)
    assert {row: rec.get("v") for row, rec in state.done.items()} == {
        1: None,
        2: None,
        3: None,
        4: None,
        5: DONE_FORMAT,
        6: DONE_FORMAT,
    }
