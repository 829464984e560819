"""The run's journal: an append-only JSON-lines file that ``resume``, ``undo``, ``verify`` and
``report`` trust.

Events, one JSON object a line (``"e"`` names the kind, ``"t"`` the unix time):

* ``start``   the sheet (path, sha256), the options, the version, the journal format
* ``resume``  a later session of the same run (its options)
* ``sent``    before every PATCH or PUT: row, campaign, what is sent, the before-values
* ``paused``  this run paused a campaign (so it must resume it)
* ``pause_refused``  a pause that was sent did not happen
* ``resumed`` this run resumed a campaign it paused
* ``done``    a row's outcome and the before-values of what it changed
  (:func:`~bulkpatch.core.results.done_record`; its ``"v"`` is the line's own format)
* ``unsettled`` a row whose PATCH may have landed and nobody could tell: the result the session
  reported for it, in the shape of a ``done`` line -- but it is no ``done`` line: the row's
  ``sent`` line stays open, so that ``resume`` reads the campaign back first; the reports
  rebuilt from the journal give the row as the session did
* ``tick``    once a second while requests go out: requests started, answers by status,
  latency percentiles, the target rate (for ``report.html``)
* ``end``     the session finished, with its exit code

A ``sent`` line reaches the operating system before its request goes out (written with
``flush``, one write a line).  The other lines are written in batches: every ``done`` line
written in one turn of the event loop reaches the operating system with one flush
(:meth:`JournalWriter.flushed`), and the recorder reports those rows only after it, so a crash
loses no outcome that was shown; other lines within a second.  (``sent`` lines are not batched:
waiting for a batch's flush held every PATCH back a turn of the loop, 0.86 of the ideal rate
against 0.93 in the 100 ms latency benchmark.)  The file is fsynced at least once a second (in a
thread, so the event loop never waits on the disk) and at close.  A reader ignores a last line
cut short by a crash.

A write never raises: a journal that cannot be written (a full disk) returns False and calls
``on_failure`` once, and the run stops -- a write that cannot be journaled must not be sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import anyio.to_thread

from bulkpatch.core.errors import JournalError
from bulkpatch.core.jsontext import dumps, loads, loads_counting
from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import done_format
from bulkpatch.version import __version__

FSYNC_EVERY = 1.0
FLUSH_EVERY = 1.0
#: The journal's format.  A reader refuses a journal of a newer format.
FORMAT = 1

_OUTCOMES = frozenset(o.value for o in Outcome)


def _fsync_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):  # closed meanwhile: close() synced it
        os.fsync(fd)


def _describe(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


class JournalWriter:
    def __init__(self, path: Path, *, on_failure: Callable[[str], None] | None = None) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        # Bytes, not text: a line is encoded once, by :func:`~bulkpatch.core.jsontext.dumps`.
        self._file: BinaryIO = os.fdopen(fd, "ab")
        self._dirty = False
        self._last_flush = time.monotonic()
        self.path = path
        self.failure = ""
        self._on_failure = on_failure
        #: The batch's flush is scheduled (at the end of this turn of the event loop).
        self._scheduled = False
        #: Senders waiting for the batch's flush.
        self._waiters: list[asyncio.Future[bool]] = []
        self._ensure_line_start()

    def _ensure_line_start(self) -> None:
        # After a crash mid-line, start our first line on a line of its own.
        size = self.path.stat().st_size
        if size:
            with self.path.open("rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    self._file.write(b"\n")

    def _fail(self, exc: OSError) -> None:
        if not self.failure:
            self.failure = f"cannot write the journal {self.path}: {_describe(exc)}"
            if self._on_failure is not None:
                self._on_failure(self.failure)

    def write(self, event: str, *, flush: bool = True, **fields: Any) -> bool:
        """Append one event; True when it was written.

        With ``flush`` (the default) it reaches the operating system before this returns;
        without, within a second (a ``done`` line may wait: losing it only makes ``resume`` read
        the campaign back).
        """
        if self.failure:
            return False
        record = {"e": event, "t": round(time.time(), 3), **fields}
        try:
            self._file.write(dumps(record) + b"\n")
            now = time.monotonic()
            if flush or now - self._last_flush >= FLUSH_EVERY:
                self._file.flush()
                self._last_flush = now
        except OSError as exc:
            self._fail(exc)
            return False
        self._dirty = True
        return True

    async def flushed(self) -> bool:
        """Wait until every line written so far has reached the operating system: one flush at
        the end of this turn of the event loop for every line written in it.  False when the
        journal cannot be written."""
        if self.failure:
            return False
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._schedule()
        return bool(await waiter)

    def flush(self) -> bool:
        """Hand every line written so far to the operating system now; False when the journal
        cannot be written."""
        self._flush_batch()
        return not self.failure

    def _schedule(self) -> None:
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush_batch()
            return
        self._scheduled = True
        loop.call_soon(self._flush_batch)

    def _flush_batch(self) -> None:
        self._scheduled = False
        ok = not self.failure
        if ok and not self._file.closed:
            try:
                self._file.flush()
                self._last_flush = time.monotonic()
            except OSError as exc:
                self._fail(exc)
                ok = False
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():  # its sender was cancelled meanwhile
                waiter.set_result(ok)

    def sync(self) -> None:
        """Flush and fsync now (at exit, and before an immediate exit)."""
        if self._file.closed:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._dirty = False
        except OSError as exc:
            self._fail(exc)
        if self._waiters:
            self._flush_batch()

    async def keep_synced(self) -> None:
        """Fsync at least once a second, in a thread, so the event loop never waits on disk."""
        while not self._file.closed:
            await anyio.sleep(FSYNC_EVERY)
            if self._dirty and not self._file.closed and not self.failure:
                self._dirty = False
                try:
                    self._file.flush()
                except OSError as exc:
                    self._fail(exc)
                    continue
                self._last_flush = time.monotonic()
                fd = self._file.fileno()
                await anyio.to_thread.run_sync(_fsync_quietly, fd, abandon_on_cancel=True)

    def close(self) -> None:
        if not self._file.closed:
            self.sync()
            with contextlib.suppress(OSError):
                self._file.close()


@dataclass
class JournalState:
    """What a journal says happened."""

    start: dict[str, Any] | None = None
    #: row -> the last ``done`` record
    done: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: row -> the last ``sent`` record, for rows without a ``done`` line
    in_doubt: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: row -> the ``unsettled`` line of a row in doubt: the result its session reported
    unsettled: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: campaign key ("org/ws/campaign") -> row, for campaigns this run paused, or may have
    #: paused (a pause was sent and its answer never came), and did not resume
    paused: dict[str, int] = field(default_factory=dict)
    #: the ``start`` and ``resume`` records, one per session
    sessions: list[dict[str, Any]] = field(default_factory=list)
    ended: dict[str, Any] | None = None
    bad_lines: int = 0

    @property
    def version(self) -> str:
        return str((self.start or {}).get("version") or "")


def iter_records(path: Path, *, exact: bool = True) -> Iterator[dict[str, Any] | None]:
    """The journal's records in file order; ``None`` for a line that cannot be read (one cut
    short by a crash).  Not ``exact``: faster, with integers beyond 64 bits read as floats (for
    a fold that only counts: :func:`~bulkpatch.core.jsontext.loads_counting`)."""
    with path.open("r", encoding="utf-8", errors="replace") as f:
        yield from _records(f, loads if exact else loads_counting)


def _records(
    lines: Iterable[str], read: Callable[[str], Any] = loads
) -> Iterator[dict[str, Any] | None]:
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            record = read(line)
        except ValueError:
            yield None
            continue
        yield record if isinstance(record, dict) else None


def read_journal(path: Path) -> JournalState:
    """Read a journal.  Raises :class:`JournalError` for one this version cannot continue."""
    state = JournalState()
    sent: dict[int, dict[str, Any]] = {}
    pausing: dict[str, int] = {}  # a pause was sent; no answer yet
    try:
        handle = path.open("r", encoding="utf-8", errors="replace")
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {_describe(exc)}") from None
    with handle:
        for record in _records(handle):
            if record is None:
                state.bad_lines += 1  # a line cut short by a crash
                continue
            kind = record.get("e")
            row = record.get("row")
            if kind == "start":
                if state.start is None:
                    _check_format(record, path)
                    state.start = record
                state.sessions.append(record)
            elif kind == "resume":
                state.sessions.append(record)
            elif kind == "sent" and isinstance(row, int):
                op = record.get("op")
                if op == "patch":
                    state.done.pop(row, None)  # a later session took the row up again
                    state.unsettled.pop(row, None)
                    sent[row] = record
                elif op == "pause" and isinstance(record.get("key"), str):
                    pausing[record["key"]] = row
            elif kind == "done":
                if not isinstance(row, int) or not _readable_result(record):
                    raise _unsupported(state, record, path)
                state.done[row] = record
                state.unsettled.pop(row, None)
                sent.pop(row, None)
            elif kind == "unsettled" and isinstance(row, int) and _readable_result(record):
                state.unsettled[row] = record  # its ``sent`` line stays open
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


def _readable_result(record: dict[str, Any]) -> bool:
    """A ``done`` (or ``unsettled``) line this version reads: a known outcome, a known format."""
    return record.get("outcome") in _OUTCOMES and done_format(record) is not None


def _check_format(record: dict[str, Any], path: Path) -> None:
    fmt = record.get("journal", 1)
    if not isinstance(fmt, int) or fmt > FORMAT:
        by = record.get("version") or "a newer version"
        raise JournalError(
            f"unsupported journal {path} (written by bulkpatch {by}, journal format {fmt!r}); "
            "use that version of bulkpatch to continue it"
        )


def _unsupported(state: JournalState, record: dict[str, Any], path: Path) -> JournalError:
    by = state.version or "another version"
    return JournalError(
        f"unsupported journal {path} (written by bulkpatch {by}): a done line holds outcome "
        f"{record.get('outcome')!r} for row {record.get('row')!r} in format "
        f"{record.get('v', 1)!r}, which this bulkpatch does not know; use the bulkpatch version "
        "that wrote it"
    )


def begin_journal(
    journal: JournalWriter,
    *,
    resumed: bool,
    sheet: Path,
    sha256: str,
    rows: int,
    options: dict[str, Any],
    safeguards: dict[str, Any],
) -> None:
    """A session's first journal line: ``start`` for a new run, ``resume`` for a later session
    (whose safeguards are the ``start`` line's)."""
    if resumed:
        journal.write("resume", version=__version__, sha256=sha256, rows=rows, options=options)
        return
    journal.write(
        "start",
        journal=FORMAT,
        version=__version__,
        sheet=str(sheet.resolve()),
        sha256=sha256,
        rows=rows,
        options=options,
        **safeguards,
    )
