"""The sheet read as frames (CSV, ``.xlsx``): each frame judged column by column
(:class:`~.columnar.FrameValidator`), the rows it cannot accept judged row by row; then the run's
streaming pass, which reuses that judgement (:class:`Reuse`) instead of validating again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl

from bulkpatch.core.rows import CampaignKey, Problem, RowChange, RowVerdict
from bulkpatch.sheet import Sheet
from bulkpatch.validation.columnar import FrameValidator
from bulkpatch.validation.found import Found, Ids
from bulkpatch.validation.spill import Spill

Holds = Callable[[CampaignKey | None], bool]


#: What the check kept of a row it judged row by row: ``(row, ids, own problems counted,
#: changes, expects)`` (no values for an invalid row).
Looked = tuple[int, Ids | None, int, dict[str, Any] | None, dict[str, Any] | None]
#: Rows of a frame the streaming pass turns into Python values at a time: a run holds about this
#: many rows' values, however many rows a frame (and the sheet) has.
STREAM_ROWS = 2048


@dataclass(slots=True)
class Reuse:
    """What the check's pass keeps for the run's streaming pass, so that no row is validated
    twice: the validator (its converters remember the distinct cells), and the rows judged row by
    row (:data:`Looked`), in row order on disk (:class:`~.spill.Spill`), so that nothing is held
    per row.  The rows judged column by column are all the others: their values are read again
    from the sheet."""

    validator: FrameValidator
    looked: Spill


def _blank(frame: pl.DataFrame) -> pl.Series:
    return frame.select(pl.all_horizontal(pl.all().is_null())).to_series()


@dataclass(slots=True)
class FramePass:
    """The check's pass over frames: what it finds goes into ``found``."""

    validator: FrameValidator
    found: Found
    holds: Holds | None = None
    reuse: Reuse | None = None

    def frame(self, start: int, raw: pl.DataFrame) -> None:
        """Judge one frame whose first row is number ``start``."""
        fv, found = self.validator, self.found
        frame = fv.named(raw)
        blank, ok = fv.judge(frame)
        nonblank = (~blank).arg_true()
        if nonblank.len() == 0:
            return
        last = start + int(nonblank[-1])
        found.blank.update(range(found.expected, start))
        found.blank.update(n for i in blank.arg_true().to_list() if (n := start + i) < last)
        found.expected = last + 1
        found.rows += nonblank.len()
        picked = ok.arg_true()
        ids = [series.gather(picked) for series in fv.ids(frame)]
        rows = (picked.cast(pl.Int64) + start).alias("row")
        found.add_keys(pl.DataFrame([rows, *ids]))
        collected: list[tuple[int, CampaignKey, dict[str, Any]]] = []
        if found.collect_keys or self.holds is not None:
            collected = self._keys(frame, picked, rows, ids)
        looked = (~ok & ~blank).arg_true().to_list()
        for index in looked:
            self._look(start + index, fv.cells(frame, index), collected)
        if found.collect_keys:
            collected.sort(key=lambda entry: entry[0])
            found.keys.extend((key, expects) for _, key, expects in collected)

    def _keys(
        self,
        frame: pl.DataFrame,
        picked: pl.Series,
        rows: pl.Series,
        ids: list[pl.Series],
    ) -> list[tuple[int, CampaignKey, dict[str, Any]]]:
        fv, found = self.validator, self.found
        keys = [CampaignKey(*key) for key in zip(*(s.to_list() for s in ids), strict=True)]
        if self.holds is not None:
            found.shard_rows += sum(1 for key in keys if self.holds(key))
        if not found.collect_keys:
            return []
        expects = fv.values(frame, picked.to_list(), fv.expects)
        return list(zip(rows.to_list(), keys, expects, strict=True))

    def _look(
        self, row: int, cells: dict[str, Any], collected: list[tuple[int, CampaignKey, Any]]
    ) -> None:
        """One row judged row by row, as :func:`~.sheetcheck.check_sheet` always did."""
        found = self.found
        ids, problems, changes, expects = self.validator.rows.examine(row, cells)
        if self.holds is not None and self.holds(CampaignKey(*ids) if ids is not None else None):
            found.shard_rows += 1
        if problems:
            found.problems.extend(problems)
            found.invalid.add(row)
        if ids is not None:
            found.campaign(row, ids, not problems, changes, expects, collect=False)
            if found.collect_keys:
                collected.append((row, CampaignKey(*ids), expects))
        if self.reuse is not None:
            kept = (None, None) if problems else (changes, expects)
            self.reuse.looked.add((row, ids, len(problems), *kept))


