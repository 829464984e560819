"""Showing a long run as it goes: a rich progress bar on a terminal, a line every 10 s otherwise.

Everything goes to stderr, so ``--json`` keeps stdout for the summary alone.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bulkpatch.outcomes import Outcome

LINE_EVERY = 10.0
_SHORT = {
    Outcome.UPDATED: "upd",
    Outcome.UNCHANGED: "same",
    Outcome.SKIPPED: "skip",
    Outcome.INVALID: "inv",
    Outcome.REJECTED: "rej",
    Outcome.FAILED: "fail",
    Outcome.NOT_ATTEMPTED: "n/a",
}


def outcome_line(counts: Counter[str]) -> str:
    return " ".join(f"{_SHORT[o]} {counts[str(o)]}" for o in Outcome if counts.get(str(o)))


class RunProgress:
    """Rows done / total, outcomes so far, the current rate, ETA."""

    def __init__(
        self,
        *,
        total: int,
        console: Console,
        quiet: bool,
        rate_source: Callable[[], str],
        label: str = "applying",
    ) -> None:
        self.total = total
        self._console = console
        self._quiet = quiet
        self._rate_source = rate_source
        self._label = label
        self.counts: Counter[str] = Counter()
        self.done = 0
        self._started = time.monotonic()
        self._last_line = self._started
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> RunProgress:
        if not self._quiet and self._console.is_terminal:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[outcomes]}"),
                TextColumn("[cyan]{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self._console,
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self._label, total=self.total, outcomes="", rate="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._refresh()
            self._bar.__exit__(None, None, None)
            self._bar = None

    def advance(self, outcome: Outcome) -> None:
        self.done += 1
        self.counts[str(outcome)] += 1
        if self._bar is not None and (self.done % 25 == 0 or self.done == self.total):
            self._refresh()

    def _refresh(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task,
                completed=self.done,
                outcomes=outcome_line(self.counts),
                rate=self._rate_source(),
            )

    def tick(self) -> None:
        """Called about once a second: refresh the bar, or print a line every 10 s."""
        if self._quiet:
            return
        if self._bar is not None:
            self._refresh()
            return
        now = time.monotonic()
        if now - self._last_line >= LINE_EVERY:
            self._last_line = now
            elapsed = now - self._started
            speed = self.done / elapsed if elapsed > 0 else 0.0
            left = (self.total - self.done) / speed if speed > 0 else float("nan")
            eta = f"{left:.0f} s" if left == left else "?"
            self._console.print(
                f"{self._label}: {self.done}/{self.total} rows  {outcome_line(self.counts)}  "
                f"{self._rate_source()}  ETA {eta}",
                highlight=False,
            )
