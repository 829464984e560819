"""One ``--rate`` ceiling shared by every process that uses the same Redis store and key.

``--rate-store redis://HOST:PORT/DB``: each process still paces itself
(``bulkpatch.transport.pacing``:
its own adaptive rate, cut on 429s); on top of that every request start takes a slot from
Redis, so the processes together never start more than ``R`` requests in any 1-second window,
the first second included.

How (GCRA with no burst, ``ratestore_reserve.lua``): the key holds the next free start slot on
Redis's clock. One script call reserves a slot (``slot = max(next, now)``; ``next = slot + T``)
and answers how long to wait for it: one round trip per start, no race between processes (a
script runs alone in Redis) and no need for synchronised clocks (only Redis's clock is read).
Slots are ``T = (1 + slack) / R`` apart, so ``R + 1`` consecutive slots span ``1 + slack``
seconds; the slack is room for the jitter between a slot and the server's count. It is the
process's own pacer's (:mod:`bulkpatch.transport.pacing`): at least ``SLACK`` (10 ms), wider while
the spread of recent latencies says requests are held up on their way; each reservation passes its
``T`` (the script adds it to the slot it hands out). A start never comes before its slot: it aims at
the moment the answer came plus the wait Redis gave. It may come after it: by the answer's way back,
by the time the answer waited to be read (a round trip longer than the shortest one seen) and by a
late wake-up (a stalled event loop). A start that would be more than ``MAX_LATE`` (5 ms) late by
those counts could crowd the next second, so the slot is given up and another reserved. The other
5 ms are for what cannot be seen from here: the shortest way back from Redis (a store on the same
network: well under a millisecond) and the way from ``acquire`` to the server. The price: 1% of the
rate (198/s for 200), and, on an overloaded machine, the slots given up.

While Redis cannot be reached, ``acquire`` pauses: one task probes with backoff while the others
wait, the outage is reported through ``on_outage`` / ``on_recover``, and after ``max_outage``
seconds without the store every ``acquire`` raises :class:`RateStoreUnavailable`.  There is no
fallback to an unshared rate.

The clock and the sleep are injectable, as in the pacer: tests drive outages on a fake clock.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import anyio
import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bulkpatch.core.errors import BulkpatchError, UsageError
from bulkpatch.core.text import shorten
from bulkpatch.transport.pacing import SLACK

#: A start later than this after its slot gives the slot up and takes another (seconds).
MAX_LATE = SLACK / 2
#: Backoff between probes while the store is unreachable (seconds): doubling, capped.
BACKOFF_FIRST = 0.05
BACKOFF_CAP = 1.0
#: How long one call to Redis may take before it counts as failed (seconds).
CALL_TIMEOUT = 1.0
KEY_PREFIX = "bulkpatch:rate:"
SCHEMES = ("redis", "rediss")

_SCRIPT = (
    resources.files("bulkpatch.transport").joinpath("ratestore_reserve.lua").read_text("utf-8")
)

#: Errors that mean "the store cannot be reached now": ride them out.
_TRANSIENT: tuple[type[BaseException], ...] = (
    rexc.ConnectionError,
    rexc.TimeoutError,
    rexc.ReadOnlyError,  # a replica, during a fail-over
    rexc.TryAgainError,
    rexc.ClusterDownError,
    OSError,
)
#: Errors that waiting will not fix (wrong password, no permission); so is any other error
#: answer (a key of another kind, a full store).
_REFUSED: tuple[type[BaseException], ...] = (
    rexc.AuthenticationError,
    rexc.AuthorizationError,
    rexc.NoPermissionError,
    rexc.AuthenticationWrongNumberOfArgsError,
)


class RateStoreUnavailable(BulkpatchError):
    """The shared rate store could not be used (unreachable for ``max_outage`` seconds, or it
    refused us): no request may start, so the run stops as aborted and can be resumed."""


# ----------------------------------------------------------------------------------------------
# Pure parts
# ----------------------------------------------------------------------------------------------


def store_display(url: str) -> str:
    """The store's URL as it may be shown: scheme, host, port and database, never a password.

    Raises :class:`UsageError` for anything but ``redis://`` or ``rediss://`` with a host.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UsageError(
            "--rate-store must be a URL like redis://HOST:PORT/DB; the one given cannot be read."
        ) from None
    if parts.scheme not in SCHEMES or not host:
        raise UsageError(
            f"--rate-store must be a redis:// or rediss:// URL with a host (for example "
            f"redis://127.0.0.1:6379/0), not {shorten(_without_password(url))!r}."
        )
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise UsageError(
            f"--rate-store: the database in {shorten(_without_password(url))!r} must be a "
            "number (redis://HOST:PORT/DB)."
        )
    shown_host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown_host}:{port or 6379}/{db or '0'}"


