"""The edge that talks HTTP: one aiohttp session, and the one place that maps foreign errors.

Every request of a run goes through :meth:`ApiClient.send`, which waits for the key's breaker and
pacer (and the shared rate, if any), sends, and turns whatever happened into a
:class:`~bulkpatch.transport.replies.Reply` -- a value, never an exception -- whose kind the pacer,
the breaker and the key guard then act on.  aiohttp and timeout exceptions are mapped here and only
here.

Each API key has a :class:`Lane`: its headers, its pacer, its breaker and its guard.  A run with
one key has one lane; ``--keys-file`` gives each org's key a lane of its own, so a revoked key
stops only its own org's rows.

The API key travels only in the ``X-API-Key`` header; no text built here can contain it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from bulkpatch.core import telemetry
from bulkpatch.core.errors import BulkpatchError
from bulkpatch.core.jsontext import dumps
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.urls import campaign_path, check_base_url, workspace_path
from bulkpatch.transport.breaker import Admission, Breaker
from bulkpatch.transport.pacing import Pacer
from bulkpatch.transport.replies import (
    MAX_BODY_BYTES,
    Kind,
    Reply,
    answer_reply,
    is_success,
    parse_retry_after,
    transport_reply,
)
from bulkpatch.transport.retrybudget import RetryBudget

#: 403s from this many different campaigns, with no success between them, mean the key is
#: refused (a wrong key looks like that); fewer are per-campaign refusals (``rejected``).
FORBIDDEN_CAMPAIGNS = 3
#: A path made only of characters that need no encoding (campaign paths: their ids are checked).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/_-]*")


class SharedRate(Protocol):
    """A rate ceiling shared with other processes (``--rate-store``)."""

    async def acquire(self) -> None: ...


class KeyGuard:
    """Tells a refused key from a refused campaign.

    A 401 refuses the key at once.  A 403 refuses one campaign; 403s from
    :data:`FORBIDDEN_CAMPAIGNS` different campaigns with no success between them refuse the key.
    """

    def __init__(self, limit: int = FORBIDDEN_CAMPAIGNS) -> None:
        self._limit = limit
        self._forbidden: set[str] = set()
        self.refused: str = ""

    def record(self, reply: Reply, campaign: str) -> str:
        """Note a reply; returns why the key is refused, once it is (else "")."""
        if self.refused:
            return self.refused
        if reply.kind is Kind.AUTH:
            self.refused = f"HTTP {reply.status}: {reply.message}"
        elif reply.kind is Kind.FORBIDDEN:
            self._forbidden.add(campaign)
            if len(self._forbidden) >= self._limit:
                self.refused = (
                    f"HTTP 403 for {len(self._forbidden)} different campaigns in a row, "
                    f"the last: {reply.message}"
                )
        elif reply.kind is Kind.OK:
            self._forbidden.clear()
        return self.refused


#: How messages name the one key of a run without a keys file.
DEFAULT_LABEL = "the API key"


@dataclass(eq=False)
class Lane:
    """One API key's way to the API: its pacer, breaker and guard."""

    #: How messages name this key: "the API key", or "the key for org org-a".
    label: str
    api_key: str = field(repr=False)
    pacer: Pacer
    breaker: Breaker
    guard: KeyGuard = field(default_factory=KeyGuard)
    shared: SharedRate | None = None

    def __post_init__(self) -> None:
        # Built once as aiohttp's own header type, which it takes without converting.
        self.headers = CIMultiDict({"X-API-Key": self.api_key, "Accept": "application/json"})
        self.json_headers = CIMultiDict({**self.headers, "Content-Type": "application/json"})


ReplyHook = Callable[[Reply], None]
RefusedHook = Callable[[Lane, str], None]


