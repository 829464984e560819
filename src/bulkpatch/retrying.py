"""What an HTTP result means, and how long to wait before trying again (SPEC section 6).

Pure functions: a status code and a body in, a verdict out; an attempt number and a random source
in, a delay out.  The sender (``client.py``) and the row procedure (``engine.py``) decide *when*;
this module decides *what*.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum

from bulkpatch.text import shorten

#: Statuses that are worth trying again.
TRANSIENT_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Statuses that mean the key is wrong: the run stops at once.
AUTH_STATUSES: frozenset[int] = frozenset({401, 403})

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 120.0


class Verdict(Enum):
    OK = "ok"  # 2xx
    TRANSIENT = "transient"  # try again later
    PERMANENT = "permanent"  # the API refused this request: `rejected`
    AUTH = "auth"  # the key is wrong: stop the run
    NOT_FOUND = "not_found"  # a permanent refusal worth naming


def classify_status(status: int) -> Verdict:
    if 200 <= status < 300:
        return Verdict.OK
    if status in AUTH_STATUSES:
        return Verdict.AUTH
    if status in TRANSIENT_STATUSES:
        return Verdict.TRANSIENT
    if status == 404:
        return Verdict.NOT_FOUND
    if 400 <= status < 500:
        return Verdict.PERMANENT
    # Any other 5xx (501, 505, ...) and anything stranger: the server is unwell, not our row.
    return Verdict.TRANSIENT


def error_message(status: int, body: str) -> str:
    """The API's own words for an error, from either known shape, else the (shortened) text.

    * FastAPI: ``{"detail": "..."}`` or ``{"detail": [{"loc": [...], "msg": "..."}]}``
    * Sarvam's other APIs: ``{"error": {"message": "...", "code": "..."}}``
    """
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        detail = data.get("detail")
        if isinstance(detail, str) and detail:
            return detail
        if isinstance(detail, list) and detail:
            parts = []
            for item in detail:
                if isinstance(item, dict):
                    loc = item.get("loc") or []
                    where = ".".join(str(p) for p in loc if p != "body")
                    msg = str(item.get("msg", "")).removeprefix("Value error, ")
                    parts.append(f"{where}: {msg}" if where else msg)
                else:
                    parts.append(str(item))
            return shorten("; ".join(parts), 300)
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            code = error.get("code")
            return f"{error['message']} ({code})" if code else str(error["message"])
        if isinstance(error, str) and error:
            return error
        if isinstance(data.get("message"), str):
            return str(data["message"])
    text = shorten(" ".join(body.split()), 300) if body and body.strip() else ""
    return f"HTTP {status}: {text}" if text else f"HTTP {status}"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Unreadable or negative values give None (no floor); the result is capped at 120 s.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    seconds: float
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)  # a date in the past means "now"


def backoff_delay(
    attempt: int,
    *,
    retry_after: float | None = None,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """Delay before attempt ``attempt + 1``, after ``attempt`` (>= 1) failed.

    Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempt-1))].
    ``Retry-After`` (already capped) is a floor.
    """
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = uniform(0.0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay
