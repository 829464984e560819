"""Reading a sheet: CSV (as text) or Parquet (native values), in batches, with clear errors.

:func:`open_sheet` checks that a file can be read and reads its header; :meth:`Sheet.iter_rows`
then streams ``(row_number, cells)`` pairs batch by batch, so memory does not grow with the sheet.
Every way a file can fail to be read ends in a :class:`SheetError` whose text is a sentence a person
can act on ("... is not UTF-8 text: ..."), never a library's traceback.

Cells, unless ``raw=True``:

* CSV cells are text (leading zeros and ``+91...`` numbers survive), trimmed; an empty cell is
  ``None``.  The UTF-8 byte-order mark and CRLF line ends are tolerated.
* Parquet cells keep their native type; lists become Python lists, structs and maps become dicts.
  Text is trimmed and an empty text cell is ``None``.  A struct field that is null is dropped: a
  Parquet struct cannot leave a field out, so null there means "not given".
* A row whose every cell is empty is skipped (it still counts for the row numbers).

Row numbers are 1-based data rows: for a CSV without line breaks inside cells, row N is on line N+1.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

import polars as pl

from bulkpatch.errors import SheetError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "Sheet",
    "SheetError",
    "SheetKind",
    "file_sha256",
    "open_sheet",
    "sheet_kind",
]

SheetKind = Literal["csv", "parquet"]

#: Rows per batch: large enough to amortise the per-batch cost, small enough to keep memory flat.
DEFAULT_BATCH_SIZE = 50_000

_EXTENSIONS: dict[str, SheetKind] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_SNIFF_BYTES = 64 * 1024
#: Bytes of CSV read at a time (cut at a record end): the reader holds about one such block.
_CSV_BLOCK_BYTES = 256 << 10


@dataclass(frozen=True, slots=True)
class Sheet:
    """An opened sheet: its path, kind and header.  Rows are read on demand."""

    path: Path
    kind: SheetKind
    #: Column names in file order, trimmed (the CSV byte-order mark removed).
    columns: tuple[str, ...]
    #: The number of data rows when the file says so cheaply (Parquet metadata), else None.
    row_count_hint: int | None = None

    def iter_rows(
        self, batch_size: int = DEFAULT_BATCH_SIZE, *, raw: bool = False
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yield ``(row_number, cells)`` for each data row, in order, reading in batches.

        ``cells`` maps every column name to the cell's value.  With ``raw=True`` the values are
        exactly what the file holds (untrimmed text, empty strings, struct nulls) and blank rows
        are yielded too; the row numbers are the same either way.

        Raises :class:`SheetError` if the file turns out to be unreadable part-way through.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.kind == "csv":
            return _iter_csv(self, batch_size, raw)
        return _iter_parquet(self, batch_size, raw)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sheet_kind(path: str | os.PathLike[str], fmt: SheetKind | None = None) -> SheetKind:
    """The kind of sheet, from ``fmt`` or the file's extension.  Raises :class:`SheetError`."""
    if fmt is not None:
        if fmt not in ("csv", "parquet"):
            raise SheetError(f"unknown format {fmt!r}: use csv or parquet")
        return fmt
    suffix = Path(path).suffix.lower()
    kind = _EXTENSIONS.get(suffix)
    if kind is None:
        shown = f"extension `{suffix}`" if suffix else "no extension"
        raise SheetError(
            f"{path}: cannot tell the format from {shown}: name the file .csv or .parquet, "
            "or pass --format csv|parquet"
        )
    return kind


def open_sheet(path: str | os.PathLike[str], *, fmt: SheetKind | None = None) -> Sheet:
    """Check that ``path`` is a readable CSV or Parquet sheet and read its header.

    Raises :class:`SheetError` with a clear message: missing file, a directory, no permission,
    not CSV/Parquet, empty, no header, not UTF-8, damaged.
    """
    p = Path(path)
    head = _read_head(p)
    kind = sheet_kind(p, fmt)
    if kind == "csv":
        return _open_csv(p, head)
    return _open_parquet(p, head)


# ---------------------------------------------------------------------------------------------
# Opening
# ---------------------------------------------------------------------------------------------


def _read_head(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise SheetError(f"{path}: is a directory, not a sheet")
        with open(path, "rb") as handle:
            return handle.read(_SNIFF_BYTES)
    except FileNotFoundError:
        raise SheetError(f"{path}: no such file") from None
    except PermissionError:
        raise SheetError(f"{path}: cannot read it: permission denied") from None
    except IsADirectoryError:
        raise SheetError(f"{path}: is a directory, not a sheet") from None
    except OSError as exc:
        raise SheetError(f"{path}: cannot read it: {exc.strerror or exc}") from None


def _sniff_not_csv(path: Path, head: bytes) -> None:
    """Refuse files that are plainly not UTF-8 CSV text, naming what they look like."""
    if head.startswith(b"PAR1"):
        raise SheetError(
            f"{path}: is a Parquet file, not CSV: name it .parquet or pass --format parquet"
        )
    if head.startswith(b"PK\x03\x04"):
        raise SheetError(
            f"{path}: looks like a spreadsheet workbook (a zip file), not CSV: "
            "save it as 'CSV UTF-8 (comma delimited)'"
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise SheetError(
            f"{path}: looks like an old Excel workbook (.xls), not CSV: "
            "save it as 'CSV UTF-8 (comma delimited)'"
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SheetError(f"{path}: is UTF-16 text; bulkpatch reads UTF-8: save it as CSV UTF-8")
    if b"\x00" in head:
        raise SheetError(f"{path}: is a binary file, not CSV text (it holds NUL bytes)")


def _open_csv(path: Path, head: bytes) -> Sheet:
    _sniff_not_csv(path, head)
    if not head.replace(codecs.BOM_UTF8, b"", 1).strip():
        raise SheetError(f"{path}: is empty: a sheet needs a header row and at least one row")
    header = _read_csv_header(path, head)
    try:
        names = pl.scan_csv(path, infer_schema=False, glob=False).collect_schema().names()
    except pl.exceptions.PolarsError as exc:
        raise SheetError(_csv_failure(path, exc)) from None
    if len(names) != len(header):
        raise SheetError(
            f"{path}: cannot read the header: found {len(header)} column names but the CSV "
            f"reader sees {len(names)}; check the quoting of the first line"
        )
    return Sheet(path=path, kind="csv", columns=tuple(header))


def _read_csv_header(path: Path, head: bytes) -> list[str]:
    """The first record of the CSV, with the real column names (duplicates and blanks kept)."""
    body = head[len(codecs.BOM_UTF8) :] if head.startswith(codecs.BOM_UTF8) else head
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(body, final=len(head) < _SNIFF_BYTES)
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise SheetError(
            f"{path}: is not UTF-8 text (byte 0x{body[exc.start]:02x} on line {line}): "
            "save it as CSV UTF-8"
        ) from None
    if len(head) >= _SNIFF_BYTES and "\n" not in text:
        raise SheetError(f"{path}: the header line is longer than {_SNIFF_BYTES} bytes")
    try:
        first = next(csv.reader(io.StringIO(text, newline=""), strict=True), None)
    except csv.Error as exc:
        raise SheetError(f"{path}: cannot read the header line: {exc}") from None
    if first is None or not any(name.strip() for name in first):
        raise SheetError(
            f"{path}: has no header: the first line must name the columns "
            "(campaign_id, org_id, workspace_id, and the fields to change)"
        )
    return [name.strip() for name in first]


def _open_parquet(path: Path, head: bytes) -> Sheet:
    import pyarrow.parquet as pq

    if not head:
        raise SheetError(f"{path}: is empty: a sheet needs a header row and at least one row")
    if not head.startswith(b"PAR1"):
        hint = ""
        if head.lstrip(codecs.BOM_UTF8)[:1].isascii() and b"\x00" not in head:
            hint = ": it looks like text; name it .csv or pass --format csv"
        raise SheetError(f"{path}: is not a Parquet file{hint}")
    try:
        parquet = pq.ParquetFile(path)
        names = [str(name).strip() for name in parquet.schema_arrow.names]
        count = int(parquet.metadata.num_rows)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise SheetError(f"{path}: is not a readable Parquet file: {_first_line(exc)}") from None
    if not names:
        raise SheetError(f"{path}: has no columns")
    return Sheet(path=path, kind="parquet", columns=tuple(names), row_count_hint=count)


# ---------------------------------------------------------------------------------------------
# Reading rows
# ---------------------------------------------------------------------------------------------


def _clean_text(name: str) -> pl.Expr:
    trimmed = pl.col(name).str.strip_chars()
    return pl.when(trimmed.str.len_bytes() == 0).then(None).otherwise(trimmed).alias(name)


def _iter_csv(sheet: Sheet, batch_size: int, raw: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    columns = sheet.columns
    width = len(columns)
    row = 0
    try:
        handle = open(sheet.path, "rb")  # noqa: SIM115 - closed below, also when abandoned
    except OSError as exc:
        raise SheetError(_csv_failure(sheet.path, exc)) from None
    with handle:
        blocks = _csv_blocks(handle, _CSV_BLOCK_BYTES)
        header = b""
        while True:
            try:
                block = next(blocks, None)
                if block is None:
                    return
                if not header:
                    # The first block starts with the header; later ones are read under a copy of
                    # it, so that every block is parsed exactly like a small file of its own.
                    header = block[: _first_record_end(block) or len(block)]
                else:
                    block = header + block
                frame = pl.read_csv(block, infer_schema=False)
                if not raw:
                    frame = frame.select([_clean_text(name) for name in frame.columns])
            except (pl.exceptions.PolarsError, OSError) as exc:
                raise SheetError(_csv_failure(sheet.path, exc)) from None
            del block
            if frame.width != width:  # pragma: no cover - guarded at open
                raise SheetError(f"{sheet.path}: the number of columns changed while reading")
            for offset in range(0, frame.height, batch_size):
                part = frame.slice(offset, batch_size)
                values = [series.to_list() for series in part.get_columns()]
                del part
                for cells in zip(*values, strict=False):
                    row += 1
                    if not raw and cells.count(None) == width:
                        continue  # a blank row
                    yield row, dict(zip(columns, cells, strict=False))
            del frame


def _csv_blocks(handle: BinaryIO, block_bytes: int) -> Iterator[bytes]:
    """The file's bytes in blocks of about ``block_bytes``, each ending at the end of a record.

    A record ends at a line feed outside quotes: one with an even number of quote characters
    before it (a quoted cell holds an even number, ``""`` included).  A block grows past
    ``block_bytes`` only while a quoted cell is still open (or a stray quote left one open).
    """
    pending = b""
    pending_quotes = 0  # the parity of the quotes in ``pending``
    while True:
        data = handle.read(block_bytes)
        if not data:
            if pending:
                yield pending
            return
        cut = _last_record_end(data, pending_quotes)
        if cut is None:
            pending += data
            pending_quotes = (pending_quotes + data.count(b'"')) % 2
            continue
        yield pending + data[:cut]
        pending = data[cut:]
        pending_quotes = pending.count(b'"') % 2


def _last_record_end(data: bytes, quotes_before: int) -> int | None:
    """The offset just after the last line feed in ``data`` that ends a record, if any.

    ``quotes_before`` is the parity of the quote characters between the last record end and
    ``data``.
    """
    parity = (quotes_before + data.count(b'"')) % 2
    end = len(data)
    at = data.rfind(b"\n")
    while at >= 0:
        parity = (parity + data.count(b'"', at + 1, end)) % 2
        if parity == 0:
            return at + 1
        end = at
        at = data.rfind(b"\n", 0, at)
    return None


def _first_record_end(data: bytes) -> int | None:
    """The offset just after the first line feed in ``data`` that ends a record, if any."""
    parity = 0
    start = 0
    at = data.find(b"\n")
    while at >= 0:
        parity = (parity + data.count(b'"', start, at)) % 2
        if parity == 0:
            return at + 1
        start = at
        at = data.find(b"\n", at + 1)
    return None


def _iter_parquet(sheet: Sheet, batch_size: int, raw: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    columns = sheet.columns
    try:
        parquet = pq.ParquetFile(sheet.path)
        batches = parquet.iter_batches(batch_size=batch_size)
    except Exception as exc:
        raise SheetError(f"{sheet.path}: cannot read it: {_first_line(exc)}") from None
    row = 0
    while True:
        try:
            batch = next(batches)
            values = [_arrow_to_list(batch.column(i)) for i in range(batch.num_columns)]
        except StopIteration:
            return
        except Exception as exc:
            raise SheetError(
                f"{sheet.path}: cannot read rows after row {row}: {_first_line(exc)}"
            ) from None
        if not raw:
            values = [[_clean_native(v) for v in column] for column in values]
        width = len(columns)
        for cells in zip(*values, strict=False):
            row += 1
            if not raw and cells.count(None) == width:
                continue  # a blank row
            yield row, dict(zip(columns, cells, strict=False))


def _arrow_to_list(array: Any) -> list[Any]:
    try:
        return cast(list[Any], array.to_pylist(maps_as_pydicts="strict"))
    except TypeError:  # an older pyarrow without maps_as_pydicts
        return cast(list[Any], array.to_pylist())


def _clean_native(value: Any) -> Any:
    """Trim text (empty -> None); drop null struct fields; recurse into lists and structs."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, dict):
        return {k: _clean_native(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean_native(v) if isinstance(v, dict | list) else v for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# Explaining a CSV that the reader refused
# ---------------------------------------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _csv_failure(path: Path, exc: BaseException) -> str:
    """A message for a CSV the fast reader refused: find the first bad record with ``csv``."""
    found = _diagnose_csv(path)
    if found:
        return f"{path}: {found}"
    return f"{path}: cannot read it as CSV: {_first_line(exc)}"


def _diagnose_csv(path: Path) -> str | None:
    """Walk the file to name the first line that cannot be read, if any."""
    try:
        with open(path, "rb") as binary:
            for number, raw_line in enumerate(binary, start=1):
                try:
                    raw_line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return (
                        f"is not UTF-8 text (byte 0x{raw_line[exc.start]:02x} on line {number}): "
                        "save it as CSV UTF-8"
                    )
        line = 1
        with open(path, encoding="utf-8-sig", newline="") as text:
            reader = csv.reader(text, strict=True)
            width: int | None = None
            for record in reader:
                if width is None:
                    width = len(record)
                elif len(record) > width:
                    return (
                        f"line {line} has {len(record)} cells but the header has {width}: "
                        "quote cells that hold a comma"
                    )
                line = reader.line_num + 1
        with open(path, encoding="utf-8-sig", newline="") as text:
            bare = _bare_quote_line(text.read())
        if bare is not None:
            return (
                f'line {bare}: a cell holds a quote (") but does not start with one: '
                'wrap the cell in quotes and double the quote inside ("")'
            )
    except csv.Error as exc:
        return f"line {line} is not valid CSV: {exc}"
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    return None


def _bare_quote_line(text: str) -> int | None:
    """The line of the first quote inside an unquoted cell (which the fast reader refuses)."""
    line = 1
    quoted = False
    at_start = True
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if quoted:
            if char == '"':
                if i + 1 < n and text[i + 1] == '"':
                    i += 1
                else:
                    quoted = False
            elif char == "\n":
                line += 1
        elif char == '"':
            if not at_start:
                return line
            quoted = True
        elif char == "\n":
            line += 1
        at_start = char in ",\n\r" and not quoted
        i += 1
    return None
