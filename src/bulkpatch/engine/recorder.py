"""One owner for what a finished row leaves behind: the journal's ``done`` (or ``unsettled``)
line, the results file in sheet order, the retry rows, the outcome counts, the reason groups and
the events.

Every row passes through :meth:`Recorder.record` exactly once, so outcomes are counted once.
Its ``done`` line is written at once (in the journal's batch) and its ``RowFinished`` event
follows the batch's flush: an outcome a person or a hook sees is in the journal first.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio

from bulkpatch.core.events import EventSink, RowFinished
from bulkpatch.core.results import FieldChange, RowResult, done_record, report_row
from bulkpatch.core.summary import ReasonGroup, reason_group
from bulkpatch.engine.stats import RunStats
from bulkpatch.rundir.files import OrderedResults
from bulkpatch.rundir.journal import JournalWriter

#: Plan rows kept for ``plan.html`` (the first ones in sheet order; all are in ``plan.csv``).
PAGE_ROWS = 10_000


def describe_changes(changes: Iterable[FieldChange], limit: int = 80) -> str:
    """``path: old -> new; ...`` as a person reads it in a plan."""
    return "; ".join(
        f"{c.path}: {show_value(c.old, limit)} -> {show_value(c.new, limit)}" for c in changes
    )


def show_value(value: Any, limit: int = 80) -> str:
    """A value as a person reads it: lists of words joined, the rest as JSON."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        text = ",".join(str(v) for v in value)
    else:
        text = json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(eq=False, kw_only=True)
class Recorder:
    """One owner for what a finished row leaves behind (see the module's docstring)."""

    results: OrderedResults
    stats: RunStats
    journal: JournalWriter | None
    on_event: EventSink
    plan_mode: bool = False
    #: Rows that did not end updated / unchanged (for retry.csv).
    retry_rows: set[int] = field(default_factory=set, init=False)
    groups: Counter[ReasonGroup] = field(default_factory=Counter, init=False)
    #: In plan mode: the first PAGE_ROWS rows, as (-row, record) in a heap.
    _page: list[tuple[int, dict[str, Any]]] = field(default_factory=list, init=False)
    #: Rows recorded whose ``done`` lines wait for the journal's batch flush to be reported.
    _unreported: list[RowResult] = field(default_factory=list, init=False)
    #: Set when a row waits to be reported, while :meth:`report_rows` runs.
    _wake: anyio.Event | None = field(default=None, init=False)

    def record(self, result: RowResult, *, fresh: bool = True) -> None:
        """A row is finished.  ``fresh``: it finished in this session (else it was kept from an
        earlier one, or cut off in flight, or its PATCH outcome stayed unknown, and gets no new
        ``done`` line)."""
        record = report_row(result)
        if self.journal is not None and (fresh or not result.settled):
            # A row whose PATCH may have landed gets no ``done`` line (``resume`` reads it back
            # first), but the journal keeps what this session reported of it.
            kind = "done" if result.settled else "unsettled"
            self.journal.write(kind, flush=False, **done_record(result))
        if self.plan_mode:
            record["changes"] = describe_changes(result.changes)
            self._keep_for_page(result, record)
        self.results.add(result.row, record)
        outcome = result.outcome
        if not outcome.ok:
            self.retry_rows.add(result.row)
            self.groups[reason_group(outcome.value, result.reason)] += 1
        self.stats.record_outcome(outcome)
        if self._wake is None:
            if self.journal is not None:
                self.journal.flush()
            self.on_event(RowFinished(result))
            return
        # Reported once its line is with the operating system: a crash loses no outcome shown.
        self._unreported.append(result)
        self._wake.set()

    async def report_rows(self) -> None:
        """Beside the pool: report the rows recorded, a batch at a time, once the journal's
        flush (shared with the batch's ``sent`` lines) has handed their ``done`` lines to the
        operating system."""
        try:
            while True:
                self._wake = wake = anyio.Event()
                await wake.wait()
                if self.journal is not None:
                    await self.journal.flushed()
                self.report_pending()
        finally:
            self._wake = None

    def report_pending(self) -> None:
        """Report the rows still waiting (their lines flushed first)."""
        rows, self._unreported = self._unreported, []
        if rows and self.journal is not None:
            self.journal.flush()
        for result in rows:
            self.on_event(RowFinished(result))

    def skip(self, row: int) -> None:
        """A row of another shard: no line in this shard's reports."""
        self.results.add(row, None)

    def _keep_for_page(self, result: RowResult, record: dict[str, Any]) -> None:
        entry = {
            **record,
            "changes": [[c.path, c.old, c.new] for c in result.changes],
        }
        if len(self._page) < PAGE_ROWS:
            heapq.heappush(self._page, (-result.row, entry))
        elif -self._page[0][0] > result.row:
            heapq.heapreplace(self._page, (-result.row, entry))

    def page_rows(self) -> list[dict[str, Any]]:
        """The plan rows kept for the page, in sheet order."""
        return [entry for _, entry in sorted(self._page, key=lambda item: -item[0])]
