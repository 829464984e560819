"""Reading sheets: CSV as text, Parquet with native values, in batches, with clear errors."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkpatch.sheet import UNNAMED, Sheet, SheetError, file_sha256, open_sheet
from bulkpatch.sheet import csvfile as csv_module


def write(tmp_path: Path, data: bytes | str, name: str = "sheet.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def rows(sheet: Sheet, batch_size: int = 50_000, *, raw: bool = False) -> list[tuple[int, dict]]:
    return list(sheet.iter_rows(batch_size, raw=raw))


def read_all(path: Path) -> list[tuple[int, dict]]:
    return rows(open_sheet(path))


# -- CSV ---------------------------------------------------------------------------------------


def test_a_csv_with_a_byte_order_mark_and_crlf_line_ends_reads_cleanly(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbfcampaign_id,name\r\ncmp-1,Renewals\r\ncmp-2,Sale\r\n")
    sheet = open_sheet(path)
    assert sheet.columns == ("campaign_id", "name")
    assert sheet.kind == "csv"
    assert rows(sheet) == [
        (1, {"campaign_id": "cmp-1", "name": "Renewals"}),
        (2, {"campaign_id": "cmp-2", "name": "Sale"}),
    ]


def test_csv_cells_stay_text_so_leading_zeros_and_plus_numbers_survive(tmp_path: Path) -> None:
    path = write(tmp_path, "campaign_id,name,description\n007,0042,+919812345678\n")
    [(_, cells)] = rows(open_sheet(path))
    assert cells == {"campaign_id": "007", "name": "0042", "description": "+919812345678"}


def test_quoted_cells_keep_their_commas_quotes_and_line_breaks(tmp_path: Path) -> None:
    text = 'campaign_id,allowed_schedule.allowed_days,name\ncmp-1,"Mon,Tue","say ""hi""\nthere"\n'
    [(_, cells)] = rows(open_sheet(write(tmp_path, text)))
    assert cells["allowed_schedule.allowed_days"] == "Mon,Tue"
    assert cells["name"] == 'say "hi"\nthere'


def test_cells_are_trimmed_and_an_empty_cell_is_none(tmp_path: Path) -> None:
    path = write(tmp_path, 'campaign_id,name,description\n  cmp-1  ,"   ",\n')
    [(_, cells)] = rows(open_sheet(path))
    assert cells == {"campaign_id": "cmp-1", "name": None, "description": None}


def test_raw_rows_keep_cells_exactly_as_the_file_holds_them(tmp_path: Path) -> None:
    path = write(tmp_path, 'campaign_id,name\n  cmp-1  ," x "\n,\n')
    assert rows(open_sheet(path), raw=True) == [
        (1, {"campaign_id": "  cmp-1  ", "name": " x "}),
        (2, {"campaign_id": None, "name": None}),
    ]


def test_a_blank_row_is_skipped_but_still_counts_for_row_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "campaign_id,name\ncmp-1,a\n,\ncmp-3,c\n")
    assert [number for number, _ in rows(open_sheet(path))] == [1, 3]


def test_small_batches_give_the_same_rows_in_the_same_order(tmp_path: Path) -> None:
    lines = "".join(f"cmp-{i},n{i}\n" for i in range(1, 58))
    sheet = open_sheet(write(tmp_path, "campaign_id,name\n" + lines))
    assert rows(sheet, batch_size=5) == rows(sheet, batch_size=50_000)
    assert [n for n, _ in rows(sheet, batch_size=5)] == list(range(1, 58))


def test_a_short_line_reads_its_missing_cells_as_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "campaign_id,name,description\ncmp-1,a\n")
    [(_, cells)] = rows(open_sheet(path))
    assert cells == {"campaign_id": "cmp-1", "name": "a", "description": None}


def test_repeated_header_names_are_kept_as_written(tmp_path: Path) -> None:
    sheet = open_sheet(write(tmp_path, "campaign_id,name,name\ncmp-1,a,b\n"))
    assert sheet.columns == ("campaign_id", "name", "name")


def test_header_names_are_trimmed(tmp_path: Path) -> None:
    sheet = open_sheet(write(tmp_path, " campaign_id , name\ncmp-1,a\n"))
    assert sheet.columns == ("campaign_id", "name")


def test_format_csv_reads_a_file_whatever_its_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "campaign_id,name\ncmp-1,a\n", name="export.txt")
    assert open_sheet(path, fmt="csv").kind == "csv"


def test_a_header_only_csv_opens_and_has_no_rows(tmp_path: Path) -> None:
    assert rows(open_sheet(write(tmp_path, "campaign_id,name\n"))) == []


# -- Parquet -----------------------------------------------------------------------------------


def test_parquet_cells_keep_native_lists_structs_and_numbers(tmp_path: Path) -> None:
    retry = pa.struct([("max_retries", pa.int64()), ("retry_interval_minutes", pa.float64())])
    table = pa.table(
        {
            "campaign_id": ["cmp-1"],
            "allowed_schedule.allowed_days": [["Monday", "Tuesday"]],
            "app_config.retry_config": pa.array(
                [{"max_retries": 4, "retry_interval_minutes": None}], type=retry
            ),
            "app_config.app_version": [7],
            "end_timestamp": pa.array(
                [datetime(2026, 12, 1, 18, 0, tzinfo=UTC)], type=pa.timestamp("s", tz="UTC")
            ),
        }
    )
    path = tmp_path / "sheet.parquet"
    pq.write_table(table, path)
    sheet = open_sheet(path)
    assert sheet.kind == "parquet"
    assert sheet.row_count_hint == 1
    [(number, cells)] = rows(sheet)
    assert number == 1
    assert cells["allowed_schedule.allowed_days"] == ["Monday", "Tuesday"]
    # A null struct field means "not given": a Parquet struct cannot leave a field out.
    assert cells["app_config.retry_config"] == {"max_retries": 4}
    assert cells["app_config.app_version"] == 7
    assert cells["end_timestamp"] == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def test_parquet_maps_become_dicts_and_text_is_trimmed(tmp_path: Path) -> None:
    table = pa.table(
        {
            "campaign_id": [" cmp-1 ", "cmp-2"],
            "app_config.webhook_config.metadata": pa.array(
                [[("team", "sales")], None], type=pa.map_(pa.string(), pa.string())
            ),
            "name": ["", "x"],
        }
    )
    path = tmp_path / "sheet.parquet"
    pq.write_table(table, path)
    assert rows(open_sheet(path)) == [
        (
            1,
            {
                "campaign_id": "cmp-1",
                "app_config.webhook_config.metadata": {"team": "sales"},
                "name": None,
            },
        ),
        (2, {"campaign_id": "cmp-2", "app_config.webhook_config.metadata": None, "name": "x"}),
    ]


def test_parquet_is_read_in_batches_in_order(tmp_path: Path) -> None:
    table = pa.table({"campaign_id": [f"cmp-{i}" for i in range(1, 24)]})
    path = tmp_path / "sheet.parquet"
    pq.write_table(table, path, row_group_size=7)
    got = rows(open_sheet(path), batch_size=4)
    assert [n for n, _ in got] == list(range(1, 24))
    assert got[-1][1] == {"campaign_id": "cmp-23"}


# -- Unreadable files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"\n \r\n", "is empty"),
        ("bom-only.csv", b"\xef\xbb\xbf", "is empty"),
        ("first-line-blank.csv", b"\ncampaign_id\ncmp-1\n", "has no header"),
        ("commas.csv", b",,\n1,2,3\n", "has no header"),
        ("utf16.csv", "campaign_id\ncmp-1\n".encode("utf-16"), "UTF-16"),
        (
            "latin1.csv",
            b"campaign_id,name\ncmp-1,Caf\xe9\n",
            "not UTF-8 text (byte 0xe9 on line 2)",
        ),
        ("parquet.csv", b"PAR1\x00\x00", "is a Parquet file"),
        ("workbook.csv", b"PK\x03\x04rest-of-zip", "spreadsheet workbook"),
        ("binary.csv", b"campaign_id\x00\x01\x02", "binary file"),
        ("text.parquet", b"campaign_id\ncmp-1\n", "is not a Parquet file"),
        ("broken.parquet", b"PAR1 not really PAR1", "not a readable Parquet file"),
        ("sheet.xlsx", b"PK\x03\x04", "is not a readable Excel workbook"),
        ("sheet.xlsx", b"\xd0\xcf\x11\xe0rest", "old Excel workbook (.xls) or a password"),
        ("text.xlsx", b"campaign_id\ncmp-1\n", "it looks like text"),
        ("sheet.xls", b"\xd0\xcf\x11\xe0", "save it as an Excel Workbook (.xlsx)"),
        ("sheet", b"campaign_id\n", "cannot tell the format"),
    ],
)
def test_an_unreadable_file_gives_a_clear_sheet_error(
    tmp_path: Path, name: str, data: bytes, expected: str
) -> None:
    path = write(tmp_path, data, name=name)
    with pytest.raises(SheetError) as caught:
        read_all(path)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(str(path))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"campaign_id,name\ncmp-1,a\ncmp-2,b,c\n", "line 3 has 3 cells but the header has 2"),
        (b'campaign_id,name\ncmp-1,x"y\n', 'line 2: a cell holds a quote (")'),
        (b'campaign_id,name\ncmp-1,"never closed\n', "line 2 is not valid CSV"),
    ],
)
def test_a_malformed_csv_line_is_named_by_its_line_number(
    tmp_path: Path, data: bytes, expected: str
) -> None:
    path = write(tmp_path, data)
    with pytest.raises(SheetError) as caught:
        rows(open_sheet(path))
    assert expected in str(caught.value)


def test_bad_utf8_far_down_a_large_file_is_found_while_reading(tmp_path: Path) -> None:
    body = b"campaign_id,name\n" + b"cmp-1,abcdefgh\n" * 20_000 + b"cmp-2,\xff\n"
    sheet = open_sheet(write(tmp_path, body))
    with pytest.raises(SheetError, match=r"not UTF-8 text .* line 20002"):
        rows(sheet)


def test_a_missing_file_and_a_directory_are_named_plainly(tmp_path: Path) -> None:
    with pytest.raises(SheetError, match="no such file"):
        open_sheet(tmp_path / "nope.csv")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(SheetError, match="is a directory"):
        open_sheet(folder)


def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    data = b"campaign_id\n" + b"x" * 3_000_000
    path = write(tmp_path, data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


# -- Any bytes ---------------------------------------------------------------------------------

_CSV_ALPHABET = st.sampled_from([",", '"', "\n", "\r", " ", "a", "é", "\x00", ";", "campaign_id"])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300) | st.lists(_CSV_ALPHABET, max_size=60).map("".join))
def test_any_file_content_reads_as_rows_or_fails_with_a_sheet_error(
    tmp_path: Path, data: bytes | str
) -> None:
    path = write(tmp_path, data)
    message = None
    try:
        sheet = open_sheet(path)
        for number, cells in sheet.iter_rows(7):
            assert number >= 1
            assert set(cells) <= {*sheet.columns, UNNAMED}
    except SheetError as exc:
        message = str(exc)
    assert message is None or message.startswith(str(path))


@pytest.mark.parametrize("name", ["sheet[1].csv", "sheet*.csv", "sheet?.csv"])
def test_a_file_name_with_wildcard_characters_is_read_as_that_one_file(
    tmp_path: Path, name: str
) -> None:
    write(tmp_path, "campaign_id\nother\n", name="sheetX.csv")
    path = write(tmp_path, "campaign_id\ncmp-1\n", name=name)
    assert read_all(path) == [(1, {"campaign_id": "cmp-1"})]


def test_a_crlf_sheet_read_raw_keeps_no_carriage_returns(tmp_path: Path) -> None:
    path = write(tmp_path, b"campaign_id,name\r\ncmp-1,Renewals\r\n")
    assert rows(open_sheet(path), raw=True) == [(1, {"campaign_id": "cmp-1", "name": "Renewals"})]


# -- Reading a CSV block by block --------------------------------------------------------------


_TRICKY_CSV = (
    b"\xef\xbb\xbfcampaign_id,name,description\r\n"
    b'cmp-1,"a\r\nb, c",007\r\n'
    b",,\r\n"
    b'  cmp-3  ,"say ""hi""",\r\n'
    b"\r\n"
    b'cmp-5,"""",+919812345678\r\n'
    b"cmp-6,short\r\n"
    b'cmp-7,"x\n\n\ny","\n"\r\n'
    b"cmp-8,last"
)


