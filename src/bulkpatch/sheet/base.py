"""The opened sheet (:class:`Sheet`) and what every reader shares: kinds, extensions, messages.

The readers (``csvfile``, ``parquetfile``, ``excelfile``) import this module, never the other
way: an opened :class:`Sheet` carries its reader, which ``files`` chose once from the kind.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bulkpatch.core.errors import SheetError

SheetKind = Literal["csv", "parquet", "xlsx"]
KINDS: tuple[SheetKind, ...] = ("csv", "parquet", "xlsx")

#: Rows per batch: large enough to amortise the per-batch cost, small enough to keep memory flat.
DEFAULT_BATCH_SIZE = 50_000

#: The key of a row's cells under which a value found in a column without a name is yielded
#: (the trailing unnamed columns a spreadsheet leaves, ``campaign_id,name,,,``).
UNNAMED = ""

EXTENSIONS: dict[str, SheetKind] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
}
#: The extension a copy of each kind gets (``sheet.csv`` in a run directory).
CANONICAL_EXTENSION: dict[SheetKind, str] = {"csv": ".csv", "parquet": ".parquet", "xlsx": ".xlsx"}

Cells = dict[str, Any]
#: A reader's row iterator: ``(sheet, batch_size, raw)`` to ``(row_number, cells)`` pairs.
RowReader = Callable[["Sheet", int, bool], Iterator[tuple[int, Cells]]]
#: A reader's frame iterator: ``(sheet, batch_size, lean)`` to ``(first_row_number, frame)``
#: pairs: a polars frame of text cells, trimmed, an empty cell null, blank rows kept, the trailing
#: unnamed columns folded into one (see :func:`bulkpatch.sheet.frames.shape`).
FrameReader = Callable[["Sheet", int, bool], Iterator[tuple[int, Any]]]


@dataclass(frozen=True, slots=True)
class Sheet:
    """An opened sheet: its path, kind and header.  Rows are read on demand.

    Row numbers: data rows counted from 1 for CSV and Parquet (for a CSV without line breaks
    inside cells, row N is on line N+1); Excel's own row numbers for ``.xlsx`` (the header is
    row 1, so the first data row is 2).  :attr:`first_row` says which.
    """

    path: Path
    kind: SheetKind
    #: Column names in file order, trimmed (the CSV byte-order mark removed).  Trailing columns
    #: without a name are not listed (see :attr:`unnamed_columns`).
    columns: tuple[str, ...]
    #: The reader of this kind of file, chosen once when the sheet was opened.
    reader: RowReader = field(repr=False, compare=False)
    #: The number of data rows when the file says so cheaply (Parquet metadata), else None.
    row_count_hint: int | None = None
    #: The file named in messages: the user's own file when :attr:`path` is a copy of it.
    source: Path | None = None
    #: The worksheet read (``.xlsx`` only).
    sheet_name: str | None = None
    #: Columns without a name after the last named one: ignored, and their cells must be empty.
    unnamed_columns: int = 0
    #: The loaded worksheet (``.xlsx``: calamine reads a worksheet whole, so it is read once).
    _frame: Any = field(default=None, repr=False, compare=False)
    #: The reader of text frames (CSV and ``.xlsx``; None for Parquet's native values).
    framer: FrameReader | None = field(default=None, repr=False, compare=False)

    @property
    def shown(self) -> Path:
        """The path messages name."""
        return self.source if self.source is not None else self.path

    @property
    def first_row(self) -> int:
        """The number of the first data row: 2 for ``.xlsx`` (Excel's numbering), else 1."""
        return 2 if self.kind == "xlsx" else 1

    def iter_rows(
        self, batch_size: int = DEFAULT_BATCH_SIZE, *, raw: bool = False
    ) -> Iterator[tuple[int, Cells]]:
        """Yield ``(row_number, cells)`` for each data row, in order, reading in batches.

        ``cells`` maps every column name to the cell's value: text trimmed, an empty cell None;
        a row whose every cell is empty is skipped (it still counts for the row numbers).  A
        value in a trailing column without a name comes under the key :data:`UNNAMED`.  With
        ``raw=True`` the values are exactly what the file holds (untrimmed text, empty strings,
        struct nulls) and blank rows are yielded too; the row numbers are the same either way.

        Raises :class:`SheetError` if the file turns out to be unreadable part-way through.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        return self.reader(self, batch_size, raw)

    def iter_frames(
        self, batch_size: int = DEFAULT_BATCH_SIZE, *, lean: bool = False
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(first_row_number, frame)`` for blocks of rows in order: a polars frame of text
        cells (trimmed, an empty cell null), whose row ``i`` is row ``first_row_number + i``;
        blank rows are kept (every cell null).  Only when :attr:`framer` is set (CSV, ``.xlsx``).
        ``lean=True``: smaller frames of a CSV, for a pass whose memory matters more than its
        speed (a run's, which holds what it took for as long as the run lasts).

        Raises :class:`SheetError` if the file turns out to be unreadable part-way through.
        """
        if self.framer is None:
            raise ValueError(f"a {self.kind} sheet is read as rows, not frames")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        return self.framer(self, batch_size, lean)


def sheet_kind(path: str | os.PathLike[str], fmt: str | None = None) -> SheetKind:
    """The kind of sheet, from ``fmt`` or the file's extension.  Raises :class:`SheetError`."""
    if fmt is not None:
        for kind in KINDS:
            if fmt == kind:
                return kind
        raise SheetError(f"unknown format {fmt!r}: use csv, parquet or xlsx")
    suffix = Path(path).suffix.lower()
    known = EXTENSIONS.get(suffix)
    if known is not None:
        return known
    if suffix in (".xls", ".xlsm", ".xlsb", ".ods", ".numbers"):
        raise SheetError(
            f"{path}: bulkpatch reads .xlsx workbooks, not {suffix}: save it as an Excel "
            "Workbook (.xlsx) or as CSV UTF-8"
        )
    shown = f"extension `{suffix}`" if suffix else "no extension"
    raise SheetError(
        f"{path}: cannot tell the format from {shown}: name the file .csv, .parquet or .xlsx, "
        "or pass --format csv|parquet|xlsx"
    )


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (a library's message, without its traceback)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def split_unnamed(names: list[str]) -> tuple[list[str], int]:
    """A header without its trailing blank names, and how many there were."""
    end = len(names)
    while end > 0 and not names[end - 1]:
        end -= 1
    if end == 0:  # nothing named at all: keep the header as it is, the caller refuses it
        return names, 0
    return names[:end], len(names) - end
