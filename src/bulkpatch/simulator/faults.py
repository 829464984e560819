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
#: How deep the ``deep_json_rate`` answer nests its lists.
DEEP_JSON_LEVELS = 100_000
#: The ``deep_json_rate`` answer: well-formed JSON, a list in a list ... 100,000 deep.
DEEP_JSON = b"[" * DEEP_JSON_LEVELS + b"]" * DEEP_JSON_LEVELS
#: A change stored, then its answer lost: an app error or a proxy giving up on the backend.
_AFTER_STORE_STATUSES = (500, 502, 504)


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
        self._after_store_rng = random.Random(f"{seed}|fail-after-store")
        self._wrong_id_rng = random.Random(f"{seed}|wrong-id")
        self._deep_json_rng = random.Random(f"{seed}|deep-json")
        self._answer_differs_rng = random.Random(f"{seed}|patch-answer-differs")
        self._windows: dict[str, deque[float]] = {}
        self._uses: dict[str, int] = {}
        self._revoked: set[str] = set()
        # Precomputed switches: the fault-free path does no work.
        self.rate_limit = config.rate_limit
        self.revoke_after = config.revoke_after
        #: key -> requests it may make before it is revoked (only keys that have a limit).
        self._revoke_limits: dict[str, int] = {}
        if config.revoke_after is not None:
            self._revoke_limits = dict.fromkeys(config.api_keys, config.revoke_after)
        self._revoke_limits.update(config.revoke_keys_after)
        #: True when any key can be, or has been, revoked.
        self.checks_revocation = bool(self._revoke_limits)
        #: key -> the orgs it may act on (None: every key may act on every org).
        self.key_orgs: dict[str, frozenset[str]] | None = (
            {key: frozenset(orgs) for key, orgs in config.key_orgs.items()}
            if config.key_orgs
            else None
        )
        self.forbid: frozenset[str] = frozenset(config.forbid)
        #: True when some requests answer 403 (keys limited to orgs, forbidden campaigns).
        self.refuses = self.key_orgs is not None or bool(self.forbid)
        #: (status, URL without a trailing slash) of the redirect every request answers.
        self.redirect: tuple[int, str] | None = (
            (config.redirect_status, config.redirect_to.rstrip("/")) if config.redirect_to else None
        )
        self.fail_after_store_rate = config.fail_after_store_rate
        self.wrong_id_rate = config.wrong_id_rate
        self.deep_json_rate = config.deep_json_rate
        self.patch_answer_differs_rate = config.patch_answer_differs_rate
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
        """Count one request with ``api_key``; True once the key is revoked: by ``revoke()``, or
        after its limit of requests (``revoke_after``, ``revoke_keys_after``)."""
        if api_key in self._revoked:
            return True
        limit = self._revoke_limits.get(api_key)
        if limit is None:
            return False
        uses = self._uses.get(api_key, 0) + 1
        self._uses[api_key] = uses
        if uses > limit:
            self._revoked.add(api_key)
            return True
        return False

    def revoke(self, api_key: str) -> bool:
        """Revoke ``api_key`` now; False if it was revoked already."""
        self.checks_revocation = True
        if api_key in self._revoked:
            return False
        self._revoked.add(api_key)
        return True

    @property
    def revoked_count(self) -> int:
        """How many keys are revoked."""
        return len(self._revoked)

    def may_act_on(self, api_key: str, org_id: str) -> bool:
        """False when ``api_key`` is limited to some orgs and ``org_id`` is not one of them."""
        if self.key_orgs is None:
            return True
        orgs = self.key_orgs.get(api_key)
        return orgs is None or org_id in orgs

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

    def failure_after_store(self) -> Failure | None:
        """For a change that was stored: the 5xx that replaces its answer, if any."""
        rng = self._after_store_rng
        if not self.fail_after_store_rate or rng.random() >= self.fail_after_store_rate:
            return None
        return Failure(status=rng.choice(_AFTER_STORE_STATUSES), html=rng.random() < 0.5)

    def wrong_id(self) -> float | None:
        """For a campaign GET: None to answer it, or a number in [0, 1) that picks which other
        campaign answers instead."""
        rng = self._wrong_id_rng
        if not self.wrong_id_rate or rng.random() >= self.wrong_id_rate:
            return None
        return rng.random()

    def deep_json(self) -> bool:
        """For a GET: True to answer it with :data:`DEEP_JSON` instead."""
        return bool(self.deep_json_rate) and self._deep_json_rng.random() < self.deep_json_rate

    def answer_differs(self) -> str | None:
        """For a stored PATCH: None to answer it as stored, else which field of its answer to
        change (``"campaign_id"`` or ``"app_version"``)."""
        rng = self._answer_differs_rng
        if not self.patch_answer_differs_rate or rng.random() >= self.patch_answer_differs_rate:
            return None
        return "campaign_id" if rng.random() < 0.5 else "app_version"

    def reset(self) -> Reset | None:
        if not self.reset_rate or self._reset_rng.random() >= self.reset_rate:
            return None
        after = self._reset_rng.random() < self.config.reset_after_share
        return Reset.AFTER_STORE if after else Reset.BEFORE_STORE
