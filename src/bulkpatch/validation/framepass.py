"""The sheet read as frames (CSV, ``.xlsx``): each frame judged column by column
(:class:`~.columnar.FrameValidator`), the rows it cannot accept judged row by row; then the run's
streaming pass, which reuses that judgement (:class:`Reuse`) instead of validating again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from bulkpatch.core.rows import CampaignKey, Problem, RowChange, RowVerdict
from bulkpatch.sheet import Sheet
from bulkpatch.validation.columnar import FrameValidator
from bulkpatch.validation.found import Found, Ids

Holds = Callable[[CampaignKey | None], bool]


@dataclass(slots=True)
class Reuse:
    """What the check's pass keeps for the run's streaming pass, so that no row is validated
    twice: the validator (its converters remember the distinct cells), the rows judged row by row
    that are valid (their values), and the invalid rows' ids and own problem counts.  The rows
    judged column by column are all the others: their values are read again from the sheet."""

    validator: FrameValidator
    examined: dict[int, tuple[Ids | None, dict[str, Any], dict[str, Any]]] = field(
        default_factory=dict
    )
    invalid: dict[int, tuple[Ids | None, int]] = field(default_factory=dict)


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
            if problems:
                self.reuse.invalid[row] = (ids, len(problems))
            else:
                self.reuse.examined[row] = (ids, changes, expects)


def reused_verdicts(
    sheet: Sheet,
    problems_of: Callable[[int], list[Problem]],
    invalid_rows: frozenset[int],
    reuse: Reuse,
    batch_size: int,
) -> Iterator[RowVerdict]:
    """The streaming pass after a check that kept its judgement: every row's verdict, in order,
    without validating any row again."""
    fv = reuse.validator
    for start, raw in sheet.iter_frames(batch_size):
        frame = fv.named(raw)
        nonblank = (~_blank(frame)).arg_true().to_list()
        judged = [
            i
            for i in nonblank
            if (row := start + i) not in reuse.invalid and row not in reuse.examined
        ]
        ids = [series.gather(judged).to_list() for series in fv.ids(frame)]
        changes = fv.values(frame, judged, fv.changes)
        expects = fv.values(frame, judged, fv.expects)
        values = iter(zip(*ids, changes, expects, strict=True))
        for index in nonblank:
            row = start + index
            own = reuse.invalid.get(row)
            if own is not None:
                yield _invalid(row, problems_of(row), *own)
                continue
            kept = reuse.examined.get(row)
            if kept is not None:
                if row in invalid_rows:  # a campaign repeated
                    yield _invalid(row, problems_of(row), kept[0], 0)
                else:
                    yield _verdict(row, *kept)
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
