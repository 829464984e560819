"""One pacer for every request of a run: an exact rate ceiling that adapts down on 429s.

Why not ``aiolimiter.AsyncLimiter`` directly: its leaky bucket lets ``capacity + R`` requests start
in a 1-second window (2R in the first second for ``AsyncLimiter(R, 1)``), its rate cannot change
while requests wait, and the run needs both an exact ceiling and a rate that adapts.  So the pacer
hands out start *slots* spaced ``1 / r`` apart, where ``r`` is a little under the ceiling ``R``:
then any closed 1-second window holds at most ``floor(r) + 1 <= R`` starts, the first second
included, and a server that counts with a sliding window sees a little slack for network jitter.

Adaptation (AIMD): a 429 (or a 503 with ``Retry-After``) halves the rate, at most once per second;
each second without one gives back a tenth of the ceiling, up to the ceiling.  All workers share
the pacer, so all slow down together.

The clock and the sleep are injectable: tests drive the pacer with a fake clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable

import anyio

#: Fraction of the ceiling the pacer aims at, so that a sliding-window server never sees R + 1.
SAFETY = 0.99
DECREASE = 0.5
#: Each second without a throttle signal gives back this fraction of the ceiling.
RECOVERY_PER_SECOND = 0.10
#: The adaptive rate never drops below this many requests per second.
FLOOR_RATE = 0.5


def safe_rate(ceiling: float) -> float:
    """The pacing rate for a ceiling R such that no closed 1-s window holds more than R."""
    if ceiling >= 1:
        # floor(r) + 1 <= floor(R)  <=>  r < floor(R)
        return min(ceiling * SAFETY, math.floor(ceiling) - 0.001)
    return ceiling * SAFETY


class Pacer:
    """Spaces request starts so that the run never exceeds ``rate`` requests per second.

    ``rate=None`` means no ceiling; the pacer then only slows down after a throttle signal, from
    the rate it observed, and returns to unlimited once it has recovered.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive (or None for no limit)")
        self.ceiling = rate
        self._clock = clock
        self._sleep = sleep
        self._rate: float | None = rate  # current target; None = unlimited
        self._next_slot = -math.inf
        self._hold_until = -math.inf
        self._last_decrease = -math.inf
        self._last_recovery = -math.inf
        # Observed start rate, for adapting down from "unlimited": starts in the current and
        # the previous whole second.
        self._second = 0
        self._count = 0
        self._prev_count = 0
        self.throttle_events = 0
        self.starts = 0

    @property
    def current_rate(self) -> float | None:
        """The rate the pacer aims at now (None: unlimited)."""
        return self._rate

    def _observe(self, now: float) -> None:
        second = int(now)
        if second != self._second:
            self._prev_count = self._count if second == self._second + 1 else 0
            self._second = second
            self._count = 0
        self._count += 1
        self.starts += 1

    async def acquire(self) -> None:
        """Wait for this request's start slot."""
        now = self._clock()
        slot = max(now, self._hold_until)
        if self._rate is not None:
            slot = max(slot, self._next_slot)
            self._next_slot = slot + 1.0 / safe_rate(self._rate)
        if slot > now:
            await self._sleep(slot - now)
        self._observe(max(slot, now))

    def hold(self, seconds: float) -> None:
        """No request starts for ``seconds`` (a server's ``Retry-After`` for everybody)."""
        self._hold_until = max(self._hold_until, self._clock() + seconds)

    def throttled(self) -> None:
        """The server said "too fast": halve the rate (at most once a second)."""
        now = self._clock()
        if now - self._last_decrease < 1.0:
            return
        self._last_decrease = now
        self._last_recovery = now
        self.throttle_events += 1
        base = self._rate
        if base is None:
            base = float(max(self._prev_count, self._count, 1))
        self._rate = max(FLOOR_RATE, base * DECREASE)

    def succeeded(self) -> None:
        """A request went through: recover gradually toward the ceiling."""
        if self._rate is None or (self.ceiling is not None and self._rate >= self.ceiling):
            return
        now = self._clock()
        if now - self._last_decrease < 1.0:
            return
        elapsed = now - self._last_recovery
        if elapsed < 0.1:
            return
        self._last_recovery = now
        step_base = self.ceiling if self.ceiling is not None else max(self._rate, 10.0)
        self._rate += step_base * RECOVERY_PER_SECOND * min(elapsed, 1.0)
        if self.ceiling is not None:
            self._rate = min(self._rate, self.ceiling)
        elif now - self._last_decrease > 30.0:
            self._rate = None  # recovered: unlimited again