@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.parametrize("block_bytes", [1, 2, 3, 7, 16, 40, 1 << 20])
def test_csv_blocks_of_any_size_give_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int, raw: bool
) -> None:
    path = write(tmp_path, _TRICKY_CSV)
    whole = rows(open_sheet(path), raw=raw)
    monkeypatch.setattr(csv_module, "CSV_BLOCK_BYTES", block_bytes)
    assert rows(open_sheet(path), batch_size=2, raw=raw) == whole
    assert [n for n, _ in whole] == ([1, 2, 3, 4, 5, 6, 7, 8] if raw else [1, 3, 5, 6, 7, 8])
    assert whole[0] == (1, {"campaign_id": "cmp-1", "name": "a\r\nb, c", "description": "007"})


def test_csv_blocks_end_at_record_ends_and_stay_near_the_block_size() -> None:
    data = b'h1,h2\n1,"a\nb"\n2,""""\n3,"x\n""\ny"\n4,z\n' * 50
    blocks = list(csv_module.csv_blocks(io.BytesIO(data), 16))
    assert b"".join(blocks) == data
    record = max(len(r) for r in (b"h1,h2\n", b'1,"a\nb"\n', b'2,""""\n', b'3,"x\n""\ny"\n'))
    for block in blocks:
        assert block.endswith(b"\n")
        assert block.count(b'"') % 2 == 0
        assert len(block) < 16 + record


