"""What the one pass of :func:`~.sheetcheck.check_sheet` has found so far, whichever path judged
the rows (column by column, or row by row): problems, invalid rows, blank rows, the campaign keys
(repeated campaigns are found from them once every row is read), ``--no-read`` reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from bulkpatch.core.rows import CampaignKey, Problem, RowChange
from bulkpatch.core.text import shorten
from bulkpatch.validation.noread import no_read_problems
from bulkpatch.validation.words import format_rows

#: ``--no-read`` problems kept at most (all are counted).
NO_READ_KEPT = 50
#: Rows of campaign keys gathered before they are packed into a frame.
_KEY_CHUNK = 50_000
_KEY_NAMES = ("row", "org_id", "workspace_id", "campaign_id")
_SEED = 17

Ids = tuple[str, str, str]


def duplicate_rule(key: CampaignKey, rows: Sequence[int]) -> str:
    where = "row" if len(rows) == 1 else "rows"
    return (
        f"the same campaign ({key}) is also in {where} {format_rows(rows)}: "
        "each campaign may appear once in a sheet"
    )


@dataclass(slots=True)
class Found:
    """Everything the pass has found so far."""

    no_read: bool
    collect_keys: bool
    problems: list[Problem] = field(default_factory=list)
    invalid: set[int] = field(default_factory=set)
    blank: set[int] = field(default_factory=set)
    keys: list[tuple[CampaignKey, dict[str, Any]]] = field(default_factory=list)
    rows: int = 0
    shard_rows: int = 0
    #: The row expected next: one after the last row that is not blank.
    expected: int = 1
    no_read_kept: list[Problem] = field(default_factory=list)
    no_read_count: int = 0
    no_read_rows: set[int] = field(default_factory=set)
    #: Rows with valid ids, and those ids: packed into frames (cheap for a million rows).
    key_frames: list[pl.DataFrame] = field(default_factory=list)
    _key_rows: list[tuple[int, str, str, str]] = field(default_factory=list)

    def campaign(
        self,
        row: int,
        ids: Ids,
        valid: bool,
        changes: Any,
        expects: dict[str, Any],
        *,
        collect: bool = True,
    ) -> None:
        """A row with valid ids, judged row by row: its key, its ``--no-read`` problems.
        ``collect=False``: the caller collects its key itself (in sheet order)."""
        if self.collect_keys and collect:
            self.keys.append((CampaignKey(*ids), expects))
        if self.no_read and valid:
            self._no_read(RowChange(row, CampaignKey(*ids), changes, expects))
        self._key_rows.append((row, *ids))
        if len(self._key_rows) >= _KEY_CHUNK:
            self.flush_keys()

    def flush_keys(self) -> None:
        if self._key_rows:
            self.add_keys(pl.DataFrame(self._key_rows, schema=_KEY_NAMES, orient="row"))
            self._key_rows = []

    def add_keys(self, frame: pl.DataFrame) -> None:
        """Rows with valid ids: a frame of ``row, org_id, workspace_id, campaign_id``."""
        hashed = frame.select(*_KEY_NAMES[1:]).hash_rows(seed=_SEED)
        self.key_frames.append(frame.with_columns(hashed.alias("hash")))

    def _no_read(self, change: RowChange) -> None:
        reasons = no_read_problems(change)
        if reasons:
            self.no_read_count += len(reasons)
            self.no_read_rows.add(change.row)
            room = NO_READ_KEPT - len(self.no_read_kept)
            if room > 0:
                self.no_read_kept.extend(reasons[:room])

    def skip_blanks(self, row: int) -> None:
        """Row ``row`` is the next row that is not blank: those before it are."""
        if row != self.expected:
            self.blank.update(range(self.expected, row))
        self.expected = row + 1

    def finish(self) -> None:
        """Every row is read: the repeated campaigns, then every problem in row order (a row's
        own problems before its repetition)."""
        self.flush_keys()
        if self.key_frames:
            self._repeats(self._repeated().iter_rows())
        self.problems.sort(key=lambda p: p.row)

    def _repeated(self) -> pl.DataFrame:
        """The rows whose campaign is repeated, in row order: those whose keys hash alike, then
        compared in full (a million keys are compared by their hashes alone first)."""
        frames, self.key_frames = self.key_frames, []
        # Sorted, equal hashes are neighbours: far less memory than a hash table of a million.
        hashes = pl.concat([f.get_column("hash") for f in frames], rechunk=True).sort()
        alike = hashes.filter(hashes == hashes.shift(1)).unique()
        del hashes
        found = pl.concat([f.filter(pl.col("hash").is_in(alike)) for f in frames])
        return (
            found.select(_KEY_NAMES).filter(pl.struct(_KEY_NAMES[1:]).is_duplicated()).sort("row")
        )

    def _repeats(self, rows: Any) -> None:
        first_of: dict[Ids, int] = {}
        later_of: dict[int, list[int]] = {}
        key_of: dict[int, CampaignKey] = {}
        for row, *ids in rows:
            first = first_of.setdefault((ids[0], ids[1], ids[2]), row)
            if first == row:
                continue
            key = CampaignKey(*ids)
            self.problems.append(
                Problem(row, "campaign_id", shorten(key.campaign_id), duplicate_rule(key, [first]))
            )
            self.invalid.update((row, first))
            later_of.setdefault(first, []).append(row)
            key_of.setdefault(first, key)
        for first, later in later_of.items():
            key = key_of[first]
            self.problems.append(
                Problem(first, "campaign_id", shorten(key.campaign_id), duplicate_rule(key, later))
            )
