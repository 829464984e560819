"""A frame of rows judged column by column: the rows every rule passes, found with polars
expressions over whole columns; every other row goes to :class:`~.row.RowValidator`, which
finds its problems in its own words.

A column-wise rule only ever *accepts* a cell that the per-row path accepts, with the very value
the per-row path gives it; anything it is not sure of (a cell it cannot judge, a rule that spans
cells, a row that needs a closer look) sends the row to the per-row path.  So the messages, the
row numbers and their order are the per-row path's, whichever path judged a row.

Two kinds of column-wise rule:

* an expression for a column of many distinct texts: ids, names, descriptions, ISO 8601 times
  in their canonical form (the value is the text itself);
* every other column is judged by its distinct texts: each distinct cell text of a frame goes
  through the column's :class:`~.cells.ColumnConverter` once (its cache remembers it for the next
  frame), and the rows holding a text that breaks a rule go to the per-row path.  Time windows,
  day lists, numbers, booleans, time zones and statuses repeat row after row, so this is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from bulkpatch.core.columns import FULL_REPLACEMENT_OBJECTS
from bulkpatch.sheet import UNNAMED
from bulkpatch.validation.cells import ColumnConverter
from bulkpatch.validation.row import RowValidator

_ID = r"^[A-Za-z0-9_-]{1,128}$"
#: The canonical ISO 8601 form pydantic writes back unchanged (``+00:00`` it writes as ``Z``).
_INSTANT = (
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:"
    r"[0-5][0-9](?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])$"
)
_START = "allowed_schedule.allowed_start_time"
_END = "allowed_schedule.allowed_end_time"


def _name_rule(cell: pl.Expr) -> pl.Expr:
    return cell.str.contains(r"^[A-Za-z0-9 _-]{1,50}$")


def _description_rule(cell: pl.Expr) -> pl.Expr:
    return cell.str.len_chars() <= 150


def _instant_rule(cell: pl.Expr) -> pl.Expr:
    day = cell.str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    return (
        cell.str.contains(_INSTANT)
        & ~cell.str.ends_with("+00:00")
        & ~cell.str.ends_with("-00:00")
        & ~cell.str.starts_with("0000")
        & day.is_not_null()
    )


#: Change columns judged by an expression (the value is the cell's text).
_EXPRESSION_RULES = {
    "name": _name_rule,
    "description": _description_rule,
    "end_timestamp": _instant_rule,
}


@dataclass(frozen=True, slots=True)
class _Column:
    """One change or ``expect.`` column: where it is in the frame and how it is judged."""

    #: The key of the change (its path) or of the guard (``expect.`` removed).
    path: str
    index: int
    converter: ColumnConverter
    #: True: judged by an expression, and the value is the text; False: by distinct texts.
    textual: bool


class FrameValidator:
    """Judges frames of one sheet (as :meth:`~bulkpatch.sheet.Sheet.iter_frames` yields them).

    ``keys`` are the names of the frame's columns in order (the sheet's columns, and
    :data:`~bulkpatch.sheet.UNNAMED` for the folded unnamed ones), as the per-row cells use them.
    """

    def __init__(self, rows: RowValidator, keys: Sequence[str], *, no_read: bool = False) -> None:
        self.rows = rows
        self.keys = tuple(keys)
        at = {name: i for i, name in enumerate(self.keys)}  # a repeated name: the last, as cells
        self._names = [f"c{i}" for i in range(len(self.keys))]
        header = rows.header
        self._unnamed = at.get(UNNAMED)
        self._key_at = {c: at[c] for c in rows._key_columns}
        self._defaults = rows._defaults
        #: A key with neither a column nor a default: no row can be judged here.
        self._keyless = any(v is None for v in rows._key_fixed.values())
        self.changes = [
            _Column(path, at[path], conv, path in _EXPRESSION_RULES)
            for path, conv, _ in rows._changes
        ]
        self.expects = [
            _Column(path, at[column], conv, False) for column, path, conv in rows._expects
        ]
        self._overlapping = [(at[a], at[b]) for a, b in rows._overlapping]
        self._window = (at[_START], at[_END]) if _START in at and _END in at else None
        self._schedule = (
            at.get("allowed_schedule") if "allowed_schedule" in header.changes else None
        )
        # With --no-read, a row that sets a part of an object, a whole object, or a guard gets
        # the per-row path (which finds its --no-read problems).
        self._closer: list[int] = []
        if no_read:
            self._closer = [c.index for c in self.expects] + [
                c.index for c in self.changes if "." in c.path or c.path in FULL_REPLACEMENT_OBJECTS
            ]

    # -- judging ---------------------------------------------------------------------------

    def named(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The frame with its columns named by position (``c0``, ``c1``, ...)."""
        renamed = frame.clone()
        renamed.columns = self._names
        return renamed

    def judge(self, frame: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
        """``(blank, ok)`` per row of a :meth:`named` frame: every cell empty; every rule passed
        (the row needs no per-row look)."""
        blank = pl.all_horizontal([pl.col(n).is_null() for n in self._names])
        if self._keyless:
            judged = frame.select(blank.alias("blank"), pl.lit(False).alias("ok"))
        else:
            judged = frame.select(blank.alias("blank"), self._ok(frame).alias("ok"))
        return judged.get_column("blank"), judged.get_column("ok")

    def _ok(self, frame: pl.DataFrame) -> pl.Expr:
        parts: list[pl.Expr] = [self._ids_ok()]
        if self._unnamed is not None:
            parts.append(self._cell(self._unnamed).is_null())
        for column in (*self.changes, *self.expects):
            cell = self._cell(column.index)
            parts.append(cell.is_null() | self._passes(frame, column, cell))
        if self.changes:
            parts.append(
                pl.any_horizontal([self._cell(c.index).is_not_null() for c in self.changes])
            )
        for a, b in self._overlapping:
            parts.append(self._cell(a).is_null() | self._cell(b).is_null())
        if self._window is not None:
            start, end = (self._cell(i) for i in self._window)
            parts.append(start.is_null() | end.is_null() | (start < end))
        if self._schedule is not None:
            parts.append(self._cell(self._schedule).is_null())
        parts.extend(self._cell(i).is_null() for i in self._closer)
        return pl.all_horizontal(parts).fill_null(False)

    def _cell(self, index: int) -> pl.Expr:
        return pl.col(self._names[index])

    def _ids_ok(self) -> pl.Expr:
        parts: list[pl.Expr] = []
        for column, index in self._key_at.items():
            cell = self._cell(index)
            valid = cell.str.contains(_ID)
            parts.append(valid | cell.is_null() if self._defaults[column] is not None else valid)
        return pl.all_horizontal(parts) if parts else pl.lit(True)

    def _passes(self, frame: pl.DataFrame, column: _Column, cell: pl.Expr) -> pl.Expr:
        if column.textual:
            return _EXPRESSION_RULES[column.path](cell)
        texts = frame.get_column(self._names[column.index]).drop_nulls().unique()
        convert = column.converter
        bad = [text for text in texts.to_list() if convert(text)[1]]
        if not bad:
            return pl.lit(True)
        return ~cell.is_in(pl.Series(bad, dtype=pl.String))

    # -- values of the rows judged here ----------------------------------------------------

    def ids(self, frame: pl.DataFrame) -> list[pl.Series]:
        """The ``(org_id, workspace_id, campaign_id)`` columns, defaults filled in."""
        out: list[pl.Series] = []
        for column in ("org_id", "workspace_id", "campaign_id"):
            index = self._key_at.get(column)
            default = self._defaults[column]
            if index is None:
                out.append(pl.Series(column, [default] * frame.height, dtype=pl.String))
                continue
            series = frame.get_column(self._names[index]).alias(column)
            out.append(series.fill_null(default) if default is not None else series)
        return out

    def values(
        self, frame: pl.DataFrame, picked: Sequence[int], columns: Sequence[_Column]
    ) -> list[dict[str, Any]]:
        """For the rows ``picked`` (judged here): each row's values of ``columns`` (path ->
        value; empty cells left out), in column order."""
        out: list[dict[str, Any]] = [{} for _ in picked]
        for column in columns:
            cells = frame.get_column(self._names[column.index]).gather(list(picked)).to_list()
            convert = column.converter
            for values, cell in zip(out, cells, strict=True):
                if cell is not None:
                    values[column.path] = cell if column.textual else convert(cell)[0]
        return out

    def cells(self, frame: pl.DataFrame, index: int) -> dict[str, Any]:
        """One row's cells, as :meth:`~bulkpatch.sheet.Sheet.iter_rows` gives them."""
        return dict(zip(self.keys, frame.row(index), strict=True))
