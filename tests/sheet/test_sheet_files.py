"""Sheet files: only regular files are read, a snapshot is hashed in the one read that copies
it, and copies of rows or new tables are written whole, 0600, in the format their name says."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bulkpatch.sheet import (
    SheetError,
    copy_rows,
    file_sha256,
    open_sheet,
    snapshot_sheet,
    write_table,
)
from bulkpatch.sheet import files as files_module

CSV = (
    "campaign_id,name,#note\n"
    'c1, Renewals ,=HYPERLINK("x")\n'
    'c2,"multi\nline",plain\n'
    ",,\n"
    "c4,Sale,+91 98\n"
)


def write(tmp_path: Path, data: str | bytes, name: str = "sheet.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# -- not a regular file ------------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_a_named_pipe_is_refused_at_once_and_never_read(tmp_path: Path) -> None:
    pipe = tmp_path / "sheet.csv"
    os.mkfifo(pipe)
    for attempt in (
        lambda: open_sheet(pipe),
        lambda: snapshot_sheet(pipe, tmp_path),
        lambda: file_sha256(pipe),
    ):
        with pytest.raises(SheetError, match=r"is a named pipe \(FIFO\), not a regular file"):
            attempt()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.csv"]


def test_a_device_is_refused_as_not_a_regular_file() -> None:
    with pytest.raises(SheetError, match="is a character device, not a regular file"):
        open_sheet("/dev/zero", fmt="csv")


# -- snapshot ----------------------------------------------------------------------------------


def test_a_snapshot_is_a_0600_copy_hashed_in_the_one_read_of_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write(tmp_path, CSV, "nightly.csv")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    opened: list[str] = []
    real_open = os.open

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(files_module.os, "open", counting_open)
    sheet, digest = snapshot_sheet(source, run_dir)
    monkeypatch.undo()
    assert opened.count(str(source)) == 1
    copy = run_dir / "sheet.csv"
    assert sheet.path == copy
    assert sheet.source == source
    assert copy.read_bytes() == source.read_bytes()
    assert digest == hashlib.sha256(source.read_bytes()).hexdigest()
    assert copy.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in run_dir.iterdir()) == ["sheet.csv"]
    # The original may change now: the run reads the copy.
    source.write_text("campaign_id,name\nother,x\n", encoding="utf-8")
    assert [cells["campaign_id"] for _, cells in sheet.iter_rows()] == ["c1", "c2", "c4"]


def test_a_snapshot_of_a_bad_sheet_names_the_original_and_leaves_no_copy(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    source = write(tmp_path, b"campaign_id,name\nc1,Caf\xe9\n", "bad.csv")
    with pytest.raises(SheetError) as caught:
        snapshot_sheet(source, run_dir)
    assert str(caught.value).startswith(f"{source}: is not UTF-8 text")
    far = write(tmp_path, b"campaign_id,name\n" + b"c,abcdefgh\n" * 10_000 + b"d,\xff\n", "far.csv")
    sheet, _ = snapshot_sheet(far, run_dir)
    with pytest.raises(SheetError) as caught:
        list(sheet.iter_rows())
    assert str(caught.value).startswith(f"{far}: is not UTF-8 text (byte 0xff on line 10002)")
    empty = write(tmp_path, "", "empty.csv")
    with pytest.raises(SheetError, match=f"^{empty}: is empty"):
        snapshot_sheet(empty, run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["sheet.csv"]  # far.csv's copy only


def test_a_snapshot_keeps_the_kind_from_the_extension_or_the_format(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    source = write(tmp_path, "campaign_id,name\nc1,a\n", "export.txt")
    sheet, _ = snapshot_sheet(source, run_dir, fmt="csv")
    assert sheet.path == run_dir / "sheet.csv"
    with pytest.raises(SheetError, match="cannot tell the format"):
        snapshot_sheet(source, run_dir)


# -- copy_rows ---------------------------------------------------------------------------------


def test_copy_rows_writes_the_sheets_own_cells_for_the_chosen_rows(tmp_path: Path) -> None:
    sheet = open_sheet(write(tmp_path, CSV))
    result = copy_rows(sheet, {1, 2}, tmp_path / "retry.csv")
    assert (result.rows, result.formula_notes) == (2, 1)
    text = (tmp_path / "retry.csv").read_text(encoding="utf-8")
    assert (
        text
        == 'campaign_id,name,#note\nc1, Renewals ,"=HYPERLINK(""x"")"\nc2,"multi\nline",plain\n'
    )
    assert (tmp_path / "retry.csv").stat().st_mode & 0o777 == 0o600


def test_copy_rows_with_no_rows_writes_the_header_only(tmp_path: Path) -> None:
    sheet = open_sheet(write(tmp_path, CSV))
    result = copy_rows(sheet, set(), tmp_path / "retry.csv")
    assert result.rows == 0
    assert (tmp_path / "retry.csv").read_text(encoding="utf-8") == "campaign_id,name,#note\n"


def test_copy_rows_to_xlsx_and_parquet_keeps_text_exactly(tmp_path: Path) -> None:
    sheet = open_sheet(write(tmp_path, CSV))
    copy_rows(sheet, {1, 4}, tmp_path / "retry.xlsx")
    back = open_sheet(tmp_path / "retry.xlsx")
    assert [(n, c["campaign_id"], c["#note"]) for n, c in back.iter_rows(raw=True)] == [
        (2, "c1", '=HYPERLINK("x")'),
        (3, "c4", "+91 98"),
    ]
    result = copy_rows(sheet, {4}, tmp_path / "retry.parquet")
    assert result.formula_notes == 1
    assert pl.read_parquet(tmp_path / "retry.parquet").rows() == [("c4", "Sale", "+91 98")]


def test_copy_rows_parquet_to_parquet_keeps_native_types(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pq.write_table(
        pa.table(
            {
                "campaign_id": ["c1", "c2", "c3"],
                "allowed_schedule.allowed_days": [["Monday"], ["Tuesday"], None],
                "_note": ["=1+1", "ok", "-x"],
            }
        ),
        path,
    )
    result = copy_rows(open_sheet(path), {1, 3}, tmp_path / "retry.parquet")
    assert (result.rows, result.formula_notes) == (2, 2)
    table = pq.read_table(tmp_path / "retry.parquet")
    assert table.schema == pq.read_table(path).schema
    assert table.column("allowed_schedule.allowed_days").to_pylist() == [["Monday"], None]


def test_copy_rows_parquet_to_csv_writes_lists_as_json(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pq.write_table(
        pa.table({"campaign_id": ["c1"], "allowed_schedule.allowed_days": [["Monday"]]}), path
    )
    copy_rows(open_sheet(path), {1}, tmp_path / "retry.csv")
    assert (tmp_path / "retry.csv").read_text(encoding="utf-8") == (
        'campaign_id,allowed_schedule.allowed_days\nc1,"[""Monday""]"\n'
    )


# -- write_table -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.csv", "out.parquet", "out.xlsx"])
def test_write_table_round_trips_through_open_sheet(tmp_path: Path, name: str) -> None:
    rows = [["c1", "007", 7, True, {"max_retries": 3}], ["c2", None, None, False, None]]
    columns = ["campaign_id", "name", "app_config.app_version", "#flag", "app_config.retry_config"]
    assert write_table(tmp_path / name, columns, rows) == 2
    assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    read = [cells for _, cells in open_sheet(tmp_path / name).iter_rows()]
    assert [c["campaign_id"] for c in read] == ["c1", "c2"]
    assert read[0]["name"] == "007"
    assert str(read[0]["app_config.app_version"]) == "7"
    assert read[0]["app_config.retry_config"] == '{"max_retries": 3}'
    assert read[1]["name"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_write_table_refuses_an_unknown_extension_and_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SheetError, match="cannot tell the format"):
        write_table(tmp_path / "out.txt", ["a"], [])
    from bulkpatch.core.errors import StorageError

    with pytest.raises(StorageError, match="cannot write"):
        write_table(tmp_path / "missing" / "out.csv", ["a"], [])
