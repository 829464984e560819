"""The simulator's knobs: one frozen, keyword-only dataclass, every fault off by default."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from bulkpatch.core.models import CampaignStatus

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

#: The body shapes a 4xx answer can take: FastAPI's ``{"detail": ...}``, the ``{"error":
#: {"message", "code"}}`` of Sarvam's other APIs, or the two in turn.
ErrorShape = Literal["detail", "sarvam", "alternate"]
ERROR_SHAPES: tuple[ErrorShape, ...] = ("detail", "sarvam", "alternate")
#: Where the list puts its items: under one of these keys, or a bare JSON list (``bare``).
ListShape = Literal["items", "campaigns", "data", "results", "bare"]
LIST_SHAPES: tuple[ListShape, ...] = ("items", "campaigns", "data", "results", "bare")
#: How the list links its pages: a server-root path with the query, a full URL, or not at all.
PageUriForm = Literal["path", "absolute", "none"]
PAGE_URI_FORMS: tuple[PageUriForm, ...] = ("path", "absolute", "none")
REDIRECT_STATUSES = (301, 302, 307, 308)
NOT_EDITABLE_STATUSES = (400, 409, 422)


def acting_user(api_key: str) -> str:
    """Who a key acts as (its ``updated_by``): a stable name derived from the key, never the
    key itself."""
    return "apikey-" + hashlib.sha256(api_key.encode()).hexdigest()[:10]


#: The shares of requests a fault meets (each from 0 to 1), as :meth:`SimulatorConfig.fault_summary`
#: names them, in its order.
_RATE_WORDS: dict[str, str] = {
    "fail_rate": "fail rate",
    "reset_rate": "reset rate",
    "fail_after_store_rate": "fail-after-store rate",
    "wrong_id_rate": "wrong-id rate",
    "deep_json_rate": "deep-JSON rate",
    "patch_answer_differs_rate": "PATCH-answer-differs rate",
}


@dataclass(frozen=True, kw_only=True)
class SimulatorConfig:
    """Everything the simulator can be told.  Faults are off unless set."""

    # --- auth --------------------------------------------------------------------------------
    #: The key every API request must carry in ``X-API-Key``.
    api_key: str = DEFAULT_API_KEY
    #: More accepted keys (each has its own rate-limit window and revocation counter).
    extra_api_keys: tuple[str, ...] = ()
    #: key -> the orgs it may act on; a request about another org answers 403.  A key not named
    #: here may act on every org.
    key_orgs: Mapping[str, Collection[str]] = field(default_factory=dict)

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
    #: key -> revoked after this many requests with it (for that key, instead of
    #: ``revoke_after``).  ``POST /_sim/revoke`` revokes a key at once.
    revoke_keys_after: Mapping[str, int] = field(default_factory=dict)
    #: Share of stored PATCHes and status changes whose answer is then lost to a 500/502/504
    #: (JSON or HTML body): the change *is* stored.
    fail_after_store_rate: float = 0.0
    #: Every API request about these campaign ids (in any org/workspace) answers 403; the
    #: list still shows them.
    forbid: Collection[str] = ()
    #: Every API request answers a redirect to this URL + the request's path and query.
    redirect_to: str | None = None
    #: The redirect's status: 301, 302, 307 or 308.
    redirect_status: int = 307
    #: Share of campaign GETs answered with *another* existing campaign's detail.
    wrong_id_rate: float = 0.0
    #: Share of GETs (a campaign, a page of the list) answered 200 with a JSON body nested
    #: :data:`DEEP_JSON_LEVELS` deep (a parser that recurses per level dies on it).
    deep_json_rate: float = 0.0
    #: Share of stored PATCHes answered 200 with a body that differs from what was stored:
    #: half name another campaign (``campaign_id``), half another ``app_version``.  The change
    #: is stored as sent.
    patch_answer_differs_rate: float = 0.0
    #: Most ``active`` + ``scheduled`` campaigns per org, checked on resume (None: no limit).
    live_limit_per_org: int | None = None
    #: PATCHes of these campaigns are refused with 400 and this message, whatever they hold:
    #: a refusal no client-side check can foresee (keys as for ``overrides``).
    refuse_patches: Mapping[Any, str] = field(default_factory=dict)

    # --- shapes the API's documentation leaves open ------------------------------------------
    #: The body of 4xx answers (429 keeps the gateway's ``{"error": ...}`` shape).
    error_shape: ErrorShape = "detail"
    #: The status of a PATCH refused because the campaign is not paused or scheduled.
    not_editable_status: int = 409
    #: Where the list puts its items (``bare``: a JSON list, no ``total``, no page links).
    list_shape: ListShape = "items"
    #: How the list links the next and previous pages (``none``: no links; page by offset).
    next_page_uri: PageUriForm = "path"

    # --- hostile text ------------------------------------------------------------------------
    #: Error messages carry rich markup, a formula start and control characters; PATCH and PUT
    #: answers carry an ``updated_at`` starting with ``=``; generated descriptions hold markup
    #: and formula text.
    hostile_text: bool = False
    #: Every error body is padded to at least this many bytes (0: not padded).
    error_body_bytes: int = 0

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
        for name in (*_RATE_WORDS, "reset_after_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0 or math.isnan(value):
                problems.append(f"{name} must be between 0 and 1")
        if self.outage is not None and (self.outage[0] < 0 or self.outage[1] <= 0):
            problems.append("outage must be (start >= 0, duration > 0) seconds")
        if self.revoke_after is not None and self.revoke_after < 0:
            problems.append("revoke_after must be >= 0")
        problems += self._key_problems()
        problems += self._shape_problems()
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

    def _key_problems(self) -> list[str]:
        problems: list[str] = []
        keys = self.api_keys
        if any(not key for key in self.extra_api_keys):
            problems.append("extra_api_keys must not hold an empty key")
        if any(key not in keys for key in self.key_orgs):
            problems.append("key_orgs must name only accepted keys (api_key, extra_api_keys)")
        if any(isinstance(orgs, str) or not orgs for orgs in self.key_orgs.values()):
            problems.append("key_orgs must give each key a non-empty collection of org ids")
        if any(key not in keys for key in self.revoke_keys_after):
            problems.append("revoke_keys_after must name only accepted keys")
        if any(n < 0 for n in self.revoke_keys_after.values()):
            problems.append("revoke_keys_after counts must be >= 0")
        if isinstance(self.forbid, str):
            problems.append("forbid must be a collection of campaign ids, not one string")
        return problems

    def _shape_problems(self) -> list[str]:
        problems: list[str] = []
        if self.redirect_to is not None:
            parts = urlsplit(self.redirect_to)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                problems.append("redirect_to must be an http:// or https:// URL")
        if self.redirect_status not in REDIRECT_STATUSES:
            problems.append("redirect_status must be 301, 302, 307 or 308")
        if self.not_editable_status not in NOT_EDITABLE_STATUSES:
            problems.append("not_editable_status must be 400, 409 or 422")
        if self.error_shape not in ERROR_SHAPES:
            problems.append("error_shape must be detail, sarvam or alternate")
        if self.list_shape not in LIST_SHAPES:
            problems.append("list_shape must be items, campaigns, data, results or bare")
        if self.next_page_uri not in PAGE_URI_FORMS:
            problems.append("next_page_uri must be path, absolute or none")
        if self.error_body_bytes < 0:
            problems.append("error_body_bytes must be >= 0")
        return problems

    @property
    def api_keys(self) -> frozenset[str]:
        return frozenset((self.api_key, *self.extra_api_keys))

    def fault_summary(self) -> str:
        """The faults that are on, in words (no key is named)."""
        parts: list[str] = []
        if self.rate_limit is not None:
            parts.append(f"rate limit {self.rate_limit}/s per key")
        if self.latency_ms or self.latency_jitter_ms:
            parts.append(f"latency {self.latency_ms:g}±{self.latency_jitter_ms:g} ms")
        parts += [
            f"{words} {getattr(self, name):g}"
            for name, words in _RATE_WORDS.items()
            if getattr(self, name)
        ]
        if self.outage is not None:
            parts.append(f"outage {self.outage[1]:g} s from {self.outage[0]:g} s")
        if self.revoke_after is not None:
            parts.append(f"key revoked after {self.revoke_after} requests")
        if self.live_limit_per_org is not None:
            parts.append(f"at most {self.live_limit_per_org} live campaigns per org")
        if self.forbid:
            parts.append(f"{len(self.forbid)} campaigns forbidden (403)")
        if self.redirect_to:
            parts.append(f"redirect ({self.redirect_status}) to {self.redirect_to}")
        if self.hostile_text:
            parts.append("hostile text")
        if self.error_body_bytes:
            parts.append(f"error bodies >= {self.error_body_bytes} bytes")
        if self.key_orgs:
            parts.append(f"{len(self.key_orgs)} keys limited to some orgs")
        if self.revoke_keys_after:
            parts.append(f"{len(self.revoke_keys_after)} keys revoked after some requests")
        return ", ".join(parts) or "none"

    def shape_summary(self) -> str:
        """The answers' shapes where they differ from the defaults, in words."""
        parts: list[str] = []
        if self.error_shape != "detail":
            parts.append(f"4xx bodies {self.error_shape}")
        if self.not_editable_status != 409:
            parts.append(f"not editable -> {self.not_editable_status}")
        if self.list_shape != "items":
            parts.append(f"list shape {self.list_shape}")
        if self.next_page_uri != "path":
            parts.append(f"page links {self.next_page_uri}")
        return ", ".join(parts)
