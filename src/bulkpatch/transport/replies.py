"""What an HTTP exchange came to: one classification, made once, that every part switches on.

The client (``client.py``) maps whatever happened -- an answer, a transport error, a timeout --
into a :class:`Reply` whose :class:`Kind` is decided here, by pure functions.  The pacer, the
circuit breaker, the retry loop and the row executor all read ``reply.kind`` or a predicate
defined here (:attr:`Reply.answered`, :attr:`Reply.server_failure`, :func:`is_success`,
:func:`refuses_campaign`); nothing else looks at status codes.

    Kind
     ├── OK          2xx with a readable body (an empty body is fine for a status change)
     ├── THROTTLED   429: not processed; slow down, then try again
     ├── TRANSIENT   not processed, or a read: try again (connect errors, 408, 425, and for a
     │               GET also 5xx, timeouts, lost connections and unreadable 2xx)
     ├── UNKNOWN     a PATCH or PUT that may have been applied: 5xx, timeout, connection lost
     │               after sending, unreadable 2xx -- read the campaign back before re-sending
     ├── AUTH        401: the key is wrong; stop using it
     ├── FORBIDDEN   403: this campaign is refused to this key (several in a row: the key)
     ├── NOT_FOUND   404
     ├── REJECTED    any other 4xx, and redirects (never followed: they would carry the key)
     └── STOPPED     not sent: the run is stopping

Status codes the reference does not document are guesses kept in the sets below, so that a guess
that turns out wrong is a one-line change.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any

from bulkpatch.core.jsontext import loads
from bulkpatch.core.text import cap, printable, shorten

#: Not processed by the server: safe to send again, for every method.
NOT_PROCESSED_STATUSES: frozenset[int] = frozenset({408, 425})
#: 503 with a ``Retry-After`` is also a "too fast" signal for the pacer.
RETRY_AFTER_CAP = 120.0
#: How much of the API's own error text a message keeps.
MESSAGE_LIMIT = 300
#: Room kept for " … [cut: N more characters]" within MESSAGE_LIMIT.
_CUT_NOTE_ROOM = 40
#: Methods that change a campaign: an unclear answer to them is an unknown outcome.
WRITES: frozenset[str] = frozenset({"PATCH", "PUT"})
#: The most bytes of an answer's body that are read (a page of 100 campaigns is far less); a
#: longer 2xx body is unreadable, a longer error body is read for its message as far as this.
MAX_BODY_BYTES = 16 * 1024 * 1024
#: The deepest nesting of objects and lists an answer is parsed with (a campaign nests about 5
#: deep; a page of the list 2 more).  Deeper answers are unreadable, never parsed: a parser --
#: and everything that walks the parsed value -- recurses once per level.
MAX_JSON_DEPTH = 64
#: A JSON string (skipped whole) or one bracket.
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class Kind(Enum):
    OK = "ok"
    THROTTLED = "throttled"
    TRANSIENT = "transient"
    UNKNOWN = "unknown"
    AUTH = "auth"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    REJECTED = "rejected"
    STOPPED = "stopped"

    @property
    def retryable(self) -> bool:
        """Worth sending again as it is (after a pause)."""
        return self in (Kind.THROTTLED, Kind.TRANSIENT)

    @property
    def refusal(self) -> bool:
        """The API answered and refused: sending it again will not help."""
        return self in (Kind.AUTH, Kind.FORBIDDEN, Kind.NOT_FOUND, Kind.REJECTED)


@dataclass(frozen=True, slots=True)
class Reply:
    """What one HTTP request came to."""

    method: str
    kind: Kind
    status: int | None = None
    data: Any = None
    #: The API's own words for an error, or what went wrong in transport (printable, capped).
    message: str = ""
    retry_after: float | None = None
    latency: float = 0.0
    #: The server said "too fast" (a 429, or a 503 with Retry-After): the pacer slows down.
    slow_down: bool = False
    #: It failed while the whole API was failing (the breaker was open or opened on it).
    systemic: bool = False

    @property
    def ok(self) -> bool:
        return self.kind is Kind.OK

    @property
    def answered(self) -> bool:
        """The server answered with a status line (whatever the status)."""
        return self.status is not None

    @property
    def server_failure(self) -> bool:
        """A failure of the server as a whole: no answer, or a 5xx (never a 4xx or a 429)."""
        if self.status is None:
            return self.kind in (Kind.TRANSIENT, Kind.UNKNOWN)
        return self.status >= 500

    def describe(self) -> str:
        """``HTTP 503: busy`` or ``timed out``: short, for a reason column."""
        if self.status is None:
            return self.message or self.kind.value
        if self.message and not self.message.startswith("HTTP "):
            return f"HTTP {self.status}: {self.message}"
        return self.message or f"HTTP {self.status}"


def is_success(status: int) -> bool:
    """A 2xx status: the request was carried out (if its body can be read)."""
    return 200 <= status < 300


def refuses_campaign(status: int | None) -> bool:
    """A row's recorded status is the API refusing that one campaign to the key (a 403)."""
    return status is not None and classify_answer("GET", status, readable=True) is Kind.FORBIDDEN


def classify_answer(method: str, status: int, *, readable: bool) -> Kind:
    """The kind of an answer with a status line."""
    if is_success(status):
        if readable:
            return Kind.OK
        return Kind.UNKNOWN if method in WRITES else Kind.TRANSIENT
    if status == 429:
        return Kind.THROTTLED
    if status in NOT_PROCESSED_STATUSES:
        return Kind.TRANSIENT
    if status == 401:
        return Kind.AUTH
    if status == 403:
        return Kind.FORBIDDEN
    if status == 404:
        return Kind.NOT_FOUND
    if 300 <= status < 500:
        return Kind.REJECTED
    # 5xx and anything stranger: the server is unwell.  A write may still have been applied
    # (a gateway timing out after the backend stored the change).
    return Kind.UNKNOWN if method in WRITES else Kind.TRANSIENT


def classify_no_answer(method: str, *, maybe_sent: bool) -> Kind:
    """The kind of a request that got no answer.  ``maybe_sent``: it may have reached the
    server (lost after sending, or timed out); else connecting failed and it never left."""
    if maybe_sent and method in WRITES:
        return Kind.UNKNOWN
    return Kind.TRANSIENT


class TooDeep(ValueError):
    """A JSON text nested deeper than :data:`MAX_JSON_DEPTH`."""


def too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON ``text`` nests objects and lists more than ``limit`` deep (brackets
    inside strings do not count).  Counting the brackets first keeps the common answer cheap."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > limit:
                return True
        elif token == "]" or token == "}":
            depth -= 1
    return False


def load_json(text: str) -> Any:
    """``json.loads`` bounded in depth: :class:`ValueError` (:class:`TooDeep` when nested too
    deep) for a text that cannot be read, never a ``RecursionError``."""
    if too_deep(text):
        raise TooDeep(f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return loads(text)
    except RecursionError:  # not reached under the bound; kept so that nothing escapes
        raise TooDeep("nested too deep to read") from None


def answer_reply(
    method: str,
    status: int,
    body: bytes,
    *,
    retry_after: float | None = None,
    location: str | None = None,
    latency: float = 0.0,
    cut: bool = False,
) -> Reply:
    """A :class:`Reply` for an answer with a status line and a body (read whole, or ``cut`` at
    :data:`MAX_BODY_BYTES`)."""
    text = body.decode("utf-8", errors="replace")
    data: Any = None
    readable = True
    why = ""
    if cut and 200 <= status < 300:
        readable, why = False, f"longer than {MAX_BODY_BYTES // (1024 * 1024)} MiB"
    elif text:
        try:
            data = load_json(text)
        except TooDeep as exc:
            readable, why = not (200 <= status < 300), str(exc)
        except ValueError:
            readable = not is_success(status)
        else:
            # A GET answers a campaign (an object) or a page of the list, which may be a bare
            # JSON list; the reader of each checks the shape it needs.
            wanted = (dict, list) if method == "GET" else dict
            if is_success(status) and method != "PUT" and not isinstance(data, wanted):
                readable = False
    elif is_success(status) and method != "PUT":
        readable = False  # a GET or PATCH must answer the campaign
    kind = classify_answer(method, status, readable=readable)
    if kind is Kind.OK:
        message = ""
    elif 300 <= status < 400:
        where = printable(location) if location else "an address it did not give"
        message = f"the API redirected to {shorten(where, 200)}; check --base-url"
    elif is_success(status):
        message = f"HTTP {status} with an unreadable answer" + (f" ({why})" if why else "")
    else:
        message = error_message(status, text)
    return Reply(
        method,
        kind,
        status=status,
        data=data if kind is Kind.OK else None,
        message=message,
        retry_after=retry_after,
        latency=latency,
        slow_down=status == 429 or (status == 503 and retry_after is not None),
    )


def transport_reply(method: str, error: str, *, maybe_sent: bool, latency: float = 0.0) -> Reply:
    """A :class:`Reply` for a request that got no answer."""
    return Reply(
        method, classify_no_answer(method, maybe_sent=maybe_sent), message=error, latency=latency
    )


def stopped_reply(method: str) -> Reply:
    return Reply(method, Kind.STOPPED, message="not sent: the run is stopping")


def error_message(status: int, body: str) -> str:
    """The API's own words for an error, from either known shape, else the (shortened) text.

    * FastAPI: ``{"detail": "..."}`` or ``{"detail": [{"loc": [...], "msg": "..."}]}``
    * Sarvam's other APIs: ``{"error": {"message": "...", "code": "..."}}``

    The result is printable (no control characters) and capped, saying how much was cut: it is
    server text.
    """
    try:
        data = load_json(body) if body else None
    except ValueError:
        data = None
    found = _message_in(data)
    if found:
        return _capped(printable(found))
    text = " ".join(printable(body).split()) if body else ""
    text = _capped(text)
    return f"HTTP {status}: {text}" if text else f"HTTP {status}"


def _capped(text: str) -> str:
    """At most MESSAGE_LIMIT characters, the cut note included (it says how much was cut)."""
    if len(text) <= MESSAGE_LIMIT:
        return text
    return cap(text, MESSAGE_LIMIT - _CUT_NOTE_ROOM)


def _message_in(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    detail = data.get("detail")
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail:
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = item.get("loc") or []
                where = (
                    ".".join(str(p) for p in loc if p != "body") if isinstance(loc, list) else ""
                )
                msg = str(item.get("msg", "")).removeprefix("Value error, ")
                parts.append(f"{where}: {msg}" if where else msg)
            else:
                parts.append(str(item))
        return "; ".join(parts)
    error = data.get("error")
    if isinstance(error, dict) and error.get("message"):
        code = error.get("code")
        return f"{error['message']} ({code})" if code else str(error["message"])
    if isinstance(error, str) and error:
        return error
    message = data.get("message")
    return message if isinstance(message, str) else ""


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
