"""Counting what a run did: requests, statuses, retries, latencies, outcomes.

A plain mutable record fed by the client (one call per reply) and the engine (one per row); the
summary is a pure function of it.
"""

from __future__ import annotations

import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bulkpatch.client import Reply
from bulkpatch.outcomes import Outcome
from bulkpatch.report import percentile


@dataclass
class RunStats:
    started: float = field(default_factory=time.monotonic)
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

    def record_reply(self, reply: Reply) -> None:
        self.requests[reply.method] += 1
        key = str(reply.status) if reply.status is not None else "no_answer"
        self.statuses[key] += 1
        if reply.status == 429:
            self.throttled += 1
        self.latencies.append(reply.latency)

    def record_outcome(self, outcome: Outcome) -> None:
        self.outcomes[str(outcome)] += 1
        self.rows_done += 1

    @property
    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
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
            "outcomes": {str(o): self.outcomes.get(str(o), 0) for o in Outcome},
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