class ApiClient:
    """Sends the Scheduling API's requests through one session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        lanes: Callable[[str], Lane],
        budget: RetryBudget,
        timeout: float,
        on_reply: ReplyHook | None = None,
        on_start: Callable[[], None] | None = None,
        on_refused: RefusedHook | None = None,
        on_store_failed: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._base = check_base_url(base_url)
        self._base_url = URL(self._base)
        self._base_path = self._base_url.raw_path.rstrip("/")
        self._lanes = lanes
        self._budget = budget
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._on_reply = on_reply
        self._on_start = on_start
        self._on_refused = on_refused
        self._on_store_failed = on_store_failed
        self._clock = clock

    def lane(self, org_id: str) -> Lane:
        return self._lanes(org_id)

    async def get_campaign(self, key: CampaignKey) -> Reply:
        return await self.send(key, "GET", campaign_path(key))

    async def patch_campaign(self, key: CampaignKey, body: Mapping[str, Any]) -> Reply:
        return await self.send(key, "PATCH", campaign_path(key), body)

    async def set_status(self, key: CampaignKey, action: str) -> Reply:
        return await self.send(key, "PUT", campaign_path(key) + "/status", {"action": action})

    async def list_page(
        self, org_id: str, workspace_id: str, query: Mapping[str, str] | str
    ) -> Reply:
        """One page of ``GET /campaigns``: ``query`` as parameters, or a path+query the API gave
        (``next_page_uri``), already checked to stay on this API."""
        if isinstance(query, str):
            path = query
        else:
            path = workspace_path(org_id, workspace_id) + "/campaigns?" + urlencode(query)
        return await self.send(CampaignKey(org_id, workspace_id, ""), "GET", path)

    async def send(
        self,
        key: CampaignKey,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
    ) -> Reply:
        """Wait for the key's breaker and pacer, send, and describe what happened."""
        lane = self._lanes(key.org_id)
        if lane.guard.refused:
            return Reply(
                method,
                Kind.STOPPED,
                message=f"not sent: the API refused {lane.label} ({lane.guard.refused})",
            )
        breaker = lane.breaker
        # A closed breaker admits at once (the common case): no coroutine to await.
        admission = Admission.GO if breaker.is_closed else await breaker.admit()
        if admission is Admission.STOP:
            return Reply(method, Kind.STOPPED, message="not sent: the run is stopping")
        probe = admission is Admission.PROBE
        try:
            await lane.pacer.acquire()
            if lane.shared is not None:
                try:
                    await lane.shared.acquire()
                except BulkpatchError as exc:  # the shared rate's store is gone for good
                    if probe:
                        breaker.abandon()
                    if self._on_store_failed is not None:
                        self._on_store_failed(str(exc))
                    return Reply(method, Kind.STOPPED, message=f"not sent: {exc}")
            started = self._clock()
            if self._on_start is not None:
                self._on_start()
            with telemetry.current().request_span(method, self._base, path) as span:
                reply = await self._send_once(lane, method, path, body, started)
                span.replied(reply.status, "" if reply.status is not None else reply.message)
        except BaseException:
            if probe:
                breaker.abandon()
            raise
        self._budget.note_request()
        if breaker.record(reply, probe=probe):
            reply = replace(reply, systemic=True)
        if reply.answered:
            lane.pacer.answered(reply.latency)  # the pacer's slack follows the latency spread
        if reply.slow_down:
            lane.pacer.throttled(sent_at=started)
        elif reply.answered and not reply.server_failure:
            lane.pacer.succeeded()
        if self._on_reply is not None:
            self._on_reply(reply)
        kind = reply.kind
        if (kind is Kind.OK or kind is Kind.AUTH or kind is Kind.FORBIDDEN) and key.campaign_id:
            was = lane.guard.refused
            why = lane.guard.record(reply, key.campaign_id)
            if why and not was and self._on_refused is not None:
                self._on_refused(lane, why)
            if kind is Kind.AUTH and lane.label != DEFAULT_LABEL:  # say whose key it was
                reply = replace(reply, message=f"{lane.label}: {reply.message}")
        return reply

    def _url(self, path: str) -> URL | str:
        """The request's URL.  A campaign path (checked ids, nothing to encode) is joined to the
        parsed base URL directly, which spares aiohttp parsing a new URL string per request."""
        if _PLAIN_PATH.fullmatch(path):
            return self._base_url.with_path(self._base_path + path, encoded=True)
        return self._base + path

    def _no_answer(self, method: str, error: str, started: float, *, sent: bool = True) -> Reply:
        """A request without a (whole) answer; ``sent``: it may have reached the server."""
        return transport_reply(method, error, maybe_sent=sent, latency=self._clock() - started)

    async def _send_once(
        self,
        lane: Lane,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        started: float,
    ) -> Reply:
        """One exchange; the reply's latency runs from ``started`` to the whole answer."""
        payload = None if body is None else dumps(body)
        headers = lane.headers if payload is None else lane.json_headers
        headers = telemetry.current().headers(headers)  # traceparent, with telemetry on
        try:
            async with self._session.request(
                method,
                self._url(path),
                data=payload,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                location = response.headers.get("Location")
                try:
                    raw, cut = await read_body(response)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    # The status line came back but the body did not.
                    if is_success(status):
                        return self._no_answer(method, f"answer cut short ({_name(exc)})", started)
                    raw, cut = b"", False
        except aiohttp.ClientConnectorError as exc:
            return self._no_answer(method, f"cannot connect ({_name(exc)})", started, sent=False)
        except TimeoutError:
            return self._no_answer(method, "timed out", started)
        except aiohttp.ClientError as exc:
            return self._no_answer(method, f"connection lost ({_name(exc)})", started)
        return answer_reply(
            method,
            status,
            raw,
            retry_after=retry_after,
            location=location,
            latency=self._clock() - started,
            cut=cut,
        )


async def read_body(
    response: aiohttp.ClientResponse, limit: int = MAX_BODY_BYTES
) -> tuple[bytes, bool]:
    """The answer's body, at most ``limit`` bytes of it, and whether it was longer (the rest is
    not read: the connection is then closed, not reused)."""
    length = response.content_length
    if length is not None and length <= limit and "Content-Encoding" not in response.headers:
        return await response.read(), False  # the common case: a known, modest length
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            chunks.append(chunk[: len(chunk) - (size - limit)])
            return b"".join(chunks), True
        chunks.append(chunk)
    return b"".join(chunks), False


def _name(exc: BaseException) -> str:
    # The class name says enough and can never carry a header value.
    return type(exc).__name__


def new_session(concurrency: int) -> aiohttp.ClientSession:
    """The run's one session: a connection pool sized to the concurrency."""
    connector = aiohttp.TCPConnector(
        limit=concurrency, limit_per_host=concurrency, ttl_dns_cache=300
    )
    return aiohttp.ClientSession(connector=connector, raise_for_status=False, trust_env=False)
