"""Rows whose result changes after it was recorded: a campaign left paused that the run resumed
after all (when it tried again after the last row), or a row whose 403 turned out to be the key's
refusal (it is not the campaign's: the row is ``not_attempted``, and ``resume`` tries it again).

A row is recorded -- its ``done`` line, its line of ``results.csv``, its count -- as soon as it
ends, so that memory stays flat and the journal is current.  If the campaign it left paused is
resumed later in the same session, :class:`Amends` gives the row its true result: a new ``done``
line (the journal's last word for the row), the counts and next steps moved, and its line of the
results file rewritten once the file is complete
(:func:`~bulkpatch.rundir.files.rewrite_results`, only when there is a row to amend).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from bulkpatch.core.results import RowResult, done_record, report_row, resumed_later
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.summary import ReasonGroup, reason_group
from bulkpatch.engine.stats import RunStats


class _Journal(Protocol):
    def write(self, event: str, *, flush: bool = True, **fields: Any) -> bool: ...


class _Recorded(Protocol):
    retry_rows: set[int]

    @property
    def groups(self) -> Any: ...


class Amends:
    """Remembers the rows that left a campaign paused; amends those whose campaign was resumed."""

    def __init__(self) -> None:
        self._left: dict[CampaignKey, RowResult] = {}
        #: row -> its amended line of results.csv (for ``rewrite_results``)
        self.records: dict[int, dict[str, Any]] = {}

    def note(self, result: RowResult, left_paused: Mapping[CampaignKey, Any]) -> None:
        """A row was recorded; keep it if the campaign it names is left paused now."""
        if result.key is not None and result.key in left_paused:
            self._left[result.key] = result

    def resumed(
        self,
        keys: Iterable[CampaignKey],
        *,
        journal: _Journal | None,
        stats: RunStats,
        recorder: _Recorded,
    ) -> None:
        """These campaigns were resumed after their rows were recorded: amend the rows."""
        for key in keys:
            old = self._left.pop(key, None)
            if old is None:
                continue
            new = resumed_later(old)
            if new is not old:
                self.replace(old, new, journal=journal, stats=stats, recorder=recorder)

    def replace(
        self,
        old: RowResult,
        new: RowResult,
        *,
        journal: _Journal | None,
        stats: RunStats,
        recorder: _Recorded,
    ) -> None:
        """Give a recorded row a new result: a new ``done`` line (the journal's last word for
        the row, which ``resume`` follows), the counts and groups moved, the report line kept
        for ``rewrite_results``."""
        groups: dict[ReasonGroup, int] = recorder.groups
        self.records[new.row] = report_row(new)
        if journal is not None:
            journal.write("done", flush=False, **done_record(new))
        stats.outcomes[old.outcome.value] -= 1
        stats.outcomes[new.outcome.value] += 1
        if not old.outcome.ok:
            group = reason_group(old.outcome.value, old.reason)
            groups[group] -= 1
            if groups[group] <= 0:
                del groups[group]
        if new.outcome.ok:
            recorder.retry_rows.discard(new.row)
        else:
            group = reason_group(new.outcome.value, new.reason)
            groups[group] = groups.get(group, 0) + 1
