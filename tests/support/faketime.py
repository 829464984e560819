"""A fake clock for tests: time moves only when everything that can run waits for it.

``await fake.sleep(d)`` waits until the clock reads ``d`` later.  The clock jumps forward only
when the event loop is idle (no task ready to run, no socket ready to read), and then straight to
the earliest wake-up due, waking the sleepers in the order they are due: what real time would
do, without the waiting.  Retries, backoffs, breaker cool-downs, pacing and outages that would
take minutes of real time take none.  Requests to a simulator in the same event loop take no fake
time (a network without latency); a real-time wait (the simulator's ``latency_ms``, a child
process) lets the fake clock run on meanwhile, so tests on this clock avoid both.

Pass it to the library as ``fake.timing()`` (a :class:`bulkpatch.core.timing.Timing`): the pacer,
the breaker, the retry budget, the retries and the run's statistics then all read this clock.  A
scripted simulator can read it too (``scripted.FrontOnClock``: an outage window or a server's rate
limit on the same clock).  Tests get one from the ``fake_time`` fixture.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta

import anyio.lowlevel

from bulkpatch.core.timing import Timing

#: Turns of the event loop with nothing ready before the clock jumps.
IDLE_TURNS = 2


#: The wall-clock instant a fake clock starts at, unless told (``FakeTime(wall=...)``).
WALL_START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


class FakeTime:
    def __init__(self, start: float = 1000.0, *, wall: datetime = WALL_START) -> None:
        self.start = start
        self.now = start
        #: The wall clock at ``start``: :meth:`wall` moves with the fake clock from there.
        self.wall_start = wall
        #: Every duration slept, in the order the sleeps began.
        self.slept: list[float] = []
        self._due: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def clock(self) -> float:
        return self.now

    def wall(self) -> datetime:
        """The wall clock (an aware UTC datetime) on this clock: a run's ``Timing.now``."""
        return self.wall_start + timedelta(seconds=self.now - self.start)

    @property
    def elapsed(self) -> float:
        """Fake seconds since this clock was made."""
        return self.now - self.start

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        self.slept.append(seconds)
        loop = asyncio.get_running_loop()
        wake: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._due, (self.now + seconds, next(self._order), wake))
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive())
        await wake

    async def _drive(self) -> None:
        """Move the clock to the next wake-up each time the loop has nothing else to do."""
        loop = asyncio.get_running_loop()
        idle = 0
        while self._due:
            await asyncio.sleep(0)
            # Callbacks waiting in the loop's queue (CPython's ``_ready``): somebody can still
            # run, or a socket turned readable.  Without that queue, a few turns will do.
            if getattr(loop, "_ready", None):
                idle = 0
                continue
            idle += 1
            if idle >= IDLE_TURNS:
                idle = 0
                self._wake_next()

    def _wake_next(self) -> None:
        due = self._due
        while due and due[0][2].done():  # cancelled sleeps
            heapq.heappop(due)
        if not due:
            return
        self.now = max(self.now, due[0][0])
        while due and due[0][0] <= self.now:
            wake = heapq.heappop(due)[2]
            if not wake.done():
                wake.set_result(None)

    def timing(self, *, jitter: str = "max") -> Timing:
        """A Timing on this clock; backoff jitter at its ``max`` (or ``min``) end."""

        def uniform(low: float, high: float) -> float:
            return high if jitter == "max" else low

        return Timing(clock=self.clock, sleep=self.sleep, uniform=uniform, now=self.wall)
