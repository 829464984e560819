"""The run directory's report files (see docs/run-directory.md), each written whole or not at
all, each by one function here:

* results.csv (and results.parquet beside it for a Parquet sheet): :class:`ResultsFile`, fed
  row by row -- :func:`write_results` for rows at hand (a rebuild, a merge, an amend), and
  :class:`OrderedResults` for a run's rows, which arrive in any order;
* summary.json: :func:`write_summary` (its content is built by
  :func:`bulkpatch.core.summary.summary_content`);
* the retry sheet: :func:`write_retry`.

Every file is written to a temporary name beside its target, fsynced, then renamed, mode 0600.
Cells that came from the API or a sheet go through :func:`bulkpatch.core.text.safe_cell` in files
that spreadsheets open, so no cell starts a formula and no control character or 5 MB message
lands in one (the journal keeps the raw value).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import polars as pl

from bulkpatch.core.results import REPORT_COLUMNS, REPORT_INTEGERS
from bulkpatch.core.text import FORMULA_STARTS, MESSAGE_CAP, safe_cell
from bulkpatch.rundir.names import RESULTS_PARQUET, retry_name, tmp_name
from bulkpatch.sheet import CopyResult, Sheet, copy_rows

#: results.csv's columns (:func:`bulkpatch.core.results.report_row` gives a row of them).
RESULT_COLUMNS: tuple[str, ...] = REPORT_COLUMNS
#: plan.csv's columns: which row, what would come of it, and the changes.
PLAN_COLUMNS: tuple[str, ...] = (
    *REPORT_COLUMNS[:6],
    "campaign_status",
    "updated_at",
    "changed_fields",
    "changes",
)


def tmp_for(path: Path) -> Path:
    return path.with_name(tmp_name(path.name))


@contextmanager
def atomic_text(path: Path) -> Iterator[IO[str]]:
    """Write a text file whole or not at all, mode 0600."""
    tmp = tmp_for(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    with atomic_text(path) as f:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")


def write_summary(path: Path, data: Mapping[str, Any]) -> None:
    """Write summary.json (``data``: :func:`bulkpatch.core.summary.summary_content`)."""
    write_json(path, dict(data))


def write_retry(sheet: Sheet, rows: Collection[int], folder: Path) -> CopyResult:
    """Write the retry sheet into ``folder``: the sheet's own rows ``rows`` (those that did not
    end ``updated`` / ``unchanged``), in the sheet's own format, named for it."""
    return copy_rows(sheet, rows, folder / retry_name(sheet.kind))


def report_cell(value: Any) -> Any:
    """A cell of a report a spreadsheet opens: empty for None, never a formula."""
    if value is None:
        return ""
    if not isinstance(value, str) or (
        # Most cells (ids, outcomes, short reasons) are already safe: keep them as they are
        # without the calls of safe_cell (this runs for every cell of every row).
        value.isprintable() and len(value) <= MESSAGE_CAP and not value.startswith(FORMULA_STARTS)
    ):
        return value
    return safe_cell(value)


class ResultsFile:
    """A report CSV being written (results.csv, plan.csv): a header, then a line per record.

    Lines go to a temporary file beside ``path``; :meth:`commit` puts it in place (and, with
    ``parquet``, a Parquet twin beside it), :meth:`abandon` leaves nothing behind.
    """

    def __init__(self, path: Path, columns: tuple[str, ...] = RESULT_COLUMNS) -> None:
        self.path = path
        self._columns = columns
        self._tmp = tmp_for(path)
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(columns)

    def write(self, record: Mapping[str, Any]) -> None:
        self._writer.writerow(map(report_cell, map(record.get, self._columns)))

    def commit(self, *, parquet: bool = False) -> tuple[Path, ...]:
        """Put the file in place, then its Parquet twin with ``parquet``; returns the paths."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self.path)
        if not parquet:
            return (self.path,)
        return self.path, parquet_twin(self.path)

    def abandon(self) -> None:
        with contextlib.suppress(OSError):  # a full disk fails the flush that close does
            if not self._file.closed:
                self._file.close()
        with contextlib.suppress(OSError):  # a directory that refuses writes refuses this too
            self._tmp.unlink(missing_ok=True)


def write_results(
    path: Path,
    records: Iterable[Mapping[str, Any]],
    *,
    parquet: bool = False,
    columns: tuple[str, ...] = RESULT_COLUMNS,
) -> tuple[Path, ...]:
    """Write results.csv (at ``path``) from ``records`` in order, and with ``parquet`` its
    Parquet twin, whole or not at all; returns the paths written.  An ``OSError`` propagates."""
    out = ResultsFile(path, columns)
    try:
        for record in records:
            out.write(record)
        return out.commit(parquet=parquet)
    except BaseException:
        out.abandon()
        raise


def read_results(path: Path) -> Iterator[dict[str, str]]:
    """The lines of a report CSV, as written (text)."""
    with path.open(newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


def rewrite_results(path: Path, records: Mapping[int, Mapping[str, Any]]) -> None:
    """Replace the lines of these rows in a finished results file, streaming it (whole or not
    at all)."""
    with path.open(newline="", encoding="utf-8") as f:
        header = tuple(next(csv.reader(f), ()))
    lines = read_results(path)
    write_results(path, (_amended(line, records) for line in lines), columns=header)


def _amended(line: dict[str, str], records: Mapping[int, Mapping[str, Any]]) -> Mapping[str, Any]:
    row = line.get("row") or ""
    return records.get(int(row), line) if row.isdigit() else line


class OrderedResults:
    """Writes a results file in sheet order while results arrive in any order.

    ``order`` yields the row numbers in sheet order (from the sheet check, not from whoever feeds
    the workers); rows finish close to that order, so only the few that finished early wait in
    memory, the file grows as the run goes, and memory stays flat however long the sheet is.
    """

    def __init__(
        self, path: Path, order: Iterator[int], columns: tuple[str, ...] = RESULT_COLUMNS
    ) -> None:
        self.path = path
        self._file = ResultsFile(path, columns)
        self._order = order
        self._next = next(order, None)
        self._pending: dict[int, Mapping[str, Any] | None] = {}

    def add(self, row: int, record: Mapping[str, Any] | None) -> None:
        """Row ``row`` is finished; ``None``: it has no line here (another shard's row)."""
        if row != self._next:
            self._pending[row] = record
            return
        self._write(record)
        self._next = next(self._order, None)
        pending = self._pending
        while pending and self._next in pending:
            self._write(pending.pop(self._next))
            self._next = next(self._order, None)

    def _write(self, record: Mapping[str, Any] | None) -> None:
        if record is not None:
            self._file.write(record)

    def commit(self) -> None:
        """Write what is left (in order), then put the file in place."""
        for row in sorted(self._pending):
            self._write(self._pending.pop(row))
        self._file.commit()

    def abandon(self) -> None:
        self._file.abandon()


def parquet_twin(csv_path: Path) -> Path:
    """results.parquet beside results.csv (for a Parquet sheet), written whole or not at all."""
    parquet_path = csv_path.with_name(RESULTS_PARQUET)
    tmp = tmp_for(parquet_path)
    schema = {c: pl.String for c in RESULT_COLUMNS}
    frame = pl.scan_csv(csv_path, schema_overrides=schema, infer_schema=False).with_columns(
        *(pl.col(c).cast(pl.Int64, strict=c != "http_status") for c in sorted(REPORT_INTEGERS))
    )
    try:
        frame.sink_parquet(tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, parquet_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return parquet_path
