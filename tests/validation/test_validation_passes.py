"""One read of the sheet and one validation per row, for the check; the run's streaming pass reads
the sheet again but validates no row (it reuses the check's judgement); the check's pass also
yields the --no-read problems, the campaign keys and the row numbers the streaming pass will
yield."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bulkpatch.core.rows import CampaignKey
from bulkpatch.sheet import Sheet, open_sheet
from bulkpatch.sheet import csvfile as csv_module
from bulkpatch.validation import RowValidator, check_sheet, iter_verdicts
from bulkpatch.validation.columnar import FrameValidator
from bulkpatch.validation.framepass import FramePass
from bulkpatch.validation.sheetcheck import NO_READ_KEPT

HEADER = "org_id,workspace_id,campaign_id,name,allowed_schedule.timezone,expect.status"


def write(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "sheet.csv"
    path.write_text(header + "\n" + "".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


class Counts:
    """Counts passes over a sheet's rows (as rows or as frames), opens of its file, and
    validations of each row: row by row (``examine``), or column by column (a row a frame's
    column-wise rules accept)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.passes = 0
        self.opens = 0
        self.validations: Counter[int] = Counter()
        self.column_wise = 0
        real_iter = Sheet.iter_rows
        real_frames = Sheet.iter_frames
        real_open = csv_module.open_regular
        real_examine = RowValidator.examine
        real_judge = FrameValidator.judge
        real_frame = FramePass.frame
        judged: list[Any] = []

        def iter_rows(sheet: Sheet, *args: Any, **kwargs: Any) -> Iterator[Any]:
            self.passes += 1
            return real_iter(sheet, *args, **kwargs)

        def iter_frames(sheet: Sheet, *args: Any, **kwargs: Any) -> Iterator[Any]:
            self.passes += 1
            return real_frames(sheet, *args, **kwargs)

        def judge(validator: FrameValidator, frame: Any) -> Any:
            blank, ok = real_judge(validator, frame)
            judged.append(ok)
            return blank, ok

        def frame(judge_pass: FramePass, start: int, raw: Any) -> None:
            real_frame(judge_pass, start, raw)
            for index in judged.pop().arg_true().to_list():
                self.validations[start + index] += 1
                self.column_wise += 1

        def open_regular(*args: Any, **kwargs: Any) -> int:
            self.opens += 1
            return real_open(*args, **kwargs)

        def examine(validator: RowValidator, row: int, cells: Any) -> Any:
            self.validations[row] += 1
            return real_examine(validator, row, cells)

        monkeypatch.setattr(Sheet, "iter_rows", iter_rows)
        monkeypatch.setattr(Sheet, "iter_frames", iter_frames)
        monkeypatch.setattr(FrameValidator, "judge", judge)
        monkeypatch.setattr(FramePass, "frame", frame)
        monkeypatch.setattr(csv_module, "open_regular", open_regular)
        monkeypatch.setattr(RowValidator, "examine", examine)


def lines(n: int) -> list[str]:
    return [f"o,w,c{i},Name {i},,{'paused' if i % 2 else ''}" for i in range(1, n + 1)]


def test_check_sheet_reads_the_sheet_once_and_validates_each_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sheet = open_sheet(write(tmp_path, [*lines(120), "o,w,c1,dup,,", "o,w,bad id,x,,"]))
    counts = Counts(monkeypatch)
    check = check_sheet(sheet, no_read=True, collect_keys=True, batch_size=16)
    assert (counts.passes, counts.opens) == (1, 1)
    assert set(counts.validations.values()) == {1}
    assert len(counts.validations) == 122
    assert counts.column_wise > 0
    assert check.invalid_rows == {1, 121, 122}


def test_iter_verdicts_reads_once_and_validates_each_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sheet = open_sheet(write(tmp_path, [*lines(50), "o,w,c3,dup,,"]))
    check = check_sheet(sheet)
    counts = Counts(monkeypatch)
    verdicts = list(iter_verdicts(sheet, check=check, batch_size=7))
    assert (counts.passes, counts.opens) == (1, 1)
    assert set(counts.validations.values()) == {1}
    assert len(counts.validations) == 51
    assert [v.row for v in verdicts] == list(check.row_numbers())
    bad = [v for v in verdicts if not v.ok]
    assert [v.row for v in bad] == [3, 51]
    assert all("the same campaign" in v.problems[0].rule for v in bad)


