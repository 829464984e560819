"""What a run keeps per row stays small: the check it keeps for the whole run, and what its
streaming pass holds at a time, do not grow with the sheet (measured with tracemalloc, ten times
the rows against one time); the rows the check judged row by row wait on disk, in row order."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bulkpatch.sheet import open_sheet
from bulkpatch.sheet.csvfile import CSV_LEAN_FRAME_BYTES
from bulkpatch.validation import RowValidator, check_sheet, iter_verdicts
from bulkpatch.validation import framepass as framepass_module
from bulkpatch.validation import spill as spill_module
from bulkpatch.validation.spill import Spill

SMALL, LARGE = 2_500, 25_000


def _sheet(path: Path, rows: int, header: str, line: Callable[[int], str]) -> Path:
    path.write_text(header + "\n" + "".join(line(n) + "\n" for n in range(1, rows + 1)))
    return path


def _wide(tmp_path: Path, rows: int) -> Path:
    """Rows every column-wise rule accepts, wide enough (about 450 bytes) that even the short
    sheet is read in more than one frame: what a pass holds then grows with nothing but rows."""
    header = "org_id,workspace_id,campaign_id,name,description,#note"
    text = "word " * 28
    path = tmp_path / f"wide-{rows}.csv"
    sheet = _sheet(path, rows, header, lambda n: f"o,w,c{n},Name {n},{text}{n},{text * 2}{n}")
    assert sheet.stat().st_size > CSV_LEAN_FRAME_BYTES
    return sheet


def _looked(tmp_path: Path, rows: int) -> Path:
    """Rows judged row by row: a time with a zone the column-wise rule is not sure of."""
    header = "org_id,workspace_id,campaign_id,end_timestamp"
    ends = "2026-01-20 18:00:00+05:30"
    return _sheet(tmp_path / f"looked-{rows}.csv", rows, header, lambda n: f"o,w,c{n},{ends}")


def _traced(measure: Callable[[], Any]) -> tuple[int, int, Any]:
    """``(held, peak, result)``: what ``measure`` leaves allocated with its result alive, and
    the most it held at once (bytes, beyond what was allocated before; garbage collected)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = measure()
        peak = tracemalloc.get_traced_memory()[1]
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        return held - before, peak - before, result
    finally:
        tracemalloc.stop()


def _streamed_peak(path: Path) -> int:
    sheet = open_sheet(path)
    check = check_sheet(sheet, no_read=True, keep=True)
    assert check.ok

    def stream() -> int:
        return sum(1 for _ in iter_verdicts(sheet, check=check))

    _, peak, rows = _traced(stream)
    assert rows == check.rows
    return peak


def _kept_after_check(path: Path, examined: Examined) -> int:
    examined.rows = 0
    held, _, check = _traced(lambda: check_sheet(open_sheet(path), keep=True))
    assert check.ok
    assert check.reuse is not None
    assert examined.rows == check.rows  # every row judged row by row
    return held


class Examined:
    """Counts the rows :meth:`RowValidator.examine` judges (a count: nothing kept per row)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows = 0
        real_examine = RowValidator.examine

        def examine(validator: RowValidator, row: int, cells: Any) -> Any:
            self.rows += 1
            return real_examine(validator, row, cells)

        monkeypatch.setattr(RowValidator, "examine", examine)


def test_the_streaming_pass_holds_about_as_much_for_ten_times_the_rows(tmp_path: Path) -> None:
    small = _streamed_peak(_wide(tmp_path, SMALL))
    large = _streamed_peak(_wide(tmp_path, LARGE))
    assert large < 2 * small, (small, large)


def test_a_check_kept_for_the_run_holds_about_as_much_for_ten_times_the_rows_judged_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    examined = Examined(monkeypatch)
    small = _kept_after_check(_looked(tmp_path, SMALL), examined)
    large = _kept_after_check(_looked(tmp_path, LARGE), examined)
    assert large < 2 * small, (small, large)


def test_rows_judged_one_by_one_in_several_parts_and_batches_yield_the_same_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ends = "2026-01-20 18:00:00+05:30"
    body = [f"o,w,c{n},Name {n},{ends if n % 3 else ''}" for n in range(1, 30)]
    body[4] = "o,w,c5,Bad!,"  # its own problem
    body[9] = f"o,w,c3,Name 10,{ends}"  # a campaign repeated, judged row by row
    body[12] = "o,w,c4,Name 13,"  # a campaign repeated, judged column by column
    body[20] = ",,,,"  # blank
    path = tmp_path / "sheet.csv"
    path.write_text("org_id,workspace_id,campaign_id,name,end_timestamp\n" + "\n".join(body))
    sheet = open_sheet(path)
    plain = list(iter_verdicts(sheet, check=check_sheet(sheet)))
    monkeypatch.setattr(framepass_module, "STREAM_ROWS", 4)
    monkeypatch.setattr(spill_module, "SPILL_BATCH", 3)
    kept = check_sheet(sheet, keep=True)
    assert kept.reuse is not None
    assert kept.reuse.looked.count > 6
    examined = Examined(monkeypatch)
    assert list(iter_verdicts(sheet, check=kept)) == plain
    assert list(iter_verdicts(sheet, check=kept)) == plain  # the file is read again from the top
    assert examined.rows == 0
    assert [v.row for v in plain if not v.ok] == [3, 4, 5, 10, 13]


def _folders_of_files_made(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The folder of each file a :class:`Spill` makes from now on."""
    folders: list[Any] = []
    real_mkstemp = spill_module.tempfile.mkstemp

    def mkstemp(*args: Any, **kwargs: Any) -> Any:
        folders.append(kwargs.get("dir"))
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(spill_module.tempfile, "mkstemp", mkstemp)
    return folders


def test_records_come_back_in_order_from_disk_and_from_memory_once_the_disk_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = _folders_of_files_made(monkeypatch)
    spill = Spill(tmp_path, batch=2)
    records = [(n, ("o", "w", f"c{n}"), 0, {"name": f"N {n}"}, {}) for n in range(7)]
    for record in records[:4]:
        spill.add(record)
    assert folders == [tmp_path]  # made in the folder given, and removed from it at once
    assert list(tmp_path.iterdir()) == []
    assert list(spill) == records[:4]

    def no_room(*args: Any, **kwargs: Any) -> Iterator[Any]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spill_module.os, "pwrite", no_room)
    for record in records[4:]:
        spill.add(record)
    assert list(spill) == records
    assert spill.count == len(records)


def test_a_run_keeps_the_rows_judged_one_by_one_beside_its_copy_of_the_sheet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = _folders_of_files_made(monkeypatch)
    monkeypatch.setattr(spill_module, "SPILL_BATCH", 4)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    check = check_sheet(_looked(run_dir, 10), keep=True)
    assert check.reuse is not None
    assert check.reuse.looked.count == 10
    assert folders == [run_dir]
    assert [p.name for p in run_dir.iterdir()] == ["looked-10.csv"]
