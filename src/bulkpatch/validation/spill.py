"""Records kept in order on disk, read back in the same order: what the check's pass hands the
run's streaming pass about the rows it judged row by row, without holding them in memory.

A run keeps its sheet check for the whole run, so whatever the check keeps per row grows with the
sheet.  The rows judged row by row (a whole-object column, a cell a column-wise rule is not sure
of, an invalid row) carry their values and ids; those go to an unnamed temporary file in batches
of :data:`SPILL_BATCH`, and the streaming pass reads them back a batch at a time.  The file is
made in the folder given (a run's: beside its copy of the sheet, on the disk that holds its
reports, not in a ``/tmp`` that may be memory), and removed from the folder at once.  Should it
fail (no room, no folder), the later batches stay in memory: the order is kept either way, and
the run goes on.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Records pickled together: one such batch is all a reader holds at a time.
SPILL_BATCH = 2048
_LENGTH = 8


class Spill:
    """Records appended in order, kept on disk a batch at a time; iterating reads them all back
    in order (again each time: readers do not share a position)."""

    def __init__(self, folder: Path | None = None, *, batch: int | None = None) -> None:
        self._folder = folder
        self._batch = batch or SPILL_BATCH
        self._pending: list[Any] = []
        #: Bytes written to the file; batches the file could not take stay in ``_held``.
        self._size = 0
        self._fd: int | None = None
        self._failed = False
        self._held: list[list[Any]] = []
        self.count = 0

    def add(self, record: Any) -> None:
        self._pending.append(record)
        self.count += 1
        if len(self._pending) >= self._batch:
            self._store(self._pending)
            self._pending = []

    def __iter__(self) -> Iterator[Any]:
        offset, end = 0, self._size
        while offset < end:
            size = int.from_bytes(self._read(offset, _LENGTH), "little")
            yield from pickle.loads(self._read(offset + _LENGTH, size))
            offset += _LENGTH + size
        for batch in self._held:
            yield from batch
        yield from list(self._pending)

    def _store(self, batch: list[Any]) -> None:
        if not self._failed:
            data = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
            try:
                self._write(len(data).to_bytes(_LENGTH, "little") + data)
                return
            except OSError:
                self._failed = True  # from here on, in memory: the order stays whole
        self._held.append(batch)

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            if not hasattr(os, "pwrite"):  # not on every system (Windows): kept in memory
                raise OSError("no positional writes on this system")
            fd, name = tempfile.mkstemp(prefix=".bulkpatch-rows-", dir=self._folder)
            try:
                os.unlink(name)
            except OSError:
                os.close(fd)
                raise
            self._fd = fd
            weakref.finalize(self, os.close, fd)
        view = memoryview(data)
        at = self._size
        while view:
            written = os.pwrite(self._fd, view, at)
            view, at = view[written:], at + written
        self._size = at

    def _read(self, offset: int, size: int) -> bytes:
        assert self._fd is not None
        parts: list[bytes] = []
        while size > 0:
            part = os.pread(self._fd, size, offset)
            if not part:  # pragma: no cover - the file is ours alone
                raise EOFError("the temporary file of judged rows ended early")
            parts.append(part)
            offset, size = offset + len(part), size - len(part)
        return b"".join(parts)
