"""A retry budget: retries stay a bounded share of the requests over a sliding window.

A retry that would exceed the budget waits for room instead of being sent, so a partly failing
API is not flooded, and no row fails just for waiting.  Clock and sleep are injected.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable

import anyio

WINDOW = 10.0  # seconds
RATIO = 0.25  # retries per request in the window
FLOOR = 10  # retries always allowed per window
POLL = 0.05


class RetryBudget:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def note_request(self) -> None:
        now = self._clock()
        self._requests.append(now)
        if self._requests[0] < now - WINDOW:  # keep only the window: memory stays flat
            self._trim(now)

    def _trim(self, now: float) -> None:
        edge = now - WINDOW
        while self._requests and self._requests[0] < edge:
            self._requests.popleft()
        while self._retries and self._retries[0] < edge:
            self._retries.popleft()

    def has_room(self) -> bool:
        self._trim(self._clock())
        return len(self._retries) < max(FLOOR, RATIO * len(self._requests))

    async def permit(self, *, give_up: Callable[[], bool] = lambda: False) -> bool:
        """Wait for room for one retry; False when ``give_up()`` turns true meanwhile."""
        while not self.has_room():
            if give_up():
                return False
            await self._sleep(POLL)
        self._retries.append(self._clock())
        return not give_up()
