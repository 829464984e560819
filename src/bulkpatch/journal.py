"""The run's journal: an append-only JSON-lines file that ``resume`` trusts.

Events, one JSON object a line (``"e"`` names the kind):

* ``start``   the sheet (path, sha256), the options, the time
* ``sent``    before every PATCH or PUT: row, campaign, what is sent, the before-values
* ``paused``  this run paused a campaign (so it must resume it)
* ``pause_refused``  a pause that was sent did not happen
* ``resumed`` this run resumed a campaign it paused
* ``done``    a row's outcome (the report row) and the before-values of what it changed
* ``end``     the run finished, with its exit code

Each line is handed to the operating system as soon as it is written (so ``kill -9`` loses
nothing that was written) and the file is fsynced at least once a second (in a thread, so the
event loop never waits on the disk) and at close.  A reader
ignores a last line cut short by a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
import anyio.to_thread

FSYNC_EVERY = 1.0


def _fsync_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):  # closed meanwhile: close() synced it
        os.fsync(fd)


class JournalWriter:
    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file: TextIO = os.fdopen(fd, "a", encoding="utf-8", newline="\n")
        self._dirty = False
        self.path = path
        self._ensure_line_start()

    def _ensure_line_start(self) -> None:
        # After a crash mid-line, start our first line on a line of its own.
        size = self.path.stat().st_size
        if size:
            with self.path.open("rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    self._file.write("\n")

    def write(self, event: str, *, flush: bool = True, **fields: Any) -> None:
        """Append one event.  With ``flush`` (the default) it reaches the operating system
        before this returns; without, within a second (a ``done`` line may wait: losing it
        only makes ``resume`` read the campaign back)."""
        record = {"e": event, "t": round(time.time(), 3), **fields}
        self._file.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
        if flush:
            self._file.flush()
        self._dirty = True

    def sync(self) -> None:
        """Flush and fsync now (at exit, and before an immediate exit)."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._dirty = False

    async def keep_synced(self) -> None:
        """Fsync at least once a second, in a thread, so the event loop never waits on disk."""
        while not self._file.closed:
            await anyio.sleep(FSYNC_EVERY)
            if self._dirty and not self._file.closed:
                self._dirty = False
                self._file.flush()
                fd = self._file.fileno()
                await anyio.to_thread.run_sync(_fsync_quietly, fd, abandon_on_cancel=True)

    def close(self) -> None:
        if not self._file.closed:
            self.sync()
            self._file.close()


@dataclass
class JournalState:
    """What a journal says happened."""

    start: dict[str, Any] | None = None
    #: row -> the ``done`` record
    done: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: row -> the last ``sent`` record, for rows without a ``done`` line
    in_doubt: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: campaign key ("org/ws/campaign") -> row, for campaigns this run paused, or may have
    #: paused (a pause was sent and its answer never came), and did not resume
    paused: dict[str, int] = field(default_factory=dict)
    ended: dict[str, Any] | None = None
    bad_lines: int = 0


def read_journal(path: Path) -> JournalState:
    state = JournalState()
    sent: dict[int, dict[str, Any]] = {}
    pausing: dict[str, int] = {}  # a pause was sent; no answer yet
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                state.bad_lines += 1  # a line cut short by a crash
                continue
            if not isinstance(record, dict):
                state.bad_lines += 1
                continue
            kind = record.get("e")
            row = record.get("row")
            if kind == "start":
                if state.start is None:
                    state.start = record
            elif kind == "sent" and isinstance(row, int):
                op = record.get("op")
                if op == "patch":
                    state.done.pop(row, None)  # a later run took the row up again
                    sent[row] = record
                elif op == "pause" and isinstance(record.get("key"), str):
                    pausing[record["key"]] = row
            elif kind == "done" and isinstance(row, int):
                state.done[row] = record
                sent.pop(row, None)
            elif kind == "pause_refused" and isinstance(record.get("key"), str):
                pausing.pop(record["key"], None)
            elif kind == "paused" and isinstance(record.get("key"), str):
                state.paused[record["key"]] = row if isinstance(row, int) else 0
                pausing.pop(record["key"], None)
            elif kind == "resumed" and isinstance(record.get("key"), str):
                state.paused.pop(record["key"], None)
                pausing.pop(record["key"], None)
            elif kind == "end":
                state.ended = record
    state.in_doubt = sent
    for name, row in pausing.items():
        state.paused.setdefault(name, row)
    return state
