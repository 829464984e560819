"""Reading an ``.xlsx`` workbook: one worksheet, every cell as text, Excel's row numbers.

calamine (through ``fastexcel``, the engine of polars' ``read_excel``) reads the worksheet; it
is called directly so that the workbook is opened once, for its worksheet names and its cells.
Every cell comes as text, so that a column is typed by its own rule exactly as for CSV:

* an Excel number is its shortest text: ``7`` (also for ``7.0``), ``7.5``, ``0.3``;
* a boolean is ``true`` / ``false``;
* a date or time is ``YYYY-MM-DD HH:MM:SS`` (a time of day alone is a date in 1899): it has no
  time zone, and it is not the ``HH:MM`` a schedule column takes, so such cells are refused with
  a message that says why (never read as a guess);
* a formula's cached value is read; an error value (``#N/A``, ``#DIV/0!``) reads as an empty
  cell (a limit of the reader).

The worksheet is read whole (calamine cannot stream one), once per opened :class:`Sheet`: Excel
holds at most 1,048,576 rows.  Row numbers are Excel's own: the header is row 1, the first data
row is 2, and empty rows above the header are not skipped (the header must be in row 1).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import polars as pl

from bulkpatch.core.errors import SheetError
from bulkpatch.sheet.base import Cells, Sheet, first_line, split_unnamed
from bulkpatch.sheet.frames import frame_rows, keys_of, shape

#: The most rows an Excel worksheet holds (the header included).
EXCEL_MAX_ROWS = 1_048_576


def _sniff_not_xlsx(shown: Path, head: bytes) -> None:
    if not head:
        raise SheetError(f"{shown}: is empty: a sheet needs a header row and at least one row")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise SheetError(
            f"{shown}: is an old Excel workbook (.xls) or a password-protected one: bulkpatch "
            "reads .xlsx workbooks without a password; save it as an Excel Workbook (.xlsx) "
            "or as CSV UTF-8"
        )
    if not head.startswith(b"PK\x03\x04"):
        hint = ""
        if head.lstrip(codecs.BOM_UTF8)[:1].isascii() and b"\x00" not in head:
            hint = ": it looks like text; name it .csv or pass --format csv"
        raise SheetError(f"{shown}: is not an Excel workbook (.xlsx){hint}")


def _load(path: Path, shown: Path, sheet_name: str | None) -> tuple[str, pl.DataFrame]:
    """The chosen worksheet's name and its cells as text (the header row included)."""
    import fastexcel  # lazy: the Excel engine loads only when a workbook is read

    try:
        reader = fastexcel.read_excel(str(path))
        names = list(reader.sheet_names)
    except Exception as exc:  # calamine raises several types for a damaged workbook
        raise SheetError(f"{shown}: is not a readable Excel workbook: {first_line(exc)}") from None
    if not names:
        raise SheetError(f"{shown}: the workbook has no worksheet")
    if sheet_name is None:
        chosen = names[0]
    elif sheet_name in names:
        chosen = sheet_name
    else:
        listed = ", ".join(f"`{n}`" for n in names[:20])
        more = f" and {len(names) - 20} more" if len(names) > 20 else ""
        raise SheetError(
            f"{shown}: has no worksheet named `{sheet_name}`; its worksheets are {listed}{more}"
        )
    try:
        frame = reader.load_sheet(chosen, header_row=None, skip_rows=0, dtypes="string")
        return chosen, frame.to_polars()
    except Exception as exc:
        raise SheetError(f"{shown}: cannot read worksheet `{chosen}`: {first_line(exc)}") from None


def open_xlsx(path: Path, head: bytes, source: Path | None, sheet_name: str | None) -> Sheet:
    shown = source or path
    _sniff_not_xlsx(shown, head)
    chosen, frame = _load(path, shown, sheet_name)
    if frame.height == 0 or frame.width == 0:
        raise SheetError(
            f"{shown}: worksheet `{chosen}` is empty: a sheet needs a header row and at least "
            "one row"
        )
    header = [("" if value is None else str(value)).strip() for value in frame.row(0)]
    if not any(header):
        raise SheetError(
            f"{shown}: worksheet `{chosen}` has no header: its row 1 must name the columns "
            "(campaign_id, org_id, workspace_id, and the fields to change)"
        )
    names, unnamed = split_unnamed(header)
    data = frame.slice(1)
    return Sheet(
        path=path,
        kind="xlsx",
        columns=tuple(names),
        reader=iter_xlsx,
        row_count_hint=data.height,
        source=source,
        sheet_name=chosen,
        unnamed_columns=unnamed,
        _frame=data,
        framer=iter_xlsx_frames,
    )


def _worksheet(sheet: Sheet) -> pl.DataFrame:
    frame: Any = sheet._frame
    if frame is None:  # a Sheet built by hand: read the worksheet now
        _, whole = _load(sheet.path, sheet.shown, sheet.sheet_name)
        frame = whole.slice(1)
    return cast(pl.DataFrame, frame)


def iter_xlsx(sheet: Sheet, batch_size: int, raw: bool) -> Iterator[tuple[int, Cells]]:
    shaped = shape(_worksheet(sheet), len(sheet.columns), raw)
    return frame_rows(shaped, keys_of(sheet), sheet.first_row, batch_size, raw)


def iter_xlsx_frames(
    sheet: Sheet, batch_size: int, lean: bool
) -> Iterator[tuple[int, pl.DataFrame]]:
    """The worksheet's shaped rows, ``batch_size`` at a time (``lean`` changes nothing: the
    worksheet is in memory whole, and a frame is a slice of it)."""
    shaped = shape(_worksheet(sheet), len(sheet.columns), False)
    for offset in range(0, shaped.height, batch_size):
        yield sheet.first_row + offset, shaped.slice(offset, batch_size)
