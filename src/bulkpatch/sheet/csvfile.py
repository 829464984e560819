"""Reading a CSV sheet: every cell as text, in blocks, so memory stays flat however long it is.

polars parses the CSV.  It is handed the file a block at a time (about :data:`CSV_BLOCK_BYTES`
each, cut at a record end, each parsed under a copy of the header), because neither streaming
reader does the whole job (measured; see the notes on the sheet reader):

* ``pl.scan_csv(...).collect_batches()`` parses ahead of the consumer and keeps what it parsed:
  its peak memory grows with the file (about 330 MiB at 1,000,000 rows, 500 MiB at 3,000,000,
  where these blocks stay at 115 MiB);
* ``pyarrow.csv.open_csv`` cannot give a short line its missing cells (it can only skip the row
  or fail), gives no line number for a bad row once quoted line breaks are allowed, and reads an
  unclosed quote to the end of the file without a word (every later row vanishes into one cell).

Finding a record end needs only the quote count: a line feed ends a record when an even number
of quote characters precede it (a quoted cell holds an even number, ``""`` included).

The UTF-8 byte-order mark and CRLF line ends are read as expected.  A CSV the parser refuses is
walked once more, only then, with Python's ``csv`` module to name the first bad line.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import polars as pl

from bulkpatch.core.errors import SheetError
from bulkpatch.sheet.base import Cells, Sheet, first_line, split_unnamed
from bulkpatch.sheet.frames import frame_rows, keys_of, shape
from bulkpatch.sheet.regular import SNIFF_BYTES, open_regular

#: Bytes of CSV read at a time (cut at a record end): the reader holds about one such block.
CSV_BLOCK_BYTES = 256 << 10
#: Bytes of CSV per frame when a sheet is read as frames (validated column by column).
CSV_FRAME_BYTES = 4 << 20
#: Bytes of CSV per frame of a lean pass (a run's): polars' work on a frame takes several times
#: its size while it lasts, and a run keeps that peak; a 1,000,000-row check takes about 0.4 s
#: more than with :data:`CSV_FRAME_BYTES` (measured), nothing next to the run's requests.
CSV_LEAN_FRAME_BYTES = 1 << 20

_SEP_LINE = re.compile(r'^"?sep=(.)"?$', re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Opening
# ---------------------------------------------------------------------------------------------


def _sniff_not_csv(shown: Path, head: bytes) -> None:
    """Refuse files that are plainly not UTF-8 CSV text, naming what they look like."""
    if head.startswith(b"PAR1"):
        raise SheetError(
            f"{shown}: is a Parquet file, not CSV: name it .parquet or pass --format parquet"
        )
    if head.startswith(b"PK\x03\x04"):
        raise SheetError(
            f"{shown}: looks like a spreadsheet workbook (a zip file), not CSV: name it .xlsx "
            "(bulkpatch reads Excel workbooks) or save it as 'CSV UTF-8 (comma delimited)'"
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise SheetError(
            f"{shown}: looks like an old Excel workbook (.xls), not CSV: "
            "save it as 'CSV UTF-8 (comma delimited)' or as an Excel Workbook (.xlsx)"
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SheetError(f"{shown}: is UTF-16 text; bulkpatch reads UTF-8: save it as CSV UTF-8")
    if b"\x00" in head:
        raise SheetError(f"{shown}: is a binary file, not CSV text (it holds NUL bytes)")


def _check_line_ends(shown: Path, body: bytes) -> None:
    """Refuse CR-only line ends (old Mac): the parser would see one endless line."""
    cr = body.find(b"\r")
    lf = body.find(b"\n")
    if cr >= 0 and (lf < 0 or cr < lf) and body[cr + 1 : cr + 2] != b"\n":
        raise SheetError(
            f"{shown}: its lines end in a carriage return alone (CR, the old Mac format), which "
            "bulkpatch does not read: save it again as 'CSV UTF-8 (comma delimited)', or "
            "convert its line ends to LF or CRLF"
        )


def open_csv(path: Path, head: bytes, source: Path | None) -> Sheet:
    shown = source or path
    _sniff_not_csv(shown, head)
    body = head[len(codecs.BOM_UTF8) :] if head.startswith(codecs.BOM_UTF8) else head
    if not body.strip():
        raise SheetError(f"{shown}: is empty: a sheet needs a header row and at least one row")
    _check_line_ends(shown, body)
    header = _read_header(shown, head, body)
    end = first_record_end(body)
    record = body[:end] if end is not None else body
    try:
        width = pl.read_csv(record, infer_schema=False, n_rows=0).width
    except pl.exceptions.PolarsError as exc:
        raise SheetError(f"{shown}: cannot read the header line: {first_line(exc)}") from None
    if width != len(header):
        raise SheetError(
            f"{shown}: cannot read the header: found {len(header)} column names but the CSV "
            f"reader sees {width}; check the quoting of the first line"
        )
    names, unnamed = split_unnamed(header)
    return Sheet(
        path,
        "csv",
        tuple(names),
        iter_csv,
        source=source,
        unnamed_columns=unnamed,
        framer=iter_csv_frames,
    )


def _read_header(shown: Path, head: bytes, body: bytes) -> list[str]:
    """The first record of the CSV, with the real column names (duplicates and blanks kept)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(body, final=len(head) < SNIFF_BYTES)
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise SheetError(
            f"{shown}: is not UTF-8 text (byte 0x{body[exc.start]:02x} on line {line}): "
            "save it as CSV UTF-8"
        ) from None
    if len(head) >= SNIFF_BYTES and "\n" not in text:
        raise SheetError(f"{shown}: the header line is longer than {SNIFF_BYTES} bytes")
    opening = text.split("\n", 1)[0].strip()
    sep = _SEP_LINE.match(opening)
    if sep is not None:
        other = sep.group(1)
        also = f" (and separate the cells with commas, not {other!r})" if other != "," else ""
        raise SheetError(
            f"{shown}: the first line is `{opening}`, a hint some programs write for Excel, "
            f"not the header: delete that line so that the column names come first{also}"
        )
    try:
        first = next(csv.reader(io.StringIO(text, newline=""), strict=True), None)
    except csv.Error as exc:
        raise SheetError(f"{shown}: cannot read the header line: {exc}") from None
    if first is None or not any(name.strip() for name in first):
        raise SheetError(
            f"{shown}: has no header: the first line must name the columns "
            "(campaign_id, org_id, workspace_id, and the fields to change)"
        )
    return [name.strip() for name in first]


