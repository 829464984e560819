"""CSVs as spreadsheets save them: trailing unnamed columns, slips of case or spacing in a header,
old Mac line ends, an Excel ``sep=`` line, invisible characters, thousands of unknown columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkpatch.sheet import UNNAMED, SheetError, open_sheet
from bulkpatch.validation import check_header, check_sheet

KEYS = ["org_id", "workspace_id", "campaign_id"]


def write(tmp_path: Path, data: str | bytes, name: str = "sheet.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_trailing_unnamed_columns_are_ignored_when_their_cells_are_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "campaign_id,name,,,\r\nc1,Sale,,,\r\nc2,Renewals,, ,\r\n")
    sheet = open_sheet(path)
    assert sheet.columns == ("campaign_id", "name")
    assert sheet.unnamed_columns == 3
    check = check_sheet(sheet, org="o", workspace="w")
    assert check.ok, (check.header_problems, check.problems)
    assert check.summary() == "2 rows: 2 valid, 0 invalid"


def test_a_value_under_an_unnamed_column_makes_its_row_invalid(tmp_path: Path) -> None:
    path = write(tmp_path, "campaign_id,name,,\nc1,Sale,,\nc2,Renewals,,oops\n")
    check = check_sheet(path, org="o", workspace="w")
    assert check.invalid_rows == {2}
    [problem] = check.problems
    assert problem.value == "oops"
    assert "a cell in a column without a name holds a value" in problem.rule
    rows = list(open_sheet(path).iter_rows())
    assert rows[1][1][UNNAMED] == "oops"


def test_an_unnamed_column_between_named_ones_is_a_sheet_problem(tmp_path: Path) -> None:
    check = check_sheet(write(tmp_path, "campaign_id,,name\nc1,,x\n"), org="o", workspace="w")
    assert [p.rule for p in check.header_problems] == [
        "column 2 has no name: name it, or delete the column"
    ]


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("Org_ID", "org_id"),
        ("org id", "org_id"),
        ("Workspace-Id", "workspace_id"),
        ("Campaign ID", "campaign_id"),
        ("Allowed_Schedule . Allowed_Days", "allowed_schedule.allowed_days"),
        ("EXPECT.STATUS", "expect.status"),
    ],
)
def test_a_header_that_differs_only_in_case_or_spaces_gets_did_you_mean(
    written: str, meant: str
) -> None:
    header = [c for c in [*KEYS, "name"] if c != meant]
    problems = check_header([*header, written])
    assert f"unknown column `{written}` — did you mean `{meant}`?" in [p.rule for p in problems]


def test_a_header_all_in_capitals_is_named_column_by_column_not_as_a_missing_header() -> None:
    problems = check_header(["ORG_ID", "WORKSPACE_ID", "CAMPAIGN_ID", "NAME"])
    rules = [p.rule for p in problems]
    assert "unknown column `ORG_ID` — did you mean `org_id`?" in rules
    assert not any("no header" in r for r in rules)


def test_cr_only_line_ends_are_named_as_such(tmp_path: Path) -> None:
    path = write(tmp_path, b"campaign_id,name\rc1,Sale\rc2,Renewals\r")
    with pytest.raises(SheetError, match=r"carriage return alone \(CR, the old Mac format\)"):
        open_sheet(path)


def test_crlf_and_a_quoted_carriage_return_are_not_taken_for_old_mac_line_ends(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, b'campaign_id,name\r\nc1,"a\rb"\r\n')
    assert [cells for _, cells in open_sheet(path).iter_rows()] == [
        {"campaign_id": "c1", "name": "a\rb"}
    ]


@pytest.mark.parametrize("first", ["sep=,", "sep=;", '"sep=,"', "SEP=,"])
def test_an_excel_sep_line_is_named_as_the_cause(tmp_path: Path, first: str) -> None:
    path = write(tmp_path, f"{first}\ncampaign_id,name\nc1,Sale\n")
    with pytest.raises(SheetError, match="a hint some programs write for Excel, not the header"):
        open_sheet(path)


@pytest.mark.parametrize(
    ("column", "shown", "char"),
    [
        ("\u200bcampaign_id", "<U+200B>campaign_id", "U+200B ZERO WIDTH SPACE"),
        ("campaign_id\ufeff", "campaign_id<U+FEFF>", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("name\u200d", "name<U+200D>", "U+200D ZERO WIDTH JOINER"),
    ],
)
def test_an_invisible_character_in_a_header_is_named_and_shown(
    column: str, shown: str, char: str
) -> None:
    header = [*KEYS, "name"]
    header[header.index(column.strip("\u200b\ufeff\u200d"))] = column
    problems = check_header(header)
    meant = column.strip("\u200b\ufeff\u200d")
    assert problems[0].rule == (
        f"column `{shown}` holds an invisible character ({char}): delete it; "
        f"without it the name is `{meant}`"
    )


def test_an_invisible_character_in_a_csv_header_is_found_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "org_id,workspace_id,campaign\u200b_id,name\no,w,c1,x\n")
    check = check_sheet(path)
    assert "holds an invisible character (U+200B ZERO WIDTH SPACE)" in check.header_problems[0].rule


def test_thousands_of_unknown_columns_are_listed_twenty_and_counted() -> None:
    header = [*KEYS, "name", *(f"metric_{i}" for i in range(5000))]
    problems = check_header(header)
    unknown = [p for p in problems if p.rule.startswith("unknown column")]
    assert len(unknown) == 20
    assert problems[20].rule.startswith("and 4,980 more unknown columns (`metric_20`, ")
    assert len(problems) == 21
