"""Rows that wait without holding a worker: the pool's small heap of deferred rows.

A row that must not go yet (``--outside-calling-hours``: its campaign is inside its calling
hours) comes back from its worker as a deferral with a delay; the worker is free at once.
:class:`Later` keeps such rows by the time they are due; the pool's feeder hands each back to the
workers once it is due (its GET is redone then: the campaign may have changed), between the
sheet's rows and, after the last of them, until no row is waiting or in flight.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

import anyio

T = TypeVar("T")
#: How often a feeder waiting for a deferred row looks whether the run is stopping (seconds).
LOOK_EVERY = 1.0


class Later(Generic[T]):
    """Deferred rows by due time (on ``clock``), and how many rows are in the workers' hands."""

    def __init__(self, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]):
        self._clock = clock
        self._sleep = sleep
        self._heap: list[tuple[float, int, T]] = []
        self._order = itertools.count()
        #: Rows handed to the workers and not finished yet.
        self.pending = 0
        #: Set once the feeder is gone: a row deferred then is not waited for.
        self.closed = False
        self._wake: anyio.Event | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, item: T, delay: float) -> None:
        heapq.heappush(self._heap, (self._clock() + max(0.0, delay), next(self._order), item))
        self._poke()

    def sent(self) -> None:
        self.pending += 1

    def finished(self) -> None:
        self.pending -= 1
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def due(self) -> Iterator[T]:
        """The rows due now, earliest first."""
        heap, now = self._heap, self._clock()
        while heap and heap[0][0] <= now:
            yield heapq.heappop(heap)[2]

    def drain(self) -> list[T]:
        """Every row still waiting (the run stops); no more are taken."""
        self.closed = True
        rows = [item for _, _, item in sorted(self._heap)]
        self._heap.clear()
        return rows

    async def next(self, stopping: Callable[[], Any]) -> T | None:
        """The next row once it is due; None when the run stops, or when no row waits and none
        is in flight (so none can be deferred any more)."""
        while True:
            if stopping():
                return None
            heap = self._heap
            if heap and heap[0][0] <= self._clock():
                return heapq.heappop(heap)[2]
            if not heap and self.pending <= 0:
                return None
            step = min(heap[0][0] - self._clock(), LOOK_EVERY) if heap else LOOK_EVERY
            await self._wait(step)

    async def _wait(self, seconds: float) -> None:
        """Until a row is deferred or finished, or ``seconds`` pass."""
        event = self._wake = anyio.Event()

        async def timer() -> None:
            await self._sleep(seconds)
            event.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(timer)
            await event.wait()
            tg.cancel_scope.cancel()
        self._wake = None
