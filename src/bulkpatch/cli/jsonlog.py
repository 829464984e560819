"""``--log-format json``: the events of a run, one JSON object a line on stderr, for a log
collector (the rows themselves are in results.csv).  ``--json`` still prints the summary on
stdout."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bulkpatch.core.events import Event, Notice, Progress, RowFinished, RunFinished, RunStarted
from bulkpatch.core.text import shorten

if TYPE_CHECKING:
    from bulkpatch.cli.screen import Screen


class JsonLog:
    """``--log-format json``: one JSON object a line on stderr per event (rows excepted)."""

    def __init__(self, stream: TextIO, out: Screen, *, json_out: bool) -> None:
        self.stream = stream
        self.out = out
        self.json_out = json_out
        self.run_dir: Path | None = None

    def _emit(self, kind: str, **fields: Any) -> None:
        line = {"event": kind, "time": round(time.time(), 3), **fields}
        self.stream.write(json.dumps(line, default=str, ensure_ascii=False) + "\n")
        self.stream.flush()

    def __call__(self, event: Event) -> None:
        if isinstance(event, RowFinished):
            return
        if isinstance(event, RunStarted):
            self.run_dir = event.run_dir
            self._emit(
                "start",
                run_dir=str(event.run_dir),
                mode=event.mode,
                rows=event.rows,
                resumed=event.resumed,
                target_rate=event.target_rate,
                estimate=event.estimate,
            )
        elif isinstance(event, Progress):
            self._emit(
                "progress",
                done=event.done,
                total=event.total,
                outcomes=dict(event.counts),
                achieved_rate=round(event.achieved_rate, 2),
                target_rate=event.target_rate,
                breaker_open=event.breaker_open,
            )
        elif isinstance(event, Notice):
            self._emit("notice", level=event.level, code=event.code, text=shorten(event.text, 2000))
        elif isinstance(event, RunFinished):
            summary = event.summary
            self._emit(
                "finish",
                run_dir=str(summary.run_dir),
                exit_code=summary.exit_code,
                outcomes=dict(summary.outcomes),
                left_paused=dict(summary.left_paused),
                paused_by_earlier_runs=dict(summary.earlier_paused),
                next_steps=[s.as_dict() for s in summary.next_steps],
            )
            if self.json_out:
                self.out.print_json(json.dumps(summary.data, default=str))

    def error(self, exit_code: int, message: str, problems: Sequence[str] = ()) -> None:
        """The error that ends the command, as one JSON line (for log collectors)."""
        fields: dict[str, Any] = {"exit_code": exit_code, "message": shorten(message, 2000)}
        if problems:
            fields["problems"] = [shorten(p, 500) for p in problems]
        if self.run_dir is not None:
            fields["run_dir"] = str(self.run_dir)
        self._emit("error", **fields)

    def stop(self) -> None:
        pass
