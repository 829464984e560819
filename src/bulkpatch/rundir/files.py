"""The run directory's report files (SPEC section 7), each written whole or not at all.

Every file is written to a temporary name beside its target, fsynced, then renamed, mode 0600.
Cells that came from the API or a sheet go through :func:`bulkpatch.core.text.safe_cell` in files
that spreadsheets open, so no cell starts a formula and no control character or 5 MB message lands
in one (the journal keeps the raw value).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import polars as pl

from bulkpatch.core.text import FORMULA_STARTS, MESSAGE_CAP, safe_cell

#: Which row, and what came of it: the first columns of every report.
ROW_AND_OUTCOME: tuple[str, ...] = (
    "row",
    "org_id",
    "workspace_id",
    "campaign_id",
    "outcome",
    "reason",
)
RESULT_COLUMNS: tuple[str, ...] = (
    *ROW_AND_OUTCOME,
    "http_status",
    "attempts",
    "changed_fields",
    "campaign_status",
    "updated_at",
    "duration_ms",
)
PLAN_COLUMNS: tuple[str, ...] = (
    *ROW_AND_OUTCOME,
    "campaign_status",
    "updated_at",
    "changed_fields",
    "changes",
)


def tmp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


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
        self._columns = columns
        self._tmp = tmp_for(path)
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(columns)
        self._order = order
        self._next = next(order, None)
        self._pending: dict[int, dict[str, Any] | None] = {}

    def add(self, row: int, record: dict[str, Any] | None) -> None:
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

    def _write(self, record: dict[str, Any] | None) -> None:
        if record is not None:
            self._writer.writerow(map(report_cell, map(record.get, self._columns)))

    def commit(self) -> None:
        """Write what is left (in order), then put the file in place."""
        for row in sorted(self._pending):
            self._write(self._pending.pop(row))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self.path)

    def abandon(self) -> None:
        with contextlib.suppress(OSError):  # a full disk fails the flush that close does
            if not self._file.closed:
                self._file.close()
        with contextlib.suppress(OSError):  # a directory that refuses writes refuses this too
            self._tmp.unlink(missing_ok=True)


def csv_to_parquet(csv_path: Path, parquet_path: Path) -> None:
    """A Parquet copy of a report CSV (for a Parquet sheet), written whole or not at all."""
    tmp = tmp_for(parquet_path)
    schema = {c: pl.String for c in RESULT_COLUMNS}
    frame = pl.scan_csv(csv_path, schema_overrides=schema, infer_schema=False).with_columns(
        pl.col("row").cast(pl.Int64),
        pl.col("http_status").cast(pl.Int64, strict=False),
        pl.col("attempts").cast(pl.Int64),
        pl.col("duration_ms").cast(pl.Int64),
    )
    try:
        frame.sink_parquet(tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, parquet_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
