"""One pacer for every request of a run: an exact rate ceiling that adapts down on 429s.

Why not ``aiolimiter.AsyncLimiter`` directly: its leaky bucket lets ``capacity + R`` requests start
in a 1-second window (2R in the first second for ``AsyncLimiter(R, 1)``), its rate cannot change
while requests wait, and the run needs both an exact ceiling and a rate that adapts.  So:

* start *slots* are spaced evenly at ``r = R / (1 + slack)``: a smooth stream, no bursts;
* a log of the last ``R`` actual start times holds back any start that would put ``R + 1``
  starts within ``1 + slack`` seconds.  That is the guarantee, on actual start times: no closed
  1-second window ever holds more than ``R`` starts, the first second included, even when a busy
  event loop wakes several sleepers at once.

The *slack* is room for what lies between our start and the server's count: a request may reach
the server (or be counted by it) a little later than another, when a busy event loop -- ours or
the server's -- or the network holds it up.  If the first of ``R + 1`` requests is held up more
than the slack while the last is not, a server counting ``R`` per sliding second sees ``R + 1``.
Nothing tells us that delay directly, but it is part of the round trip, so the slack follows the
spread of the latencies seen over the last :data:`SPREAD_SECONDS` (slowest minus fastest), with
a quarter more (:data:`SPREAD_MARGIN`: the spread of the answers seen so far falls short of the
spread of the hold-ups to come), never less than :data:`MIN_SLACK`, never more than
:data:`MAX_SLACK` (at most about 9% under the ceiling).  A request held up longer than that
can still draw a 429 from a server whose limit equals ``--rate``: leave a margin (see
docs/applying.md).

Adaptation (AIMD): a 429 (or a 503 with ``Retry-After``) halves the rate, at most once per second;
then the rate climbs quickly back to just under the rate that drew the 429 and slowly past it, up
to the ceiling.  All workers share the pacer, so all slow down together.

The clock and the sleep are injectable: tests drive the pacer with a fake clock.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

import anyio

#: Room left in every 1-second window for jitter between our starts and the server's count
#: (seconds): the spread of recent latencies, within these bounds.
MIN_SLACK = 0.010
MAX_SLACK = 0.100
#: The smallest slack, for pacing that sees no latencies (the shared rate store).
SLACK = MIN_SLACK
#: The slack is the latency spread times this: a sample's spread falls short of the spread of
#: the hold-ups to come (29.6 ms seen of 30 drew a 429 at a server's exact limit).
SPREAD_MARGIN = 1.25
#: The latency spread is taken over the answers of this many seconds.
SPREAD_SECONDS = 2.0
DECREASE = 0.5
#: After a halving, the rate climbs back quickly to KNEE x the rate that drew the 429 ...
KNEE = 0.9
FAST_RECOVERY = 0.5  # share of the distance to the knee made up per second
#: ... then probes upward slowly: this share of the rate per second (at least MIN_STEP/s).
SLOW_RECOVERY = 0.02
MIN_STEP = 0.5
#: The adaptive rate never drops below this many requests per second.
FLOOR_RATE = 0.5


def safe_rate(ceiling: float, slack: float = MIN_SLACK) -> float:
    """The pacing rate for a ceiling R: a little under R, so that R starts span 1 s + slack."""
    return ceiling / (1.0 + slack)


class _Spread:
    """The slowest and the fastest latency of the last ``seconds``, in O(1) amortised time per
    latency (two monotonic queues)."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._high: deque[tuple[float, float]] = deque()  # (when, latency), latencies falling
        self._low: deque[tuple[float, float]] = deque()  # (when, latency), latencies rising

    def add(self, now: float, latency: float) -> None:
        high, low = self._high, self._low
        while high and high[-1][1] <= latency:
            high.pop()
        high.append((now, latency))
        while low and low[-1][1] >= latency:
            low.pop()
        low.append((now, latency))

    def spread(self, now: float) -> float:
        cutoff = now - self._seconds
        high, low = self._high, self._low
        while high and high[0][0] < cutoff:
            high.popleft()
        while low and low[0][0] < cutoff:
            low.popleft()
        return high[0][1] - low[0][1] if high and low else 0.0


