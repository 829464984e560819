"""What a person sees of ``export`` and ``verify``: a progress bar (a line every 10 s without a
terminal), notices as they come, and a few closing lines.  ``--json`` prints the summary as JSON
on stdout; ``--log-format json`` uses :class:`~bulkpatch.cli.jsonlog.JsonLog` instead.

Text from the API is printed literally, never as rich markup.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar
from rich.text import Text

from bulkpatch.cli.display import LINE_EVERY, pick_display, rate_text
from bulkpatch.cli.jsonlog import JsonLog
from bulkpatch.cli.screen import PlainConsole
from bulkpatch.core.events import Event, Notice, Progress, RunFinished, RunStarted
from bulkpatch.core.summary import RunSummary
from bulkpatch.core.text import printable

if TYPE_CHECKING:
    from bulkpatch.cli.screen import Screen

_STYLE = {"info": "", "warning": "yellow", "error": "red"}


@dataclass(eq=False)
class ReadDisplay:
    err: Screen
    out: Screen
    quiet: bool = field(kw_only=True)
    json_out: bool = field(kw_only=True)
    label: str = field(kw_only=True)
    closing: Callable[[RunSummary], list[str]] = field(kw_only=True)
    #: Never a run directory to resume (the signal handler asks).
    run_dir: Path | None = field(default=None, init=False)
    _bar: Bar | None = field(default=None, init=False)
    _task: TaskID | None = field(default=None, init=False)
    _last_line: float = field(default_factory=time.monotonic, init=False)

    def __call__(self, event: Event) -> None:
        if isinstance(event, Notice):
            if not (self.quiet and event.level == "info"):
                self.err.print(Text(printable(event.text), style=_STYLE[event.level]))
        elif isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, RunStarted):
            self._start()
        elif isinstance(event, RunFinished):
            self.finished(event.summary)

    def _start(self) -> None:
        if self.quiet or isinstance(self.err, PlainConsole) or not self.err.is_terminal:
            return
        self._bar = Bar(
            TextColumn(self.label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}", style="cyan", markup=False),
            TimeElapsedColumn(),
            console=self.err,
        )
        self._bar.start()
        self._task = self._bar.add_task(self.label, total=None, rate="")

    def _progress(self, event: Progress) -> None:
        if self.quiet:
            return
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task,
                completed=event.done,
                total=event.total or None,
                rate=rate_text(event),
            )
            return
        now = time.monotonic()
        if now - self._last_line < LINE_EVERY:
            return
        self._last_line = now
        self.err.print(
            f"{self.label}: {event.done}/{event.total}  {rate_text(event)}",
            highlight=False,
            markup=False,
        )

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def finished(self, summary: RunSummary) -> None:
        self.stop()
        if self.json_out:
            self.out.print_json(json.dumps(dict(summary.data), default=str))
            return
        if self.quiet and summary.exit_code == 0:
            return
        for line in self.closing(summary):
            self.err.print(line, highlight=False, markup=False, soft_wrap=True)


def make_display(
    kwargs: dict[str, Any], *, label: str, closing: Callable[[RunSummary], list[str]]
) -> tuple[ReadDisplay | JsonLog, Screen]:
    """The display from ``--quiet``, ``--json`` and ``--log-format`` (popped from kwargs)."""
    return pick_display(kwargs, functools.partial(ReadDisplay, label=label, closing=closing))


def requests_line(data: Any) -> str:
    requests = data.get("requests") or {}
    return (
        f"requests {requests.get('total', 0):,}; retries {data.get('retries', 0):,}; "
        f"429s {data.get('throttled_429', 0):,}; {data.get('achieved_rate', 0.0):.1f} req/s; "
        f"{data.get('duration_s', 0.0):.1f} s"
    )
