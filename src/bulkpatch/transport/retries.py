"""One retry loop for every request: GET, PATCH and PUT status.

:func:`send_with_retries` sends, and on a reply that is worth another try waits (exponential
backoff with full jitter, ``Retry-After`` as a floor) and sends again, up to ``max_attempts``.
A write whose outcome is unknown (``Kind.UNKNOWN``) is never sent again blindly: the ``read_back``
callback looks at the campaign first, and the write is repeated only if the change is not there.

What counts against ``max_attempts``: each failed send, except one that failed while the whole
API was failing (``reply.systemic``: the breaker pauses everyone, so it is not the row's fault).
``Sent.sent`` counts requests actually sent (the report's ``attempts`` for a PATCH).

The clock, the sleep and the random source are injected (:class:`RetryPolicy`), so tests run
retries and outages on a fake clock.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

import anyio

from bulkpatch.core import telemetry
from bulkpatch.transport.replies import Kind, Reply

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


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
        delay = max(delay, retry_after)
    return delay


class Check(Enum):
    """What reading a campaign back said about a write whose outcome was unknown."""

    HOLDS = "holds"  # the change is in place
    ABSENT = "absent"  # it is not: send it again
    UNCLEAR = "unclear"  # the read failed too: nobody can tell


@dataclass(frozen=True, slots=True)
class ReadBack:
    check: Check
    #: The GET's reply (its data is the campaign when the read worked).
    reply: Reply


async def _never_stop() -> bool:
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How hard to try.  Every knob is keyword-only; the defaults are the command line's."""

    max_attempts: int = 5
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    uniform: Callable[[float, float], float] = random.uniform
    #: Called after each retry's wait, before sending again; False stops retrying (the run is
    #: stopping).  It may wait (for room in the retry budget).
    permit: Callable[[], Awaitable[bool]] = _never_stop
    #: Counted per retry (the run's statistics).
    on_retry: Callable[[Reply], None] = field(default=lambda reply: None)


@dataclass(frozen=True, slots=True)
class Sent:
    """How a request with retries ended."""

    #: The last reply; after a read-back that settled it, the read-back's GET reply.
    reply: Reply
    #: Requests of this kind actually sent.
    sent: int
    #: The write's outcome was unknown and reading back showed it in place.
    confirmed: bool = False
    #: The write may have been applied and nobody could tell (the read-back failed too).
    unsettled: bool = False
    #: The reply that made the outcome unknown (for the reason text).
    unclear: Reply | None = None

    @property
    def ok(self) -> bool:
        return self.reply.ok or self.confirmed


async def send_with_retries(
    send: Callable[[], Awaitable[Reply]],
    *,
    policy: RetryPolicy,
    read_back: Callable[[], Awaitable[ReadBack]] | None = None,
    on_send: Callable[[int], bool] | None = None,
) -> Sent:
    """Send until it succeeds, is refused, runs out of attempts, or the run stops.

    ``read_back`` settles an ``UNKNOWN`` reply (a write).  ``on_send(n)`` runs before the n-th
    send (the journal's ``sent`` line); when it returns False nothing is sent and the last
    reply stands (a journal that cannot be written must not let a write out).
    """
    strikes = sent = 0
    unclear: Reply | None = None
    reply: Reply | None = None
    while True:
        if on_send is not None and not on_send(sent + 1):
            if reply is None:
                return Sent(reply=Reply("", Kind.STOPPED, message="not sent"), sent=sent)
            return Sent(reply=reply, sent=sent, unsettled=unclear is not None, unclear=unclear)
        resent = telemetry.RESENDS.set(sent)  # http.request.resend_count, with telemetry on
        try:
            reply = await send()
        finally:
            telemetry.RESENDS.reset(resent)
        if reply.kind is Kind.STOPPED:
            return Sent(reply=reply, sent=sent, unsettled=unclear is not None, unclear=unclear)
        sent += 1
        if not reply.systemic:
            strikes += 1
        if reply.kind is Kind.UNKNOWN and read_back is not None:
            unclear = reply
            looked = await read_back()
            if looked.check is Check.HOLDS:
                return Sent(reply=looked.reply, sent=sent, confirmed=True, unclear=reply)
            if looked.check is Check.UNCLEAR:
                return Sent(reply=reply, sent=sent, unsettled=True, unclear=reply)
            # Not there: it was not applied, so it is safe to send again.
            unclear = None
        elif reply.kind is Kind.UNKNOWN:  # a write, and no way to look: never resend blindly
            return Sent(reply=reply, sent=sent, unsettled=True, unclear=reply)
        elif not reply.kind.retryable:
            return Sent(reply=reply, sent=sent)
        if strikes >= policy.max_attempts:
            return Sent(reply=reply, sent=sent)
        policy.on_retry(reply)
        delay = backoff_delay(
            max(strikes, 1), retry_after=reply.retry_after, uniform=policy.uniform
        )
        telemetry.current().retrying(reply.status, delay)
        await policy.sleep(delay)
        if not await policy.permit():
            return Sent(reply=reply, sent=sent)
