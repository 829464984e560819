"""Excel workbooks in: the first worksheet or a named one, cells typed by their column, Excel's
row numbers; Excel out: text stays text, numbers stay numbers."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import xlsxwriter

from bulkpatch.sheet import SheetError, open_sheet, write_table
from bulkpatch.validation import check_sheet, iter_verdicts

KEYS = ["org_id", "workspace_id", "campaign_id"]


def workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """A workbook whose cells keep their Python types (numbers, booleans, dates, text)."""
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    clock = book.add_format({"num_format": "hh:mm"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, bool):
                    sheet.write_boolean(r, c, value)
                elif isinstance(value, int | float):
                    sheet.write_number(r, c, value)
                elif isinstance(value, datetime | date):
                    sheet.write_datetime(r, c, value, when)
                elif isinstance(value, time):
                    sheet.write_datetime(r, c, value, clock)
                else:
                    sheet.write_string(r, c, value)
    book.close()
    return path


def test_an_xlsx_sheet_reads_its_first_worksheet_with_excel_row_numbers(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "changes.xlsx",
        {
            "Changes": [
                [*KEYS, "name", "app_config.app_version"],
                ["o", "w", "cmp-1", "  Renewals  ", 7],
                [None, None, None, None, None],
                ["o", "w", "007", "Sale", 8.0],
            ],
            "Notes": [["anything"], ["else"]],
        },
    )
    sheet = open_sheet(path)
    assert (sheet.kind, sheet.sheet_name, sheet.first_row) == ("xlsx", "Changes", 2)
    assert sheet.columns == (*KEYS, "name", "app_config.app_version")
    assert list(sheet.iter_rows()) == [
        (2, {"org_id": "o", "workspace_id": "w", "campaign_id": "cmp-1", "name": "Renewals",
             "app_config.app_version": "7"}),
        (4, {"org_id": "o", "workspace_id": "w", "campaign_id": "007", "name": "Sale",
             "app_config.app_version": "8"}),
    ]  # fmt: skip


def test_sheet_name_picks_a_worksheet_and_a_wrong_one_lists_them(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "book.xlsx",
        {"Readme": [["read me"]], "Changes": [["campaign_id", "name"], ["c1", "x"]]},
    )
    sheet = open_sheet(path, sheet_name="Changes")
    assert sheet.sheet_name == "Changes"
    assert [cells for _, cells in sheet.iter_rows()] == [{"campaign_id": "c1", "name": "x"}]
    with pytest.raises(SheetError, match="has no worksheet named `Change`; its worksheets are "
                       "`Readme`, `Changes`"):  # fmt: skip
        open_sheet(path, sheet_name="Change")
    with pytest.raises(SheetError, match=r"--sheet-name picks a worksheet of an \.xlsx"):
        open_sheet(write_csv(tmp_path), sheet_name="Changes")


def write_csv(tmp_path: Path) -> Path:
    path = tmp_path / "plain.csv"
    path.write_text("campaign_id,name\nc1,x\n", encoding="utf-8")
    return path


def test_excel_numbers_and_booleans_are_typed_by_their_column(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "s.xlsx",
        {
            "S": [
                [*KEYS, "app_config.app_version", "app_config.attempts_per_second",
                 "app_config.retry_config.retry_on.busy.enabled"],
                ["o", "w", "c1", 7.0, 2.5, True],
                ["o", "w", "c2", 7.5, 3, False],
                ["o", "w", "c3", 2**31, 1, True],
            ]
        },
    )  # fmt: skip
    verdicts = list(iter_verdicts(open_sheet(path)))
    assert [v.row for v in verdicts] == [2, 3, 4]
    assert verdicts[0].change is not None
    assert verdicts[0].change.changes == {
        "app_config.app_version": 7,
        "app_config.attempts_per_second": 2.5,
        "app_config.retry_config.retry_on.busy.enabled": True,
    }
    [fraction] = verdicts[1].problems
    assert (fraction.row, fraction.column) == (3, "app_config.app_version")
    assert "without a fraction" in fraction.rule or "digits only" in fraction.rule
    [too_big] = verdicts[2].problems
    assert "at most 2147483647" in too_big.rule


def test_a_date_or_time_cell_in_a_time_column_is_an_error_naming_row_and_column(
    tmp_path: Path,
) -> None:
    path = workbook(
        tmp_path / "s.xlsx",
        {
            "S": [
                [*KEYS, "allowed_schedule.allowed_start_time"],
                ["o", "w", "c1", time(9, 0)],
                ["o", "w", "c2", datetime(2026, 1, 5, 9, 30)],
                ["o", "w", "c3", "09:00"],
            ]
        },
    )
    check = check_sheet(path)
    assert check.invalid_rows == {2, 3}
    for problem in check.problems:
        assert problem.column == "allowed_schedule.allowed_start_time"
        assert "is a date and time, not a time of day HH:MM" in problem.rule
        assert "format the column as text" in problem.rule
    assert "row 2, column `allowed_schedule.allowed_start_time`" in str(check.problems[0])


def test_an_excel_datetime_end_timestamp_is_refused_for_its_missing_time_zone(
    tmp_path: Path,
) -> None:
    path = workbook(
        tmp_path / "s.xlsx",
        {
            "S": [
                [*KEYS, "end_timestamp"],
                ["o", "w", "c1", datetime(2026, 12, 1, 18, 0)],
                ["o", "w", "c2", "2026-12-01T18:00:00+05:30"],
            ]
        },
    )
    check = check_sheet(path)
    assert check.invalid_rows == {2}
    [problem] = check.problems
    assert "has no time zone" in problem.rule
    assert "a spreadsheet date cell has no time zone" in problem.rule


def test_a_workbook_sheet_counts_rows_and_blanks_in_excel_numbering(tmp_path: Path) -> None:
    rows: list[list[Any]] = [["campaign_id", "name"]]
    rows += [[f"c{i}", "n"] if i % 3 else [None, None] for i in range(1, 10)]
    check = check_sheet(workbook(tmp_path / "s.xlsx", {"S": rows}), org="o", workspace="w")
    assert check.first_row == 2
    assert check.last_row == 9  # row 10 is blank, and last
    assert check.blank_row_numbers == {4, 7}
    assert list(check.row_numbers()) == [2, 3, 5, 6, 8, 9]
    assert check.rows == 6


def test_a_header_not_in_row_1_or_an_empty_worksheet_is_named(tmp_path: Path) -> None:
    late = workbook(tmp_path / "late.xlsx", {"S": [[None], [None], ["campaign_id"], ["c1"]]})
    with pytest.raises(SheetError, match="worksheet `S` has no header: its row 1 must name"):
        open_sheet(late)
    empty = workbook(tmp_path / "empty.xlsx", {"Blank": []})
    with pytest.raises(SheetError, match="worksheet `Blank` is empty"):
        open_sheet(empty)


def test_trailing_unnamed_columns_of_a_workbook_are_ignored_while_empty(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "s.xlsx",
        {"S": [["campaign_id", "name", None, None], ["c1", "a"], ["c2", "b", None, "stray"]]},
    )
    sheet = open_sheet(path)
    assert sheet.columns == ("campaign_id", "name")
    check = check_sheet(sheet, org="o", workspace="w")
    assert check.invalid_rows == {3}
    assert "column without a name holds a value" in check.problems[0].rule


def test_write_table_xlsx_keeps_text_as_text_and_numbers_as_numbers(tmp_path: Path) -> None:
    out = tmp_path / "out.xlsx"
    count = write_table(
        out,
        ["campaign_id", "name", "app_config.app_version", "#note", "app_config.retry_config"],
        [
            ["007", "=HYPERLINK(1)", 7, "https://example.com/x", {"max_retries": 3}],
            ["c2", None, 2.5, "+91 98", ["a"]],
        ],
    )
    assert count == 2
    assert out.stat().st_mode & 0o777 == 0o600
    frame = pl.read_excel(out, engine="calamine")
    assert frame.columns == [
        "campaign_id", "name", "app_config.app_version", "#note", "app_config.retry_config"
    ]  # fmt: skip
    assert frame.row(0) == ("007", "=HYPERLINK(1)", 7.0, "https://example.com/x",
                            '{"max_retries": 3}')  # fmt: skip
    # And bulkpatch reads it back as it wrote it.
    assert [cells["campaign_id"] for _, cells in open_sheet(out).iter_rows()] == ["007", "c2"]


def test_write_table_refuses_what_an_excel_cell_cannot_hold_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.xlsx"
    with pytest.raises(SheetError, match="more than an Excel cell holds"):
        write_table(out, ["description"], [["x" * 40_000]])
    assert list(tmp_path.iterdir()) == []