def test_the_check_knows_the_row_numbers_the_streaming_pass_yields(tmp_path: Path) -> None:
    body = ["o,w,c1,a,,", ",,,,,", "o,w,c3,b,,", "", "o,w,c5,c,,", ",,,,,", ""]
    sheet = open_sheet(write(tmp_path, body))
    check = check_sheet(sheet)
    assert (check.first_row, check.last_row) == (1, 5)
    assert check.blank_row_numbers == {2, 4}
    assert check.blank_rows == 2
    assert list(check.row_numbers()) == [1, 3, 5]
    assert [v.row for v in iter_verdicts(sheet, check=check)] == [1, 3, 5]


def test_no_read_problems_come_from_the_same_pass_capped_and_counted(tmp_path: Path) -> None:
    body = [f"o,w,c{i},Name {i},UTC," for i in range(1, 81)] + ["o,w,c81,Only a name,,"]
    check = check_sheet(write(tmp_path, body), no_read=True)
    assert check.ok
    assert len(check.no_read_problems) == NO_READ_KEPT
    assert check.no_read_problem_count == 80
    assert check.no_read_rows == frozenset(range(1, 81))
    assert "needs the current `allowed_schedule`" in check.no_read_problems[0].rule
    plain = check_sheet(write(tmp_path, body))
    assert (plain.no_read_problems, plain.no_read_problem_count) == ([], 0)


def test_no_read_problems_skip_rows_that_are_invalid_anyway(tmp_path: Path) -> None:
    check = check_sheet(
        write(tmp_path, ["o,w,c1,Bad!,,paused", "o,w,c2,Fine,,paused"]), no_read=True
    )
    assert check.invalid_rows == {1}
    assert [(p.row, p.column) for p in check.no_read_problems] == [(2, "expect.status")]


def test_collect_keys_gives_every_row_with_valid_ids_and_its_guards_in_order(
    tmp_path: Path,
) -> None:
    body = [
        "o,w,c1,a,,paused",
        "o,w,c2,Bad!,,",
        "o,w,bad id,x,,",
        "o,w,c4,d,,nonsense",
        "o,w,c1,e,,",
    ]
    check = check_sheet(write(tmp_path, body), collect_keys=True)
    assert check.keys == [
        (CampaignKey("o", "w", "c1"), {"status": "paused"}),
        (CampaignKey("o", "w", "c2"), {}),
        (CampaignKey("o", "w", "c4"), {}),
        (CampaignKey("o", "w", "c1"), {}),
    ]
    assert check_sheet(write(tmp_path, body)).keys == []


def test_the_streaming_pass_after_a_kept_check_validates_no_row_and_yields_the_same_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = [*lines(30), "o,w,c3,dup,,", "o,w,bad id,x,,", ",,,,,", "o,w,c9b,Bad!,,", "o,w,c40,,,"]
    sheet = open_sheet(write(tmp_path, body))
    plain = list(iter_verdicts(sheet, check=check_sheet(sheet)))
    kept = check_sheet(sheet, keep=True)
    counts = Counts(monkeypatch)
    reused = list(iter_verdicts(sheet, check=kept, batch_size=4))
    assert counts.passes == 1
    assert not counts.validations
    assert reused == plain
    assert [v.row for v in reused if not v.ok] == [3, 31, 32, 34, 35]


async def test_a_whole_run_reads_its_sheet_copy_twice_and_validates_each_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_simulator: Any
) -> None:
    """A run: one read of the original (the snapshot, hashed while copied), then the check's pass
    and the streaming pass over the copy, one validation per row in all (the streaming pass
    reuses the check's judgement); retry.csv adds a pass only when some row did not succeed."""
    from support.runs import run_sheet

    ends = "2026-01-20T18:00:00Z"
    rows = [f"o,w,c{i},Name {i},{ends}" for i in range(1, 41)]
    rows[7] = "o,w,c8,Name 8,2026-01-20 18:00:00+05:30"  # judged row by row: its values kept
    sheet_path = write(tmp_path, rows, header="org_id,workspace_id,campaign_id,name,end_timestamp")
    start = {"status": "paused", "start_timestamp": "2026-01-10T00:00:00Z"}
    sim = await start_simulator(overrides={("o", "w", f"c{i}"): start for i in range(1, 41)})
    counts = Counts(monkeypatch)
    run = await run_sheet(sheet_path, sim, monkeypatch)
    assert run.code == 0, run.output
    assert counts.passes == 2  # the check and the streaming pass: retry.csv had no row
    assert set(counts.validations.values()) == {1}
    assert len(counts.validations) == 40
    assert counts.column_wise == 39
