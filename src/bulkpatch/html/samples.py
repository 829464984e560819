"""The journal's per-second samples (``tick`` records), folded into chart points.

A ``tick`` says, for the ``dt`` seconds before ``t``: how many requests started, the answers by
status (``"none"``: no answer), the latency p50/p95/p99 in ms, the pacer's target rate (``null``:
unlimited) and whether the circuit breaker was open.  :class:`Samples` folds any number of them
into at most :data:`MAX_POINTS` points: a point covers ``width`` seconds of sending, doubled (and
neighbours merged) whenever the run outgrows the points, so memory stays flat however long the
run.  Sessions of a resumed run are laid end to end.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bulkpatch.html.charts import LatencyPoint, RatePoint

#: Points per chart at most: longer runs fold several seconds into one point.
MAX_POINTS = 600


def num(value: Any) -> float | None:
    """A finite number from untrusted data, else None (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def count(value: Any) -> int:
    x = num(value)
    return int(x) if x is not None and 0 <= x < 1e12 else 0


@dataclass(frozen=True, slots=True)
class Traffic:
    """The per-second samples, folded for the charts, and their totals."""

    rate: tuple[RatePoint, ...] = ()
    latency: tuple[LatencyPoint, ...] = ()
    #: (session number, x where its samples begin)
    session_marks: tuple[tuple[int, float], ...] = ()
    x_max: float = 0.0
    seconds_per_point: float = 1.0
    samples: int = 0
    requests: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    seconds_throttled: int = 0
    seconds_server_error: int = 0
    seconds_no_answer: int = 0
    seconds_breaker_open: int = 0
    peak_rate: float = 0.0


@dataclass(slots=True)
class _Bin:
    x0: float
    x1: float
    dt: float = 0.0
    started: int = 0
    throttled: bool = False
    server_error: bool = False
    breaker: bool = False
    lat_weight: float = 0.0
    p50_sum: float = 0.0
    p95: float | None = None
    p99: float | None = None
    target_sum: float = 0.0
    target_dt: float = 0.0
    answered_429: int = 0
    answered_5xx: int = 0

    def absorb(self, other: _Bin) -> None:
        self.x0, self.x1 = min(self.x0, other.x0), max(self.x1, other.x1)
        self.dt += other.dt
        self.started += other.started
        self.throttled |= other.throttled
        self.server_error |= other.server_error
        self.breaker |= other.breaker
        self.lat_weight += other.lat_weight
        self.p50_sum += other.p50_sum
        self.p95 = _max(self.p95, other.p95)
        self.p99 = _max(self.p99, other.p99)
        self.target_sum += other.target_sum
        self.target_dt += other.target_dt
        self.answered_429 += other.answered_429
        self.answered_5xx += other.answered_5xx


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _latencies(value: Any) -> tuple[float, float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 3:
        return None
    nums = [num(v) for v in value]
    if any(v is None or v < 0 for v in nums):
        return None
    return (nums[0], nums[1], nums[2])  # type: ignore[return-value]


class Samples:
    """Folds ``tick`` records into at most ``limit`` points: a point covers ``width`` seconds
    of sending, doubled (neighbours merged) whenever the run outgrows the points."""

    def __init__(self, limit: int = MAX_POINTS) -> None:
        self.limit = limit
        self.width = 1.0
        self.bins: dict[int, _Bin] = {}
        self.x_end = 0.0  # where the samples so far end
        self.session_t0: float | None = None
        self.marks: list[tuple[int, float]] = []
        self.samples = 0
        self.requests = 0
        self.by_status: Counter[str] = Counter()
        self.seconds = Counter[str]()
        self.peak = 0.0
        #: The pacer's target in force when the next sample's second began (a tick records it
        #: at the second's end, after any cut the second's 429s caused).
        self._target: float | None = None
        self._target_known = False

    def new_session(self, target: float | None = None, *, known: bool = False) -> None:
        """A new session begins; ``known``: its options say its starting rate, ``target``
        (None: unlimited)."""
        self.session_t0 = None
        self._target, self._target_known = target, known

    def add(self, record: Mapping[str, Any], t: float, session: int) -> tuple[int, int, int]:
        """Fold one tick; returns (started, 429s, 5xx) for the session's totals."""
        dt = num(record.get("dt"))
        dt = dt if dt is not None and 0 < dt <= 3600 else 1.0
        if self.session_t0 is None:
            self.session_t0 = t - dt
            self.marks.append((session, self.x_end))
            offset = self.x_end
        else:
            offset = self.marks[-1][1]
        x1 = offset + (t - self.session_t0)
        if x1 < self.x_end:  # the clock went back: carry on from where we were
            x1 = self.x_end + dt
        x0 = x1 - dt
        self.x_end = x1
        started = count(record.get("started"))
        statuses = record.get("by_status")
        throttled = server = no_answer = 0
        answers = 0
        if isinstance(statuses, Mapping):
            for status, n in statuses.items():
                n = count(n)
                status = str(status)
                if status in ("none", "no_answer"):  # summary.json says "no_answer"
                    status = "none"
                    no_answer += n
                elif len(status) == 3 and status.isdigit():
                    answers += n
                    throttled += n if status == "429" else 0
                    server += n if status.startswith("5") else 0
                else:
                    continue
                self.by_status[status] += n
        lat = _latencies(record.get("lat_ms"))
        at_end = num(record.get("target"))
        # The target drawn for this second is the one in force when it began: the previous
        # sample's (or the session's starting rate), so a second whose 429s cut the rate shows
        # the rate that drew them.
        target = self._target if self._target_known else at_end
        self._target, self._target_known = at_end, True
        breaker = record.get("breaker_open") is True
        weight = float(max(answers, 1))
        b = _Bin(
            x0,
            x1,
            dt=dt,
            started=started,
            throttled=throttled > 0,
            server_error=server > 0,
            breaker=breaker,
            lat_weight=weight if lat else 0.0,
            p50_sum=lat[0] * weight if lat else 0.0,
            p95=lat[1] if lat else None,
            p99=lat[2] if lat else None,
            target_sum=target * dt if target is not None and target > 0 else 0.0,
            target_dt=dt if target is not None and target > 0 else 0.0,
            answered_429=throttled,
            answered_5xx=server,
        )
        self.samples += 1
        self.requests += started
        self.peak = max(self.peak, started / dt)
        for name, hit in (
            ("throttled", throttled),
            ("server_error", server),
            ("no_answer", no_answer),
            ("breaker", breaker),
        ):
            if hit:
                self.seconds[name] += 1
        self._put(b)
        return started, throttled, server

    def _put(self, b: _Bin) -> None:
        index = int(((b.x0 + b.x1) / 2) // self.width)
        while index >= self.limit:
            self.width *= 2
            folded: dict[int, _Bin] = {}
            for i, old in sorted(self.bins.items()):
                if i // 2 in folded:
                    folded[i // 2].absorb(old)
                else:
                    folded[i // 2] = old
            self.bins = folded
            index //= 2
        if index in self.bins:
            self.bins[index].absorb(b)
        else:
            self.bins[index] = b

    def traffic(self) -> Traffic:
        rate, latency = [], []
        for _, b in sorted(self.bins.items()):
            target = b.target_sum / b.target_dt if b.target_dt else None
            rate.append(
                RatePoint(
                    b.x0,
                    b.x1,
                    b.started / b.dt if b.dt else 0.0,
                    target,
                    b.throttled,
                    b.server_error,
                    b.breaker,
                    throttled_rate=b.answered_429 / b.dt if b.dt else 0.0,
                    server_error_rate=b.answered_5xx / b.dt if b.dt else 0.0,
                )
            )
            p50 = b.p50_sum / b.lat_weight if b.lat_weight else None
            latency.append(LatencyPoint(b.x0, b.x1, p50, b.p95, b.p99))
        return Traffic(
            rate=tuple(rate),
            latency=tuple(latency),
            session_marks=tuple(self.marks),
            x_max=self.x_end,
            seconds_per_point=self.width,
            samples=self.samples,
            requests=self.requests,
            by_status=dict(sorted(self.by_status.items())),
            seconds_throttled=self.seconds["throttled"],
            seconds_server_error=self.seconds["server_error"],
            seconds_no_answer=self.seconds["no_answer"],
            seconds_breaker_open=self.seconds["breaker"],
            peak_rate=self.peak,
        )