class _PerSecond:
    """Counts events in whole seconds: enough to tell a rate over the last second."""

    def __init__(self) -> None:
        self._second = 0
        self._count = 0
        self._previous = 0

    def add(self, now: float) -> None:
        second = int(now)
        if second != self._second:
            self._previous = self._count if second == self._second + 1 else 0
            self._second = second
            self._count = 0
        self._count += 1

    def recent(self, now: float) -> int:
        """Events in the last whole second (or the current one, if more), 0 when stale."""
        if self._second < int(now) - 1:
            return 0
        if self._second == int(now) - 1:
            return self._count
        return max(self._previous, self._count)


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
        # Start times of the last floor(R) requests (the ceiling's own check).
        self._window: deque[float] | None = (
            deque(maxlen=max(1, math.floor(rate))) if rate is not None else None
        )
        self._next_slot = -math.inf
        self._last_decrease = -math.inf
        self._last_recovery = -math.inf
        self._limit_seen = math.inf  # the rate that drew the last 429
        self._accepted = _PerSecond()  # answers that were not "too fast"
        self._started = _PerSecond()  # starts, for adapting down from "unlimited"
        self._latencies = _Spread(SPREAD_SECONDS)
        self.slack = MIN_SLACK
        #: The widest slack this pacer used (for the run's summary).
        self.widest_slack = MIN_SLACK
        self.throttle_events = 0

    @property
    def current_rate(self) -> float | None:
        """The rate the pacer aims at now (None: unlimited)."""
        return self._rate

    def _observe(self, now: float) -> None:
        self._started.add(now)

    def answered(self, latency: float) -> None:
        """An answer came back after ``latency`` seconds: the slack follows their spread."""
        now = self._clock()
        self._latencies.add(now, latency)
        spread = self._latencies.spread(now) * SPREAD_MARGIN
        slack = min(MAX_SLACK, max(MIN_SLACK, spread))
        self.slack = slack
        if slack > self.widest_slack:
            self.widest_slack = slack

    async def acquire(self) -> None:
        """Wait for this request's start slot."""
        now = self._clock()
        if self._rate is None:  # unlimited (so no ceiling either): only count the start
            self._started.add(now)
            return
        slot = now
        if self._rate is not None:
            slot = max(slot, self._next_slot)
            self._next_slot = slot + 1.0 / safe_rate(self._rate, self.slack)
        if slot > now:
            await self._sleep(slot - now)
        if self._window is not None:
            await self._respect_window()
        self._observe(self._clock())

    async def _respect_window(self) -> None:
        """The hard guarantee, on actual start times: never more than R in a closed second.

        Slots are spaced evenly, but a busy event loop wakes sleepers late and then several at
        once; this log of the last R starts holds back any start that would break the ceiling.
        """
        window = self._window
        assert window is not None
        while len(window) == window.maxlen:
            wait = window[0] + 1.0 + self.slack - self._clock()
            if wait <= 0:
                break
            await self._sleep(wait)
        window.append(self._clock())

    def throttled(self, sent_at: float | None = None) -> None:
        """The server said "too fast": cut the rate.

        Halve it, but not below what the server accepted over the last second (it said so by
        answering), so one 429 storm does not spiral the rate to nothing.  A 429 for a request
        sent before the last cut says nothing new and is ignored (``sent_at``, on the pacer's
        clock); without ``sent_at``, at most one cut a second.
        """
        now = self._clock()
        if sent_at is not None:
            if sent_at <= self._last_decrease:
                return
        elif now - self._last_decrease < 1.0:
            return
        self._last_decrease = now
        self._last_recovery = now
        self.throttle_events += 1
        base = self._rate
        if base is None:
            base = float(max(self._started.recent(now), 1))
        accepted = float(self._accepted.recent(now))
        self._limit_seen = accepted if accepted >= 1 else base
        self._rate = min(base, max(FLOOR_RATE, base * DECREASE, KNEE * accepted))

    def succeeded(self) -> None:
        """A request went through: recover toward the ceiling.

        Quickly back up to just under the rate at which the server last said "too fast", then
        slowly past it (a server's limit may have risen), so a server that limits below the
        ceiling sees a 429 only every several seconds, not a storm.
        """
        now = self._clock()
        self._accepted.add(now)
        if self._rate is None or (self.ceiling is not None and self._rate >= self.ceiling):
            return
        if now - self._last_decrease < 1.0:
            return
        elapsed = min(now - self._last_recovery, 1.0)
        if elapsed < 0.1:
            return
        self._last_recovery = now
        knee = self._limit_seen * KNEE
        if self._rate < knee:
            step = max((knee - self._rate) * FAST_RECOVERY, MIN_STEP) * elapsed
            self._rate = min(knee, self._rate + step)
        else:
            self._rate += max(MIN_STEP, self._rate * SLOW_RECOVERY) * elapsed
        if self.ceiling is not None:
            self._rate = min(self._rate, self.ceiling)
        elif now - self._last_decrease > 60.0:
            self._rate = None  # a minute without a 429: unlimited again
