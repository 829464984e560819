"""The run directory's reports: results, retry sheet, summary, plan (SPEC section 7).

Building a report row is pure (:func:`result_record`); writing is done whole or not at all: every
file is written to a temporary name beside its target, fsynced, then renamed, with mode 0600.
"""

from __future__ import annotations

import csv
import json
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import polars as pl

from bulkpatch.outcomes import Outcome
from bulkpatch.rows import CampaignKey
from bulkpatch.sheet import Sheet

#: Which row, and what came of it: the first columns of every report.
_ROW_AND_OUTCOME: tuple[str, ...] = (
    "row",
    "org_id",
    "workspace_id",
    "campaign_id",
    "outcome",
    "reason",
)
RESULT_COLUMNS: tuple[str, ...] = (
    *_ROW_AND_OUTCOME,
    "http_status",
    "attempts",
    "changed_fields",
    "campaign_status",
    "updated_at",
    "duration_ms",
)
PLAN_COLUMNS: tuple[str, ...] = (*_ROW_AND_OUTCOME, "campaign_status", "changed_fields", "changes")


@dataclass(frozen=True, slots=True)
class RowResult:
    """A row's one outcome, and what the report says of it."""

    row: int
    key: CampaignKey | None
    outcome: Outcome
    reason: str = ""
    http_status: int | None = None
    attempts: int = 0
    changed_fields: tuple[str, ...] = ()
    campaign_status: str | None = None
    updated_at: str | None = None
    duration_ms: int = 0
    #: Values before the change, per changed path (journal only; undo data).
    before: dict[str, Any] = field(default_factory=dict)
    #: ``path: old -> new`` per changed path (plan only).
    changes: str = ""
    #: False when a PATCH may have landed and nobody could tell: no ``done`` line is written,
    #: so that ``resume`` reads the campaign back before anything else.
    settled: bool = True


def result_record(result: RowResult) -> dict[str, Any]:
    """The report row of a result, as plain values (also the ``done`` journal line)."""
    key = result.key
    return {
        "row": result.row,
        "org_id": key.org_id if key else "",
        "workspace_id": key.workspace_id if key else "",
        "campaign_id": key.campaign_id if key else "",
        "outcome": str(result.outcome),
        "reason": result.reason,
        "http_status": result.http_status,
        "attempts": result.attempts,
        "changed_fields": ";".join(result.changed_fields),
        "campaign_status": result.campaign_status,
        "updated_at": result.updated_at,
        "duration_ms": result.duration_ms,
    }


def result_from_record(record: dict[str, Any]) -> RowResult:
    """The inverse of :func:`result_record` (for rows a resumed run keeps)."""
    ids = (record.get("org_id"), record.get("workspace_id"), record.get("campaign_id"))
    key = CampaignKey(*ids) if all(isinstance(v, str) and v for v in ids) else None  # type: ignore[arg-type]
    changed = record.get("changed_fields") or ""
    return RowResult(
        row=int(record["row"]),
        key=key,
        outcome=Outcome(record["outcome"]),
        reason=str(record.get("reason") or ""),
        http_status=record.get("http_status"),
        attempts=int(record.get("attempts") or 0),
        changed_fields=tuple(p for p in str(changed).split(";") if p),
        campaign_status=record.get("campaign_status"),
        updated_at=record.get("updated_at"),
        duration_ms=int(record.get("duration_ms") or 0),
        before=dict(record.get("before") or {}),
    )


# ----------------------------------------------------------------------------------------------
# Whole-or-nothing files
# ----------------------------------------------------------------------------------------------


def _tmp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


@contextmanager
def atomic_text(path: Path) -> Iterator[IO[str]]:
    """Write a text file whole or not at all, mode 0600."""
    tmp = _tmp_for(path)
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


def _cell(value: Any) -> Any:
    return "" if value is None else value


class OrderedResults:
    """Writes a results file in sheet order while results arrive in any order.

    The feeder announces each row as it hands it out (:meth:`expect`); rows finish close to that
    order, so only the few that finished early wait in memory, the file grows as the run goes,
    and memory stays flat however long the sheet is.
    """

    def __init__(self, path: Path, columns: tuple[str, ...] = RESULT_COLUMNS) -> None:
        self.path = path
        self._columns = columns
        self._tmp = _tmp_for(path)
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(columns)
        self._order: deque[int] = deque()
        self._pending: dict[int, dict[str, Any]] = {}

    def expect(self, row: int) -> None:
        """Row ``row`` is next in sheet order."""
        self._order.append(row)

    def add(self, row: int, record: dict[str, Any]) -> None:
        self._pending[row] = record
        while self._order and self._order[0] in self._pending:
            self._write(self._pending.pop(self._order.popleft()))

    def _write(self, record: dict[str, Any]) -> None:
        self._writer.writerow([_cell(record.get(c)) for c in self._columns])

    def commit(self) -> None:
        """Write what is left (in order), then put the file in place."""
        for row in sorted(self._pending):
            self._write(self._pending.pop(row))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self.path)

    def abandon(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._tmp.unlink(missing_ok=True)


def csv_to_parquet(csv_path: Path, parquet_path: Path) -> None:
    """A Parquet copy of a report CSV (for a Parquet sheet), written whole or not at all."""
    tmp = _tmp_for(parquet_path)
    schema = {c: pl.String for c in RESULT_COLUMNS}
    frame = pl.scan_csv(csv_path, schema_overrides=schema, infer_schema=False).with_columns(
        pl.col("row").cast(pl.Int64),
        pl.col("http_status").cast(pl.Int64, strict=False),
        pl.col("attempts").cast(pl.Int64),
        pl.col("duration_ms").cast(pl.Int64),
    )
    frame.sink_parquet(tmp)
    os.chmod(tmp, 0o600)
    os.replace(tmp, parquet_path)


def write_retry_sheet(sheet: Sheet, rows: set[int], out: Path) -> int:
    """The sheet's own rows (columns and values as they were) for ``rows``; returns the count.

    Row numbers are 1-based data rows, as everywhere else.  Written even when empty, so a
    nightly job always finds the file.
    """
    if sheet.kind == "parquet":
        tmp = _tmp_for(out)
        selected = (
            pl.scan_parquet(sheet.path, glob=False)
            .with_row_index("__row__", offset=1)
            .filter(pl.col("__row__").is_in(sorted(rows)))
            .drop("__row__")
            .collect()
        )
        selected.write_parquet(tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
        return selected.height
    count = 0
    with atomic_text(out) as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(sheet.columns)
        if rows:
            for number, cells in sheet.iter_rows(raw=True):
                if number in rows:
                    writer.writerow([_cell(cells.get(c)) for c in sheet.columns])
                    count += 1
    return count


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) of already-sorted values, nearest-rank."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]