@pytest.mark.parametrize("block_bytes", [4, 64, 1 << 20])
def test_a_stray_quote_is_named_whatever_the_block_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    monkeypatch.setattr(csv_module, "CSV_BLOCK_BYTES", block_bytes)
    body = b"campaign_id,name\n" + b"cmp-1,a\n" * 30 + b'cmp-2,x"y\n' + b"cmp-3,b\n" * 30
    with pytest.raises(SheetError, match=r'line 32: a cell holds a quote \("\)'):
        rows(open_sheet(write(tmp_path, body)))


_CELLS = st.sampled_from(["", " ", "x", " y ", "007", "+91", '"a,b"', '"q""q"', '"l\nm"', '""'])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(st.lists(_CELLS, min_size=0, max_size=3).map(",".join), max_size=12),
    end=st.sampled_from(["\n", "\r\n"]),
    block_bytes=st.integers(min_value=1, max_value=48),
    raw=st.booleans(),
)
def test_any_well_formed_csv_reads_the_same_in_small_blocks(
    tmp_path: Path, lines: list[str], end: str, block_bytes: int, raw: bool
) -> None:
    path = write(tmp_path, end.join(["a,b,c", *lines]) + end)
    whole = rows(open_sheet(path), raw=raw)
    original = csv_module.CSV_BLOCK_BYTES
    csv_module.CSV_BLOCK_BYTES = block_bytes
    try:
        assert rows(open_sheet(path), batch_size=3, raw=raw) == whole
    finally:
        csv_module.CSV_BLOCK_BYTES = original
