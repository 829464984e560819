"""Writing sheets: a copy of some of a sheet's own rows (:func:`copy_rows`), or a new table
(:func:`write_table`), as CSV, Parquet or ``.xlsx`` chosen by the file's extension.

Every file is written whole or not at all (a temporary file, renamed over the target) and is
readable by its owner only (0600): sheets hold campaign data.  A write that fails -- a full disk
included -- leaves nothing behind (no temporary file, no scratch file of the ``.xlsx`` writer) and
raises :class:`StorageError` naming the file and the cause.

Values are written so that bulkpatch reads them back as they were: text stays text (an ``.xlsx``
cell is never turned into a formula, a number or a link because of what it holds), lists and
objects become JSON text, numbers stay numbers where the format has them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

import polars as pl

from bulkpatch.core.errors import SheetError, StorageError
from bulkpatch.core.text import FORMULA_STARTS
from bulkpatch.sheet.base import Sheet, SheetKind, sheet_kind
from bulkpatch.sheet.excelfile import EXCEL_MAX_ROWS
from bulkpatch.sheet.frames import keys_of
from bulkpatch.sheet.regular import fsync_dir

#: The longest text an Excel cell holds.
EXCEL_MAX_TEXT = 32_767
_NOTE_PREFIXES = ("#", "_")
_EXACT_FLOAT = 2**53
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What :func:`copy_rows` wrote."""

    path: Path
    #: Rows written.
    rows: int
    #: Note cells (``#...`` / ``_...`` columns) in those rows whose text starts with a formula
    #: character (``=``, ``+``, ``-``, ``@``, tab, CR): a spreadsheet may run them.
    formula_notes: int


def copy_rows(sheet: Sheet, rows: Collection[int], out: str | os.PathLike[str]) -> CopyResult:
    """Write the sheet's own rows whose numbers are in ``rows`` to ``out``.

    Columns and values are exactly as in the sheet (untrimmed text; Parquet to Parquet keeps
    the native types); the format is chosen by ``out``'s extension.  Written even when no row
    is chosen (a header only), so that a nightly job always finds the file.
    """
    target = Path(out)
    kind = _kind_of(target)
    wanted = set(rows)
    columns = keys_of(sheet)
    notes = [i for i, c in enumerate(columns) if c.startswith(_NOTE_PREFIXES)]
    if sheet.kind == "parquet" and kind == "parquet":
        return _copy_parquet(sheet, wanted, target, notes)

    counted = [0]

    def chosen() -> Iterator[list[Any]]:
        if not wanted:
            return
        for number, cells in sheet.iter_rows(raw=True):
            if number in wanted:
                values = [cells.get(c) for c in columns]
                counted[0] += sum(1 for i in notes if _is_formula(values[i]))
                yield values

    written = write_table(target, columns, chosen())
    return CopyResult(path=target, rows=written, formula_notes=counted[0])


