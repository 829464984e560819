"""Where a run gets the time: one seam, so tests can run retries, outages and change windows on a
fake clock."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """The clock, the sleep and the random source of a run's pacer, breaker and retries; ``now``
    is the wall clock a change window and a campaign's calling hours are read on (an aware
    datetime that moves with ``clock``)."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    uniform: Callable[[float, float], float] = random.uniform
    now: Callable[[], datetime] = utc_now


REAL = Timing()
