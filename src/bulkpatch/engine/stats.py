"""Counting what a run did: requests, statuses, retries, latencies, outcomes, and per-second ticks.

A plain mutable record fed by the client (one call per request start and per reply) and the
recorder (one per row).  The summary is a pure function of it.  :meth:`RunStats.take_tick` hands
out what happened since the last tick, for the journal's ``tick`` lines (``report.html`` draws
them).
"""

from __future__ import annotations

import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bulkpatch.core.outcomes import Outcome
from bulkpatch.transport.replies import Kind, Reply


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) of already-sorted values, nearest-rank."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def _ms(values: list[float]) -> list[float] | None:
    if not values:
        return None
    values.sort()
    return [round((percentile(values, q) or 0.0) * 1000, 1) for q in (50, 95, 99)]


@dataclass
class RunStats:
    clock: Callable[[], float] = time.monotonic
    started: float = 0.0
    finished: float | None = None
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    throttled: int = 0
    reconciliations: int = 0
    latencies: array[float] = field(default_factory=lambda: array("f"))
    rows_total: int = 0
    rows_done: int = 0
    # the current tick
    _tick_started: int = 0
    _tick_statuses: Counter[str] = field(default_factory=Counter)
    _tick_latencies: list[float] = field(default_factory=list)
    _tick_at: float = 0.0

    def __post_init__(self) -> None:
        self.started = self._tick_at = self.clock()

    def request_started(self) -> None:
        self._tick_started += 1

    def record_reply(self, reply: Reply) -> None:
        self.requests[reply.method] += 1
        key = str(reply.status) if reply.status is not None else "none"
        self.statuses[key] += 1
        self._tick_statuses[key] += 1
        if reply.kind is Kind.THROTTLED:
            self.throttled += 1
        self.latencies.append(reply.latency)
        self._tick_latencies.append(reply.latency)

    def record_retry(self, reply: Reply) -> None:
        self.retries += 1
        if reply.kind is Kind.UNKNOWN:
            self.reconciliations += 1

    def record_outcome(self, outcome: Outcome) -> None:
        self.outcomes[outcome.value] += 1
        self.rows_done += 1

    def take_tick(self) -> dict[str, Any]:
        """What happened since the last tick (a quiet second too: the breaker open, a wait for
        Retry-After; the report shows those as gaps)."""
        now = self.clock()
        tick = {
            "dt": round(now - self._tick_at, 3),
            "started": self._tick_started,
            "by_status": dict(self._tick_statuses),
            "lat_ms": _ms(self._tick_latencies),
        }
        self._tick_at = now
        self._tick_started = 0
        self._tick_statuses = Counter()
        self._tick_latencies = []
        return tick

    @property
    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else self.clock()
        return max(end - self.started, 1e-9)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def achieved_rate(self) -> float:
        return self.total_requests / self.elapsed

    def latency_summary(self) -> dict[str, float | None]:
        values = sorted(self.latencies)
        return {
            f"p{q}_ms": (None if (v := percentile(values, q)) is None else round(v * 1000, 1))
            for q in (50, 95, 99)
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows_total,
            "outcomes": {o.value: self.outcomes.get(o.value, 0) for o in Outcome},
            "http_statuses": dict(sorted(self.statuses.items())),
            "requests": {
                "total": self.total_requests,
                "by_method": dict(sorted(self.requests.items())),
            },
            "retries": self.retries,
            "throttled_429": self.throttled,
            "reconciliations": self.reconciliations,
            "achieved_rate": round(self.achieved_rate(), 2),
            "latency": self.latency_summary(),
            "duration_s": round(self.elapsed, 3),
        }
