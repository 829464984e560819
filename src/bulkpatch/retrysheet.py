"""The sheet's own rows, copied to a new file: ``retry.csv`` / ``retry.parquet``."""

from __future__ import annotations

import csv
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from bulkpatch.columns import is_note
from bulkpatch.reports import atomic_text, tmp_for
from bulkpatch.sheet import Sheet
from bulkpatch.text import FORMULA_STARTS


@dataclass(frozen=True, slots=True)
class CopyResult:
    rows: int
    #: Note cells (``#...``/``_...`` columns) that start with a formula character.
    formula_notes: int = 0


def copy_rows(sheet: Sheet, rows: Collection[int], out: Path) -> CopyResult:
    """The sheet's own rows (columns and values as they were) for ``rows``.

    Written even when empty, so a nightly job always finds the file.
    """
    if sheet.kind == "parquet":
        tmp = tmp_for(out)
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
        return CopyResult(selected.height)
    count = formulas = 0
    notes = [c for c in sheet.columns if is_note(c)]
    with atomic_text(out) as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(sheet.columns)
        if rows:
            for number, cells in sheet.iter_rows(raw=True):
                if number in rows:
                    writer.writerow(
                        ["" if cells.get(c) is None else cells.get(c) for c in sheet.columns]
                    )
                    count += 1
                    for column in notes:
                        value = cells.get(column)
                        if isinstance(value, str) and value.startswith(FORMULA_STARTS):
                            formulas += 1
    return CopyResult(count, formulas)
