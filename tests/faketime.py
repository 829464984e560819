"""A fake clock for tests: time moves only when something sleeps.

``sleep(d)`` adds ``d`` to the clock and yields once to the event loop, so retries, backoffs,
breaker cool-downs and outages that would take minutes of real time take none.  Pass it to the
library as ``Timing(clock=fake.clock, sleep=fake.sleep, uniform=...)`` (see :meth:`timing`).
"""

from __future__ import annotations

import anyio
import anyio.lowlevel

from bulkpatch.timing import Timing


class FakeTime:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.now += seconds
            self.slept.append(seconds)
        await anyio.lowlevel.checkpoint()

    def timing(self, *, jitter: str = "max") -> Timing:
        """A Timing on this clock; backoff jitter at its ``max`` (or ``min``) end."""

        def uniform(low: float, high: float) -> float:
            return high if jitter == "max" else low

        return Timing(clock=self.clock, sleep=self.sleep, uniform=uniform)