def _without_password(url: str) -> str:
    head, sep, tail = url.rpartition("@")
    if not sep:
        return url
    scheme, _, _ = head.partition("://")
    return f"{scheme}://…@{tail}"


def rate_key_name(base_url: str, api_key: str) -> str:
    """The Redis key of the rate shared by every process that sends with ``api_key`` to
    ``base_url``: the base URL and a one-way hash of the key, never the key itself."""
    digest = hashlib.blake2b(
        api_key.encode("utf-8"), digest_size=12, person=b"bulkpatch-rate"
    ).hexdigest()
    return f"{KEY_PREFIX}{base_url.rstrip('/')}:{digest}"


def slot_interval_us(rate: float, slack: float = SLACK) -> int:
    """Microseconds between two shared start slots at ceiling ``rate``: ``R + 1`` slots span
    ``1 + slack`` seconds, rounded up (never a faster rate than asked)."""
    if not (math.isfinite(rate) and rate > 0):
        raise UsageError("--rate-store needs a numeric --rate above 0 (the shared ceiling).")
    return math.ceil(1_000_000 * (1.0 + slack) / rate)


# ----------------------------------------------------------------------------------------------
# The shared rate
# ----------------------------------------------------------------------------------------------


class SharedRate:
    """Request starts under one ceiling shared through Redis (see the module's docstring).

    Made by :func:`open_rate_store`.  ``acquire`` returns when this process may start one
    request: call it last, right before sending.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        key_name: str,
        rate: float,
        max_outage: float,
        display: str,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        on_outage: Callable[[str], None] | None,
        on_recover: Callable[[], None] | None,
        slack: Callable[[], float] | None = None,
    ) -> None:
        self._client = client
        #: The room between a start and the server's count (seconds), as this process's pacer
        #: measures it from the spread of its latencies: the slots are spaced by it too.
        self._slack = slack or (lambda: SLACK)
        self._script = client.register_script(_SCRIPT)
        self.key_name = key_name
        self.rate = rate
        self.interval_us = slot_interval_us(rate)
        self.max_outage = max_outage
        self.display = display
        self._clock = clock
        self._sleep = sleep
        self._on_outage = on_outage
        self._on_recover = on_recover
        self._latest_slot_us = 0
        self._shortest_round_trip = math.inf
        self._outage: anyio.Event | None = None  # set while one task probes the store
        self._failure: RateStoreUnavailable | None = None
        # Counters, for the run's summary and the benchmark.
        self.round_trips = 0
        self.starts = 0
        self.missed_slots = 0
        self.outages = 0

    async def acquire(self) -> None:
        """Wait for a start slot under the shared ceiling.

        Raises :class:`RateStoreUnavailable` once the store has been unreachable for
        ``max_outage`` seconds (or refused us).
        """
        while True:
            target, doubt = await self._reserve()
            now = self._clock()
            if target > now:
                await self._sleep(target - now)
            if self._clock() - target + doubt <= MAX_LATE:
                self.starts += 1
                return
            # Woken too late: starting now could crowd the next second.  Give the slot up.
            self.missed_slots += 1

    async def check(self) -> None:
        """Wait until the store answers (a PING), riding out an outage as ``acquire`` does."""
        await self._call(self._client.ping)

    async def _reserve(self) -> tuple[float, float]:
        """Reserve one slot: when to start on our clock, and how late that may already be.

        Redis read its clock somewhere between sending and receiving, so aiming at
        ``received + wait`` never starts before the slot.  It may start after it by the time the
        answer took to be read: a round trip longer than the shortest one seen says the answer
        waited (for a stalled event loop, most often), and that excess counts as lateness.
        """
        self.interval_us = slot_interval_us(self.rate, max(SLACK, self._slack()))
        earliest = self._latest_slot_us + self.interval_us if self._latest_slot_us else 0
        reply, sent, received = await self._call(
            lambda: self._script(keys=[self.key_name], args=[self.interval_us, earliest])
        )
        slot_us, wait_us = int(reply[0]), int(reply[1])
        self._latest_slot_us = max(self._latest_slot_us, slot_us)
        doubt = max(0.0, (received - sent) - self._shortest_round_trip)
        return received + wait_us / 1_000_000, doubt

    async def _call(self, request: Callable[[], Awaitable[Any]]) -> tuple[Any, float, float]:
        """One round trip to the store: its answer, when it was sent and when it came back;
        outages ridden out."""
        while True:
            if self._failure is not None:
                raise self._failure
            if self._outage is not None:  # another task probes the store: wait for it
                await self._outage.wait()
                continue
            started = self._clock()
            try:
                self.round_trips += 1
                reply = await request()
            except _REFUSED as exc:
                self._failure = self._refused(exc)
                raise self._failure from None
            except _TRANSIENT as exc:
                await self._ride_out(started, exc)
                continue
            except rexc.RedisError as exc:  # an error answer: a key of another kind, full, ...
                self._failure = self._refused(exc)
                raise self._failure from None
            received = self._clock()
            self._shortest_round_trip = min(self._shortest_round_trip, received - started)
            return reply, started, received

    async def _ride_out(self, since: float, error: BaseException) -> None:
        """This task found the store unreachable: probe it with backoff until it answers
        (return) or ``max_outage`` has passed (raise); other tasks wait meanwhile."""
        if self._outage is not None:  # another task is already on it
            return
        self._outage = anyio.Event()
        self.outages += 1
        try:
            if self._on_outage is not None:
                self._on_outage(
                    f"the rate store {self.display} cannot be reached ({_reason(error)}); "
                    f"requests are paused, for up to {self.max_outage:g} s"
                )
            delay = BACKOFF_FIRST
            while True:
                down = self._clock() - since
                if down >= self.max_outage:
                    self._failure = RateStoreUnavailable(
                        f"The rate store {self.display} could not be reached for {down:.0f} s "
                        f"(--max-outage {self.max_outage:g} s; last error: {_reason(error)}), "
                        "so no request may start under the shared --rate. Bring Redis back "
                        "(or raise --max-outage) and resume the run (`bulkpatch resume RUN_DIR`, "
                        "with --rate-store URL for another store)."
                    )
                    raise self._failure
                await self._sleep(min(delay, self.max_outage - down))
                delay = min(delay * 2, BACKOFF_CAP)
                try:
                    self.round_trips += 1
                    await self._client.ping()
                except _REFUSED as exc:
                    self._failure = self._refused(exc)
                    raise self._failure from None
                except _TRANSIENT as exc:
                    error = exc
                    continue
                except rexc.RedisError as exc:
                    self._failure = self._refused(exc)
                    raise self._failure from None
                if self._on_recover is not None:
                    self._on_recover()
                return
        finally:
            event, self._outage = self._outage, None
            event.set()

    def _refused(self, error: BaseException) -> RateStoreUnavailable:
        return RateStoreUnavailable(
            f"The rate store {self.display} refused bulkpatch ({_reason(error)}). Check the "
            "user, password and permissions in --rate-store, and that nothing else uses keys "
            f"named {KEY_PREFIX}..., then resume the run (`bulkpatch resume RUN_DIR --rate-store "
            "URL` takes a corrected URL)."
        )

    async def aclose(self) -> None:
        """Close the connections to the store."""
        await self._client.aclose()


def _reason(error: BaseException) -> str:
    return shorten(str(error) or type(error).__name__, 120)


async def open_rate_store(
    url: str,
    *,
    key_name: str,
    rate: float,
    max_outage: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    on_outage: Callable[[str], None] | None = None,
    on_recover: Callable[[], None] | None = None,
    slack: Callable[[], float] | None = None,
) -> SharedRate:
    """Connect to the store at ``url`` and share ``rate`` under ``key_name``.

    Raises :class:`UsageError` for a URL that is not ``redis://`` / ``rediss://`` or a rate
    that is not a positive number, and :class:`RateStoreUnavailable` when the store cannot be
    reached within ``max_outage`` seconds (or refuses us).  Nothing is reserved here.
    """
    display = store_display(url)
    slot_interval_us(rate)
    if not (math.isfinite(max_outage) and max_outage >= 0):
        raise UsageError("--max-outage must be a number of seconds, 0 or more.")
    options: dict[str, Any] = {
        "socket_timeout": CALL_TIMEOUT,
        "socket_connect_timeout": CALL_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),  # outages are ridden out here, visibly
        "client_name": "bulkpatch",
    }
    try:
        client = aioredis.Redis.from_url(url, **options)
    except ValueError as exc:
        raise UsageError(f"--rate-store {display}: {_reason(exc)}.") from None
    shared = SharedRate(
        client,
        key_name=key_name,
        rate=rate,
        max_outage=max_outage,
        display=display,
        clock=clock,
        sleep=sleep,
        on_outage=on_outage,
        on_recover=on_recover,
        slack=slack,
    )
    try:
        await shared.check()
    except BaseException:
        await client.aclose()
        raise
    return shared
