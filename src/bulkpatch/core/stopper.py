"""Stopping a run from outside it: the handle a signal handler or a caller holds."""

from __future__ import annotations

from collections.abc import Callable


class Stopper:
    """Stops a run from outside: the command line's signal handler holds one.

    :meth:`stop` asks the run to stop taking rows, finish or cancel what is in flight within a
    few seconds, resume what it paused and write its reports.  :meth:`flush` makes the journal
    durable at once (before an immediate exit).
    """

    def __init__(self) -> None:
        self._stop: Callable[[str], None] | None = None
        self._flush: Callable[[], None] | None = None
        self.reason = ""

    def attach(self, stop: Callable[[str], None], flush: Callable[[], None]) -> None:
        self._stop, self._flush = stop, flush
        if self.reason:
            stop(self.reason)

    def stop(self, reason: str) -> None:
        if not self.reason:
            self.reason = reason
        if self._stop is not None:
            self._stop(reason)

    def flush(self) -> None:
        if self._flush is not None:
            self._flush()
