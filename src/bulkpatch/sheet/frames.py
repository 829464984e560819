"""A polars frame of text cells as a sheet's rows (shared by the CSV and Excel readers)."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from bulkpatch.sheet.base import UNNAMED, Cells, Sheet

_FOLDED = "\x00unnamed"


def clean_text(name: str) -> pl.Expr:
    """A text column trimmed, an empty cell None."""
    trimmed = pl.col(name).str.strip_chars()
    return pl.when(trimmed.str.len_bytes() == 0).then(None).otherwise(trimmed).alias(name)


def shape(frame: pl.DataFrame, named: int, raw: bool) -> pl.DataFrame:
    """Cells trimmed (unless raw); trailing unnamed columns folded into one (the first value)."""
    names = frame.columns
    exprs = [pl.col(n) if raw else clean_text(n) for n in names[:named]]
    extra = names[named:]
    if extra:
        cleaned = [pl.col(n) if raw else clean_text(n) for n in extra]
        exprs.append(pl.coalesce(cleaned).alias(_FOLDED))
    return frame.select(exprs)


def keys_of(sheet: Sheet) -> tuple[str, ...]:
    """The keys of a row's cells: the columns, and :data:`UNNAMED` if the sheet has such."""
    return sheet.columns + ((UNNAMED,) if sheet.unnamed_columns else ())


def frame_rows(
    frame: pl.DataFrame, keys: tuple[str, ...], start: int, batch_size: int, raw: bool
) -> Iterator[tuple[int, Cells]]:
    """``(row_number, cells)`` for a shaped frame, numbered from ``start``; blank rows skipped
    unless raw."""
    width = len(keys)
    row = start - 1
    for offset in range(0, frame.height, batch_size):
        part = frame.slice(offset, batch_size)
        values = [series.to_list() for series in part.get_columns()]
        del part
        for cells in zip(*values, strict=False):
            row += 1
            if not raw and cells.count(None) == width:
                continue  # a blank row
            yield row, dict(zip(keys, cells, strict=False))