def reused_verdicts(
    sheet: Sheet,
    problems_of: Callable[[int], list[Problem]],
    invalid_rows: frozenset[int],
    reuse: Reuse,
    batch_size: int,
) -> Iterator[RowVerdict]:
    """The streaming pass after a check that kept its judgement: every row's verdict, in order,
    without validating any row again.  The sheet is read in lean frames, whose rows become Python
    values :data:`STREAM_ROWS` at a time."""
    fv = reuse.validator
    looked = _Upcoming(iter(reuse.looked))
    for start, raw in sheet.iter_frames(batch_size, lean=True):
        frame = fv.named(raw)
        del raw
        for offset in range(0, frame.height, STREAM_ROWS):
            part = frame.slice(offset, STREAM_ROWS)
            first = start + offset
            kept = looked.before(first + part.height)
            yield from _part_verdicts(fv, part, first, kept, problems_of, invalid_rows)


class _Upcoming:
    """The check's :data:`Looked` rows, handed out a part of the sheet at a time."""

    __slots__ = ("_next", "_records")

    def __init__(self, records: Iterator[Looked]) -> None:
        self._records = records
        self._next = next(records, None)

    def before(self, end: int) -> dict[int, Looked]:
        """The records of the rows before row ``end`` not handed out yet."""
        out: dict[int, Looked] = {}
        while self._next is not None and self._next[0] < end:
            out[self._next[0]] = self._next
            self._next = next(self._records, None)
        return out


def _part_verdicts(
    fv: FrameValidator,
    part: pl.DataFrame,
    first: int,
    kept: dict[int, Looked],
    problems_of: Callable[[int], list[Problem]],
    invalid_rows: frozenset[int],
) -> Iterator[RowVerdict]:
    """The verdicts of a part of a frame whose first row is number ``first``."""
    nonblank = (~_blank(part)).arg_true().to_list()
    judged = [i for i in nonblank if first + i not in kept]
    ids = [series.gather(judged).to_list() for series in fv.ids(part)]
    changes = fv.values(part, judged, fv.changes)
    expects = fv.values(part, judged, fv.expects)
    values = iter(zip(*ids, changes, expects, strict=True))
    for index in nonblank:
        row = first + index
        record = kept.get(row)
        if record is not None:
            _, own_ids, own, changed, expected = record
            if own or row in invalid_rows:  # its own problems, or a campaign repeated
                yield _invalid(row, problems_of(row), own_ids, own)
            else:
                assert changed is not None
                assert expected is not None
                yield _verdict(row, own_ids, changed, expected)
            continue
        org, workspace, campaign, changed, expected = next(values)
        if row in invalid_rows:  # a campaign repeated: the rows' own cells are valid
            yield _invalid(row, problems_of(row), (org, workspace, campaign), 0)
            continue
        yield _verdict(row, (org, workspace, campaign), changed, expected)


def _verdict(
    row: int, ids: Ids | None, changes: dict[str, Any], expects: dict[str, Any]
) -> RowVerdict:
    if ids is None:  # no key and no problem: the header lacks a key column (a sheet problem)
        return RowVerdict(row=row, key=None, change=None)
    key = CampaignKey(*ids)
    return RowVerdict(row=row, key=key, change=RowChange(row, key, changes, expects))


def _invalid(row: int, problems: list[Problem], ids: Ids | None, own: int) -> RowVerdict:
    """An invalid row: its ``own`` problems when it has some, else the sheet's (a repeat)."""
    shown = tuple(problems[:own]) if own else tuple(problems)
    if not shown:
        shown = (Problem(row, "", "", "marked invalid by the sheet check"),)
    key = CampaignKey(*ids) if ids is not None else None
    return RowVerdict(row=row, key=key, change=None, problems=shown)
