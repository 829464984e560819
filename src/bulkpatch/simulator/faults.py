"""Fault decisions: deterministic under the seed, cheap when off.

Each kind of fault draws from its own ``random.Random`` (seeded from the config's seed and the
fault's name), so turning one fault on does not change the decisions of another, and the same
sequence of requests meets the same faults on every run.
"""

from __future__ import annotations

import enum
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bulkpatch.simulator.config import SimulatorConfig

_FAILURE_STATUSES = (500, 502, 503)


class Reset(enum.Enum):
    """When a dropped request loses its connection."""

    BEFORE_STORE = "before"
    AFTER_STORE = "after"


@dataclass(frozen=True, slots=True)
class Failure:
    """An injected 5xx."""

    status: int
    html: bool


class FaultPlan:
    """The fault decisions for one running simulator."""

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        started_at: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.started_at: float = clock() if started_at is None else started_at
        seed = config.seed
        self._latency_rng = random.Random(f"{seed}|latency")
        self._fail_rng = random.Random(f"{seed}|fail")
        self._reset_rng = random.Random(f"{seed}|reset")
        self._windows: dict[str, deque[float]] = {}
        self._uses: dict[str, int] = {}
        # Precomputed switches: the fault-free path does no work.
        self.rate_limit = config.rate_limit
        self.revoke_after = config.revoke_after
        self.latency_s = config.latency_ms / 1000.0
        self.jitter_s = config.latency_jitter_ms / 1000.0
        self.has_latency = self.latency_s > 0 or self.jitter_s > 0
        self.fail_rate = config.fail_rate
        self.reset_rate = config.reset_rate
        if config.outage is None:
            self.outage: tuple[float, float] | None = None
        else:
            start, duration = config.outage
            self.outage = (self.started_at + start, self.started_at + start + duration)

    def restart_clock(self, started_at: float) -> None:
        """Count the outage window from ``started_at`` (the moment the server listens)."""
        if self.config.outage is not None:
            start, duration = self.config.outage
            self.outage = (started_at + start, started_at + start + duration)
        self.started_at = started_at

    def in_outage(self, now: float) -> bool:
        outage = self.outage
        return outage is not None and outage[0] <= now < outage[1]

    def revoked(self, api_key: str) -> bool:
        """Count one request with ``api_key``; True once it has been used ``revoke_after`` times."""
        if self.revoke_after is None:
            return False
        uses = self._uses.get(api_key, 0) + 1
        self._uses[api_key] = uses
        return uses > self.revoke_after

    def retry_after(self, api_key: str, now: float) -> int | None:
        """None when the request is accepted (and counted); else whole seconds to wait (>= 1)."""
        limit = self.rate_limit
        if limit is None:
            return None
        window = self._windows.get(api_key)
        if window is None:
            window = self._windows[api_key] = deque()
        cutoff = now - 1.0
        while window and window[0] <= cutoff:
            window.popleft()
        if len(window) >= limit:
            return max(1, math.ceil(window[0] + 1.0 - now))
        window.append(now)
        return None

    def latency(self) -> float:
        """Seconds to wait before answering (0 when latency is off)."""
        if not self.has_latency:
            return 0.0
        delay = self.latency_s
        if self.jitter_s:
            delay += self._latency_rng.uniform(-self.jitter_s, self.jitter_s)
        return max(0.0, delay)

    def failure(self) -> Failure | None:
        if not self.fail_rate or self._fail_rng.random() >= self.fail_rate:
            return None
        status = self._fail_rng.choice(_FAILURE_STATUSES)
        return Failure(status=status, html=self._fail_rng.random() < 0.5)

    def reset(self) -> Reset | None:
        if not self.reset_rate or self._reset_rng.random() >= self.reset_rate:
            return None
        after = self._reset_rng.random() < self.config.reset_after_share
        return Reset.AFTER_STORE if after else Reset.BEFORE_STORE
