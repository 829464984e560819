"""The simulator's knobs: one frozen, keyword-only dataclass, every fault off by default."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bulkpatch.models import CampaignStatus

#: The simulator's default API key.  A fake key: it opens nothing but the simulator.
DEFAULT_API_KEY = "sim-key"
DEFAULT_ORG = "org-demo"
DEFAULT_WORKSPACE = "ws-demo"

#: The realistic mix of statuses: mostly editable, some running, a few finished.
DEFAULT_STATUS_WEIGHTS: tuple[tuple[CampaignStatus, float], ...] = (
    ("paused", 0.40),
    ("scheduled", 0.35),
    ("active", 0.15),
    ("ended", 0.06),
    ("cancelled", 0.04),
)


@dataclass(frozen=True, kw_only=True)
class SimulatorConfig:
    """Everything the simulator can be told.  Faults are off unless set."""

    # --- auth --------------------------------------------------------------------------------
    #: The key every API request must carry in ``X-API-Key``.
    api_key: str = DEFAULT_API_KEY
    #: More accepted keys (each has its own rate-limit window and revocation counter).
    extra_api_keys: tuple[str, ...] = ()

    # --- population --------------------------------------------------------------------------
    #: Seeds the population and every fault decision.
    seed: int = 0
    #: Generate this many campaigns ``cmp-000001`` ... in ``org_id`` / ``workspace_id``.
    generate: int = 0
    org_id: str = DEFAULT_ORG
    workspace_id: str = DEFAULT_WORKSPACE
    #: These campaigns exist too (keys as tuples or anything with the key attributes).
    campaigns: tuple[Any, ...] = ()
    #: Per campaign, dotted path -> value set after generation, e.g. ``{"status": "active"}``.
    #: A campaign named here exists even when it is not in ``campaigns``.
    overrides: Mapping[Any, Mapping[str, Any]] = field(default_factory=dict)
    #: The status mix the population is drawn from.
    status_weights: tuple[tuple[CampaignStatus, float], ...] = DEFAULT_STATUS_WEIGHTS
    #: Generated timestamps are spread around this instant (default: today, 00:00 UTC).
    anchor: datetime | None = None

    # --- faults ------------------------------------------------------------------------------
    #: Most requests accepted per API key in any sliding 1-second window; more get 429.
    rate_limit: int | None = None
    #: Added before the answer of every accepted request (after auth and the rate limit).
    latency_ms: float = 0.0
    #: Uniform jitter around ``latency_ms``: the delay is latency ± jitter (never below 0).
    latency_jitter_ms: float = 0.0
    #: Share of accepted requests answered 500/502/503 (JSON or HTML body) with nothing stored.
    fail_rate: float = 0.0
    #: Share of accepted requests whose connection is dropped without an answer.
    reset_rate: float = 0.0
    #: Of the dropped requests, the share dropped *after* the change was stored.
    reset_after_share: float = 0.5
    #: ``(start, duration)`` in seconds after the server started: every API request answers 503.
    outage: tuple[float, float] | None = None
    #: Each key is revoked after this many requests; later requests with it get 401.
    revoke_after: int | None = None
    #: Most ``active`` + ``scheduled`` campaigns per org, checked on resume (None: no limit).
    live_limit_per_org: int | None = None
    #: PATCHes of these campaigns are refused with 400 and this message, whatever they hold:
    #: a refusal no client-side check can foresee (keys as for ``overrides``).
    refuse_patches: Mapping[Any, str] = field(default_factory=dict)

    # --- housekeeping ------------------------------------------------------------------------
    #: ``/_sim/timeline`` keeps 1-ms counts for this long after start (or the last stats reset).
    timeline_seconds: float = 3600.0
    #: How long shutdown waits for requests still in flight.
    shutdown_timeout: float = 1.0

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not self.api_key:
            problems.append("api_key must not be empty")
        if self.generate < 0:
            problems.append("generate must be >= 0")
        if self.rate_limit is not None and self.rate_limit < 1:
            problems.append("rate_limit must be >= 1 request per second")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            problems.append("latency_ms and latency_jitter_ms must be >= 0")
        for name in ("fail_rate", "reset_rate", "reset_after_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0 or math.isnan(value):
                problems.append(f"{name} must be between 0 and 1")
        if self.outage is not None and (self.outage[0] < 0 or self.outage[1] <= 0):
            problems.append("outage must be (start >= 0, duration > 0) seconds")
        if self.revoke_after is not None and self.revoke_after < 0:
            problems.append("revoke_after must be >= 0")
        if self.live_limit_per_org is not None and self.live_limit_per_org < 0:
            problems.append("live_limit_per_org must be >= 0")
        if not self.status_weights or any(w < 0 for _, w in self.status_weights):
            problems.append("status_weights must be non-empty and not negative")
        elif sum(w for _, w in self.status_weights) <= 0:
            problems.append("status_weights must not all be zero")
        if self.anchor is not None and self.anchor.tzinfo is None:
            problems.append("anchor must carry a time zone")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def api_keys(self) -> frozenset[str]:
        return frozenset((self.api_key, *self.extra_api_keys))