def write_table(
    out: str | os.PathLike[str], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Write a new sheet: a header of ``columns``, then ``rows`` (sequences of cell values).

    ``None`` is an empty cell; lists and dicts are written as JSON text; dates as ISO 8601.
    The format is chosen by ``out``'s extension (.csv, .parquet, .xlsx).  Returns the number of
    rows written.  Raises :class:`SheetError` for a table the format cannot hold (more rows than
    Excel's 1,048,576, a text longer than an Excel cell) and :class:`StorageError` when the file
    cannot be written.
    """
    target = Path(out)
    kind = _kind_of(target)
    writer: Callable[[Path, Sequence[str], Iterable[Sequence[Any]]], int]
    writer = {"csv": _write_csv, "parquet": _write_parquet, "xlsx": _write_xlsx}[kind]
    return _atomic(target, lambda tmp: writer(tmp, list(columns), rows))


# ---------------------------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------------------------


def as_text(value: Any) -> str:
    """A cell value as the text a CSV holds."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _write_csv(tmp: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([as_text(v) for v in row])
            count += 1
    return count


def _column_values(values: list[Any]) -> pl.Series | list[Any]:
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {str}:
        return pl.Series(values, dtype=pl.String)
    if kinds == {bool}:
        return pl.Series(values, dtype=pl.Boolean)
    if kinds == {int} and all(v is None or abs(v) < 2**63 for v in values):
        return pl.Series(values, dtype=pl.Int64)
    if kinds <= {int, float}:
        return pl.Series([None if v is None else float(v) for v in values], dtype=pl.Float64)
    return pl.Series([None if v is None else as_text(v) for v in values], dtype=pl.String)


def _write_parquet(tmp: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    table: list[list[Any]] = [[] for _ in columns]
    count = 0
    for row in rows:
        for i, column in enumerate(table):
            column.append(row[i] if i < len(row) else None)
        count += 1
    frame = pl.DataFrame(
        {name: _column_values(values) for name, values in zip(columns, table, strict=True)}
    )
    # Encoded in memory (the table is there already), then written by us: a failed write is an
    # OSError naming its cause, not the encoder's "transport error".
    encoded = io.BytesIO()
    frame.write_parquet(encoded)
    with open(tmp, "wb") as handle:
        handle.write(encoded.getbuffer())
    return count


class _Output:
    """The ``.xlsx`` file the workbook writes through.  Once :meth:`abandon` ed, writes go
    nowhere (only the position moves): a zip writer that failed is closed by the collector
    later, and would write its end record -- and fail again, printing a traceback -- into a file
    already given up."""

    def __init__(self, path: Path) -> None:
        self._file: IO[bytes] | None = open(path, "wb")  # noqa: SIM115  # closed by close()
        self._pos = 0

    def write(self, data: bytes) -> int:
        if self._file is None:
            self._pos += len(data)
            return len(data)
        return self._file.write(data)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def tell(self) -> int:
        return self._pos if self._file is None else self._file.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        if self._file is not None:
            return self._file.seek(offset, whence)
        self._pos = offset if whence == os.SEEK_SET else self._pos + offset
        return self._pos

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        """Flush and close the file: raises what the last write meets (a full disk)."""
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def abandon(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError, ValueError):
                self._pos = file.tell()
            with contextlib.suppress(OSError):
                file.close()


def _write_xlsx(tmp: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    import xlsxwriter  # lazy: only an .xlsx being written needs it
    from xlsxwriter.exceptions import FileCreateError  # lazy: likewise

    # The writer's scratch files (a worksheet's rows, the parts of the zip) go in a private
    # directory beside the target, removed whatever happens: they are never left behind.
    scratch = tempfile.mkdtemp(prefix=f"{tmp.name}.", suffix=".d", dir=tmp.parent)
    options = {
        "constant_memory": True,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
        "tmpdir": scratch,
    }
    workbook: Any = None
    output: _Output | None = None
    try:
        output = _Output(tmp)
        workbook = xlsxwriter.Workbook(output, options)
        count = _xlsx_rows(workbook, columns, rows)
        try:
            workbook.close()
        except FileCreateError as exc:  # xlsxwriter's wrapper of the OSError it met
            cause = exc.args[0] if exc.args else exc
            raise cause if isinstance(cause, OSError) else OSError(str(cause)) from None
        output.close()
    finally:
        if output is not None:
            output.abandon()
        for worksheet in workbook.worksheets() if workbook is not None else ():
            with contextlib.suppress(Exception):  # the rows' scratch file, if still open
                worksheet._opt_close()
        shutil.rmtree(scratch, ignore_errors=True)
    return count


def _xlsx_rows(workbook: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    sheet = workbook.add_worksheet("Sheet1")
    bold = workbook.add_format({"bold": True})
    for col, name in enumerate(columns):
        sheet.write_string(0, col, name, bold)
    sheet.freeze_panes(1, 0)
    count = 0
    for row in rows:
        count += 1
        if count >= EXCEL_MAX_ROWS:
            raise SheetError(
                f"more than {EXCEL_MAX_ROWS - 1:,} rows, the most an Excel worksheet holds "
                "under its header: write .csv or .parquet instead"
            )
        for col, value in enumerate(row):
            _write_cell(sheet, count, col, value, columns)
    return count


def _write_cell(sheet: Any, row: int, col: int, value: Any, columns: Sequence[str]) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
        return
    if isinstance(value, int) and abs(value) <= _EXACT_FLOAT:
        sheet.write_number(row, col, value)
        return
    if isinstance(value, float) and math.isfinite(value):
        sheet.write_number(row, col, value)
        return
    text = as_text(value)
    if len(text) > EXCEL_MAX_TEXT:
        name = columns[col] if col < len(columns) else f"column {col + 1}"
        raise SheetError(
            f"a cell of column `{name}` holds {len(text):,} characters, more than an Excel cell "
            f"holds ({EXCEL_MAX_TEXT:,}): write .csv or .parquet"
        )
    sheet.write_string(row, col, text)


# ---------------------------------------------------------------------------------------------
# Parquet to Parquet: the rows as they are, native types kept
# ---------------------------------------------------------------------------------------------


def _copy_parquet(sheet: Sheet, wanted: set[int], target: Path, notes: list[int]) -> CopyResult:
    import pyarrow as pa  # lazy: slow to import, and only a Parquet being written needs it
    import pyarrow.parquet as pq  # lazy, as above

    formulas = [0]

    def write(tmp: Path) -> int:
        source = pq.ParquetFile(sheet.path)
        count = 0
        first = 1
        with pq.ParquetWriter(tmp, source.schema_arrow) as writer:
            for batch in source.iter_batches():
                mask = [first + i in wanted for i in range(batch.num_rows)]
                first += batch.num_rows
                if not any(mask):
                    continue
                chosen = batch.filter(pa.array(mask))
                for i in notes:
                    formulas[0] += sum(1 for v in chosen.column(i).to_pylist() if _is_formula(v))
                writer.write_batch(chosen)
                count += chosen.num_rows
            if count == 0:
                writer.write_table(source.schema_arrow.empty_table())
        return count

    rows = _atomic(target, write)
    return CopyResult(path=target, rows=rows, formula_notes=formulas[0])


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _is_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def _kind_of(target: Path) -> SheetKind:
    return sheet_kind(target)


def _atomic(target: Path, write: Callable[[Path], int]) -> int:
    """Run ``write`` on a fresh 0600 file beside ``target``, then rename it over ``target``."""
    tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, _NEW_FILE, 0o600)
        os.close(fd)
    except OSError as exc:
        raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        count = write(tmp)
        os.chmod(tmp, 0o600)
        fsync_dir(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from None
    except SheetError as exc:
        tmp.unlink(missing_ok=True)
        raise SheetError(f"{target}: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count
