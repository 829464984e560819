"""Request accounting, O(1) per request.

``max_starts_in_any_second`` is exact: for each request start ``t`` the starts in ``(t - 1, t]``
are counted with a deque of the starts of the last second, and the largest count is kept.
The timeline keeps one counter per millisecond since the start (or the last reset), for a
bounded time, so any bucket width that is a whole number of milliseconds can be served.
"""

from __future__ import annotations

import time
from array import array
from collections import deque
from collections.abc import Callable
from typing import Any

from bulkpatch.core.rows import CampaignKey

#: The status recorded for a request whose connection was dropped without an answer.
DROPPED = 0

_GROW = 4096  # timeline slots added at a time


class SimStats:
    """Counters of the API requests the simulator served (``/_sim/*`` is not counted)."""

    def __init__(
        self, *, timeline_seconds: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._timeline_limit = max(1, int(timeline_seconds * 1000))
        self.in_flight = 0
        #: How many API keys are revoked now (live, like ``in_flight``).
        self.keys_revoked = 0
        self.reset()

    def reset(self) -> None:
        """Forget everything counted so far; the timeline starts again now.  ``in_flight`` and
        ``keys_revoked`` are live and are kept."""
        self.started_at: float = self._clock()
        self.total = 0
        self._by_method_status: dict[tuple[str, int], int] = {}
        self.patches_applied: dict[CampaignKey, int] = {}
        self.max_patches_per_campaign = 0
        self.status_changes: dict[CampaignKey, int] = {}
        self.max_status_changes_per_campaign = 0
        self._window: deque[float] = deque()
        self.max_starts_in_any_second = 0
        self.peak_in_flight = self.in_flight
        self.rate_limited = 0
        self.resets_before_store = 0
        self.resets_after_store = 0
        self.injected_failures = 0
        self.outage_rejections = 0
        self.unauthorized = 0
        self.revoked_rejections = 0
        self.failures_after_store = 0
        self.forbidden = 0
        self.outside_key_orgs = 0
        self.redirects = 0
        self.wrong_id_answers = 0
        self.deep_json_answers = 0
        self.patch_answers_differing = 0
        self.admin_edits = 0
        self._timeline = array("I")
        self._timeline_used = 0
        self.timeline_truncated = False

    # --- per request ---------------------------------------------------------------------------

    def request_started(self, now: float) -> None:
        self.total += 1
        self.in_flight += 1
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight
        window = self._window
        cutoff = now - 1.0
        while window and window[0] <= cutoff:
            window.popleft()
        window.append(now)
        if len(window) > self.max_starts_in_any_second:
            self.max_starts_in_any_second = len(window)
        slot = int((now - self.started_at) * 1000.0)
        if slot < 0:  # a request that started before a reset
            return
        if slot >= self._timeline_limit:
            self.timeline_truncated = True
            return
        timeline = self._timeline
        if slot >= len(timeline):
            grow = max(_GROW, slot + 1 - len(timeline))
            grow = min(grow, self._timeline_limit - len(timeline))
            timeline.frombytes(bytes(grow * timeline.itemsize))
        timeline[slot] += 1
        if slot >= self._timeline_used:
            self._timeline_used = slot + 1

    def request_finished(self, method: str, status: int) -> None:
        self.in_flight -= 1
        key = (method, status)
        self._by_method_status[key] = self._by_method_status.get(key, 0) + 1

    def patch_applied(self, key: CampaignKey) -> None:
        count = self.patches_applied.get(key, 0) + 1
        self.patches_applied[key] = count
        if count > self.max_patches_per_campaign:
            self.max_patches_per_campaign = count

    def status_changed(self, key: CampaignKey) -> None:
        count = self.status_changes.get(key, 0) + 1
        self.status_changes[key] = count
        if count > self.max_status_changes_per_campaign:
            self.max_status_changes_per_campaign = count

    # --- reading -------------------------------------------------------------------------------

    @property
    def resets(self) -> int:
        return self.resets_before_store + self.resets_after_store

    def by_method_status(self) -> dict[str, dict[str, int]]:
        """``{"GET": {"200": 10, "429": 2}, "PATCH": {"reset": 1}}``."""
        out: dict[str, dict[str, int]] = {}
        for (method, status), count in sorted(self._by_method_status.items()):
            label = "reset" if status == DROPPED else str(status)
            out.setdefault(method, {})[label] = count
        return out

    def count(self, method: str, status: int | str) -> int:
        """How many ``method`` requests got ``status`` (``"reset"`` for dropped ones)."""
        code = DROPPED if status == "reset" else int(status)
        return self._by_method_status.get((method, code), 0)

    def snapshot(self) -> dict[str, Any]:
        """Everything, JSON-ready (what ``GET /_sim/stats`` answers)."""
        return {
            "uptime_seconds": round(self._clock() - self.started_at, 3),
            "requests_total": self.total,
            "requests": self.by_method_status(),
            "patches_applied_total": sum(self.patches_applied.values()),
            "patches_applied": {str(k): v for k, v in self.patches_applied.items()},
            "max_patches_per_campaign": self.max_patches_per_campaign,
            "status_changes_total": sum(self.status_changes.values()),
            "status_changes": {str(k): v for k, v in self.status_changes.items()},
            "max_status_changes_per_campaign": self.max_status_changes_per_campaign,
            "max_starts_in_any_second": self.max_starts_in_any_second,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "rate_limited": self.rate_limited,
            "resets": self.resets,
            "resets_before_store": self.resets_before_store,
            "resets_after_store": self.resets_after_store,
            "injected_failures": self.injected_failures,
            "outage_rejections": self.outage_rejections,
            "unauthorized": self.unauthorized,
            "revoked_rejections": self.revoked_rejections,
            "keys_revoked": self.keys_revoked,
            "failures_after_store": self.failures_after_store,
            "forbidden": self.forbidden,
            "outside_key_orgs": self.outside_key_orgs,
            "redirects": self.redirects,
            "wrong_id_answers": self.wrong_id_answers,
            "deep_json_answers": self.deep_json_answers,
            "patch_answers_differing": self.patch_answers_differing,
            "admin_edits": self.admin_edits,
        }

    def timeline(self, bucket_ms: int) -> dict[str, Any]:
        """Request starts per ``bucket_ms`` since the start (or the last reset)."""
        if bucket_ms < 1:
            raise ValueError("bucket_ms must be >= 1")
        used = self._timeline_used
        counts = [
            sum(self._timeline[i : min(i + bucket_ms, used)]) for i in range(0, used, bucket_ms)
        ]
        return {
            "bucket_ms": bucket_ms,
            "counts": counts,
            "total": sum(counts),
            "truncated": self.timeline_truncated,
        }
