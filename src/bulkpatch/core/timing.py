"""Where a run gets the time: one seam, so tests can run retries and outages on a fake clock."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """The clock, the sleep and the random source of a run's pacer, breaker and retries."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    uniform: Callable[[float, float], float] = random.uniform


REAL = Timing()
