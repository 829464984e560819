"""``bulkpatch validate``: readable problems, a one-line summary, exit 0 or 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import bulkpatch.cli.validate  # noqa: F401  (registers the command)
from bulkpatch.cli import cli
from support.runs import bulkpatch_sync

EXAMPLES = Path(__file__).resolve().parents[2] / "input_examples"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["validate", *map(str, args)])


def write(tmp_path: Path, text: str, name: str = "sheet.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_clean(result: Result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "\x1b[" not in result.output  # plain text when not on a terminal


@pytest.mark.parametrize(
    ("name", "summary"),
    [
        ("mass-schedule-change.csv", "300 rows: 300 valid, 0 invalid"),
        ("migration.parquet", "400 rows: 400 valid, 0 invalid"),
        ("nightly-end-dates.csv", "120 rows: 120 valid, 0 invalid"),
        ("retry-policy.xlsx", "150 rows: 150 valid, 0 invalid"),
    ],
)
def test_a_valid_example_sheet_exits_0_with_a_one_line_summary(name: str, summary: str) -> None:
    result = run(EXAMPLES / name)
    assert_clean(result)
    assert result.exit_code == 0
    assert result.stdout.strip().splitlines() == [summary]


def test_the_bad_rows_example_prints_every_problem_by_row_and_exits_2() -> None:
    result = run(EXAMPLES / "bad-rows.csv")
    assert_clean(result)
    assert result.exit_code == 2
    out = result.stdout
    assert "  row 5\n" in out
    assert 'end_timestamp = "2026-12-24T18:00:00": has no time zone' in out
    assert 'allowed_schedule.allowed_days = "Mon,Funday": `Funday` is not a day' in out
    assert "(org-demo/ws-demo/cmp-000029) is also in row 30" in out
    assert "(org-demo/ws-demo/cmp-000029) is also in row 29" in out
    assert out.rstrip().endswith("30 rows: 1 valid, 29 invalid")


def test_a_misspelt_column_is_refused_with_did_you_mean() -> None:
    result = run(EXAMPLES / "bad-column.csv")
    assert_clean(result)
    assert result.exit_code == 2
    assert (
        "unknown column `allowed_schedule.timezon` — did you mean `allowed_schedule.timezone`?"
        in result.stdout
    )
    assert "sheet problems that stop the whole sheet" in result.stdout


def test_org_and_workspace_options_fill_sheets_without_those_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "campaign_id,name\ncmp-1,Renewals\n")
    assert run(path).exit_code == 2
    assert "no `org_id` column and no --org" in run(path).stdout
    result = run(path, "--org", "org-1", "--workspace", "ws-1")
    assert result.exit_code == 0
    assert "1 row: 1 valid, 0 invalid" in result.stdout


def test_an_invalid_org_option_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "campaign_id,name\ncmp-1,Renewals\n")
    result = run(path, "--org", "org/1", "--workspace", "ws-1")
    assert_clean(result)
    assert result.exit_code == 2
    assert '--org "org/1": must be 1-128 characters' in result.stdout


def test_format_reads_a_file_whose_extension_does_not_say(tmp_path: Path) -> None:
    path = write(tmp_path, "org_id,workspace_id,campaign_id,name\no,w,c,n\n", name="export.dat")
    assert run(path).exit_code == 2
    assert "cannot tell the format" in run(path).stderr
    assert run(path, "--format", "csv").exit_code == 0


def test_a_problem_many_rows_share_is_printed_once_with_its_rows(tmp_path: Path) -> None:
    lines = "".join(f"o,w,cmp-{i},2026-12-01T18:00\n" for i in range(1, 41))
    path = write(tmp_path, "org_id,workspace_id,campaign_id,end_timestamp\n" + lines)
    result = run(path)
    assert result.exit_code == 2
    out = result.stdout
    assert out.count("has no time zone") == 1
    assert "Problems shared by many rows:" in out
    assert "40 rows: 1, 2, 3, 4, 5, 6, 7, 8 and 32 more" in out
    assert out.rstrip().endswith("40 rows: 0 valid, 40 invalid")


def test_a_long_list_of_problems_is_capped_but_the_summary_counts_them_all(
    tmp_path: Path,
) -> None:
    # Names of 51, 52, ... characters: each row breaks the rule with its own message.
    lines = "".join(f"o,w,cmp-{i},{'n' * (50 + i)}\n" for i in range(1, 251))
    path = write(tmp_path, "org_id,workspace_id,campaign_id,name\n" + lines)
    result = run(path, "--limit", "10")
    assert result.exit_code == 2
    out = result.stdout
    assert out.count("must be at most 50 characters") == 10
    assert "… and 240 more problems in 240 rows (--limit 0 prints them all)" in out
    assert out.rstrip().endswith("250 rows: 0 valid, 250 invalid")
    assert run(path, "--limit", "0").stdout.count("must be at most 50 characters") == 250


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("missing.csv", None, "no such file"),
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"\n\n", "is empty"),
        ("noheader.csv", b"\n\ncmp-1\n", "has no header"),
        ("latin1.csv", b"campaign_id,name\ncmp-1,Caf\xe9\n", "is not UTF-8 text"),
        ("utf16.csv", "campaign_id\n".encode("utf-16"), "UTF-16"),
        ("sheet.xlsx", b"PK\x03\x04", "is not a readable Excel workbook"),
        ("sheet.ods", b"PK\x03\x04", "bulkpatch reads .xlsx workbooks, not .ods"),
        ("workbook.csv", b"PK\x03\x04", "spreadsheet workbook"),
        ("text.parquet", b"campaign_id\ncmp-1\n", "is not a Parquet file"),
        ("broken.parquet", b"PAR1garbagePAR1", "not a readable Parquet file"),
        ("ragged.csv", b"campaign_id,name\nc,n,extra\n", "line 2 has 3 cells"),
    ],
)
def test_an_unreadable_sheet_exits_2_with_a_clear_message_and_no_traceback(
    tmp_path: Path, name: str, data: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    result = run(path)
    assert_clean(result)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert result.stdout == ""


def test_a_directory_is_refused_plainly(tmp_path: Path) -> None:
    result = run(tmp_path)
    assert result.exit_code == 2
    assert "is a directory" in result.stderr


def test_a_sheet_with_a_header_and_no_rows_exits_2(tmp_path: Path) -> None:
    result = run(write(tmp_path, "org_id,workspace_id,campaign_id,name\n"))
    assert result.exit_code == 2
    assert "no data rows" in result.stdout


def test_help_teaches_the_column_kinds_and_points_to_the_sheet_page() -> None:
    result = CliRunner().invoke(cli, ["validate", "--help"])
    assert result.exit_code == 0
    for words in (
        "campaign_id",
        "expect.status",
        "allowed_schedule.allowed_days",
        "#...",
        "JSON",
        "Mon,Tue",
        "docs/sheet.md",
        "Exit 0",
    ):
        assert words in result.output, words


def test_the_installed_command_exits_2_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"campaign_id\n\xff\xfe\n")
    done = subprocess.run(
        [sys.executable, "-m", "bulkpatch", "validate", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "is not UTF-8 text" in done.stderr


def test_a_named_pipe_as_the_sheet_is_refused_at_once(tmp_path: Path) -> None:
    pipe = tmp_path / "sheet.csv"
    os.mkfifo(pipe)
    # A read of the pipe would block until the timeout kills it.
    done = bulkpatch_sync("validate", pipe, env=dict(os.environ), timeout=30)
    assert done.returncode == 2
    assert "is a named pipe (FIFO), not a regular file" in done.stderr


def excel_sheet(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            sheet.write_row(r, 0, row)
    book.close()
    return path


def test_an_xlsx_sheet_is_checked_with_excel_row_numbers_and_sheet_name(tmp_path: Path) -> None:
    path = excel_sheet(
        tmp_path / "book.xlsx",
        {
            "Readme": [["nothing here"]],
            "Changes": [
                ["org_id", "workspace_id", "campaign_id", "app_config.app_version"],
                ["o", "w", "c1", 7],
                ["o", "w", "c2", 7.5],
            ],
        },
    )
    first = run(path)
    assert first.exit_code == 2
    assert "seems to have no header" in first.stdout
    assert "reading worksheet `Readme`" in first.stderr
    result = run(path, "--sheet-name", "Changes")
    assert_clean(result)
    assert result.exit_code == 2
    assert '  row 3\n    app_config.app_version = "7.5": must be a whole number' in result.stdout
    assert result.stdout.rstrip().endswith("2 rows: 1 valid, 1 invalid")
    missing = run(path, "--sheet-name", "Nope")
    assert missing.exit_code == 2
    assert "has no worksheet named `Nope`; its worksheets are `Readme`, `Changes`" in missing.stderr


@pytest.mark.parametrize(
    "text", ["Diwali offer [/] ends soon", "[bold red]x[/bold red]", "[link=https://x]y"]
)
def test_sheet_text_that_looks_like_markup_is_printed_as_written(tmp_path: Path, text: str) -> None:
    header = f"org_id,workspace_id,campaign_id,name,{text}\n"
    path = write(tmp_path, header + f"o,w,c1,{text},\n")
    result = run(path, "--limit", "0")
    assert_clean(result)
    assert result.exit_code == 2
    assert f'name = "{text}": may hold only letters' in result.stdout
    assert f"unknown column `{text}`" in result.stdout


def test_control_characters_in_sheet_text_never_reach_the_terminal(tmp_path: Path) -> None:
    path = write(tmp_path, "org_id,workspace_id,campaign_id,na\x1b[31mme\no,w,c1,x\n")
    result = run(path)
    assert result.exit_code == 2
    assert "\x1b" not in result.output


def test_validate_json_is_one_object_with_every_problem_by_row_and_column(tmp_path: Path) -> None:
    from click.testing import CliRunner

    import bulkpatch.cli.commands  # noqa: F401  (registers the commands)
    from bulkpatch.cli import cli

    sheet = tmp_path / "s.csv"
    sheet.write_text("org_id,workspace_id,campaign_id,app_config.app_version\no,w,c1,7\no,w,,x\n")
    runner = CliRunner()

    bad = runner.invoke(cli, ["validate", str(sheet), "--json"])
    good = runner.invoke(cli, ["validate", str(sheet), "--json", "--org", "o"])
    missing = runner.invoke(cli, ["validate", str(tmp_path / "nope.csv"), "--json"])

    data = json.loads(bad.stdout)
    assert bad.exit_code == data["exit_code"] == 2
    assert data["ok"] is False
    assert data["rows"] == 2
    assert {(p["row"], p["column"]) for p in data["problems"]} >= {
        (2, "campaign_id"),
        (2, "app_config.app_version"),
    }
    assert all(set(p) == {"row", "column", "message"} for p in data["problems"])
    assert json.loads(good.stdout)["exit_code"] == good.exit_code
    gone = json.loads(missing.stdout)
    assert gone["exit_code"] == missing.exit_code == 2
    assert "no such file" in gone["problems"][0]["message"]