# ---------------------------------------------------------------------------------------------
# Reading rows
# ---------------------------------------------------------------------------------------------


def iter_csv(sheet: Sheet, batch_size: int, raw: bool) -> Iterator[tuple[int, Cells]]:
    keys = keys_of(sheet)
    for start, frame in _csv_frames(sheet, CSV_BLOCK_BYTES, raw):
        yield from frame_rows(frame, keys, start, batch_size, raw)


def iter_csv_frames(
    sheet: Sheet, batch_size: int, lean: bool
) -> Iterator[tuple[int, pl.DataFrame]]:
    """Shaped frames of about :data:`CSV_FRAME_BYTES` of CSV each (:data:`CSV_LEAN_FRAME_BYTES`
    when ``lean``; ``batch_size`` is not used: a block is cut by bytes)."""
    return _csv_frames(sheet, CSV_LEAN_FRAME_BYTES if lean else CSV_FRAME_BYTES, False)


def _csv_frames(sheet: Sheet, block_bytes: int, raw: bool) -> Iterator[tuple[int, pl.DataFrame]]:
    shown = sheet.shown
    width = len(sheet.columns) + sheet.unnamed_columns
    row = 0
    handle = open(open_regular(sheet.path, shown), "rb", closefd=True)  # noqa: SIM115
    with handle:
        blocks = csv_blocks(handle, block_bytes)
        header = b""
        while True:
            try:
                block = next(blocks, None)
                if block is None:
                    return
                if not header:
                    # The first block starts with the header; later ones are read under a copy of
                    # it, so that every block is parsed exactly like a small file of its own.
                    header = block[: first_record_end(block) or len(block)]
                else:
                    block = header + block
                frame = pl.read_csv(block, infer_schema=False)
                if frame.width != width:  # pragma: no cover - guarded at open
                    raise SheetError(f"{shown}: the number of columns changed while reading")
                frame = shape(frame, len(sheet.columns), raw)
            except (pl.exceptions.PolarsError, OSError) as exc:
                raise SheetError(csv_failure(sheet.path, shown, exc)) from None
            del block
            height = frame.height
            yield row + 1, frame
            row += height
            del frame


def csv_blocks(handle: BinaryIO, block_bytes: int) -> Iterator[bytes]:
    """The file's bytes in blocks of about ``block_bytes``, each ending at the end of a record.

    A record ends at a line feed outside quotes: one with an even number of quote characters
    before it.  A block grows past ``block_bytes`` only while a quoted cell is still open (or a
    stray quote left one open).
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


def first_record_end(data: bytes) -> int | None:
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


# ---------------------------------------------------------------------------------------------
# Explaining a CSV that the parser refused
# ---------------------------------------------------------------------------------------------


def csv_failure(path: Path, shown: Path, exc: BaseException) -> str:
    """A message for a CSV the parser refused: find the first bad record with ``csv``."""
    found = _diagnose(path)
    if found:
        return f"{shown}: {found}"
    return f"{shown}: cannot read it as CSV: {first_line(exc)}"


def _diagnose(path: Path) -> str | None:
    """Walk the file to name the first line that cannot be read, if any."""
    line = 1
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
    """The line of the first quote inside an unquoted cell (which the parser refuses)."""
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
