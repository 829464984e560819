"""A circuit breaker shared by all workers: when the API fails as a whole, everyone waits.

It watches the last replies.  When most of them are server failures (5xx, timeouts, connection
errors; never a business 4xx and never a 429, which the pacer handles), it opens: no request
starts.  After a cool-down one probe goes out; if it succeeds the breaker closes and the workers go
on together, else the cool-down doubles (up to 5 s).  An outage longer than ``max_outage`` gives
up: every later request is ``STOP`` (the run ends with exit 3, resumable).

The clock and the sleep are injected, so tests drive outages on a fake clock.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import Enum

import anyio

from bulkpatch.transport.replies import Reply

WINDOW = 20  # replies the breaker looks at
MIN_SAMPLES = 8
OPEN_RATIO = 0.8
COOLDOWN_START = 0.5
#: Probes go out at least this often during an outage: one request each, so the run goes on
#: within a few seconds of the API's return.
COOLDOWN_MAX = 5.0
POLL = 0.05


class Admission(Enum):
    GO = "go"
    PROBE = "probe"  # the one request that tests whether the API is back
    STOP = "stop"  # the outage outlasted max_outage: do not send


class Breaker:
    def __init__(
        self,
        *,
        max_outage: float = 600.0,
        on_give_up: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.max_outage = max_outage
        self._on_give_up = on_give_up
        self._clock = clock
        self._sleep = sleep
        self._recent: deque[bool] = deque(maxlen=WINDOW)
        self._open_since: float | None = None
        self._outage_start: float | None = None
        self._retry_at = 0.0
        self._cooldown = COOLDOWN_START
        self._probing = False
        self.openings = 0
        self.paused_seconds = 0.0
        self.gave_up = False

    @property
    def is_open(self) -> bool:
        return self._open_since is not None

    @property
    def is_closed(self) -> bool:
        """Closed and not given up: :meth:`admit` would answer ``GO`` at once."""
        return self._open_since is None and not self.gave_up

    async def admit(self) -> Admission:
        """Wait until a request may start.

        The answer says whether it may go (``STOP`` when an outage outlasted ``max_outage``)
        and whether it is the probe: a probe must end in :meth:`record` or :meth:`abandon`.
        """
        while True:
            if self.gave_up:
                return Admission.STOP
            if self._open_since is None:
                return Admission.GO
            now = self._clock()
            if self._outage_start is not None and now - self._outage_start > self.max_outage:
                self.gave_up = True
                if self._on_give_up is not None:
                    self._on_give_up(
                        f"the API has been failing for over {self.max_outage:g} s "
                        "(--max-outage); resume the run when it is back"
                    )
                return Admission.STOP
            if not self._probing and now >= self._retry_at:
                self._probing = True
                return Admission.PROBE
            await self._sleep(POLL)

    def abandon(self) -> None:
        """The probe was cancelled before its answer: let another request probe."""
        self._probing = False

    def record(self, reply: Reply, *, probe: bool = False) -> bool:
        """Note a reply; True when it failed because the API as a whole is failing (then it
        does not count against the row's attempts)."""
        now = self._clock()
        failure = reply.server_failure
        if probe:
            self._probing = False
            if failure:
                self._cooldown = min(self._cooldown * 2, COOLDOWN_MAX)
                self._retry_at = now + self._cooldown
            else:
                self._close(now)
            return failure
        if self._open_since is not None:
            return failure  # a reply to a request sent before the breaker opened
        self._recent.append(failure)
        if not failure:
            self._outage_start = None
        failures = sum(self._recent)
        if len(self._recent) >= MIN_SAMPLES and failures >= OPEN_RATIO * len(self._recent):
            self._open(now)
            return failure
        return False

    def _open(self, now: float) -> None:
        self.openings += 1
        self._open_since = now
        if self._outage_start is None:
            self._outage_start = now
        self._retry_at = now + self._cooldown

    def _close(self, now: float) -> None:
        if self._open_since is not None:
            self.paused_seconds += now - self._open_since
        self._open_since = None
        self._outage_start = None
        self._cooldown = COOLDOWN_START
        self._recent.clear()
