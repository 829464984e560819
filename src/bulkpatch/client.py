"""The edge that talks HTTP: one aiohttp session, one pacer, one place that maps foreign errors.

Every request of a run goes through :meth:`ApiClient.send`, which waits for the pacer, sends, and
turns whatever happened into a :class:`Reply` — a value, never an exception — so the row procedure
can decide with pure functions.  aiohttp and timeout exceptions are mapped here and only here:

    Reply
     ├── status is set             the server answered (any status)
     │    └── unreadable           a 2xx whose body could not be read (outcome unknown)
     └── status is None            no answer
          ├── not_sent             connecting failed: the request never left (safe to resend)
          └── maybe_sent           lost after sending, or timed out: the outcome is unknown

The API key travels only in the ``X-API-Key`` header; no text built here can contain it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from bulkpatch.health import Admission, Health
from bulkpatch.pacing import Pacer
from bulkpatch.retrying import parse_retry_after
from bulkpatch.rows import CampaignKey
from bulkpatch.urls import campaign_path, check_base_url


@dataclass(frozen=True, slots=True)
class Reply:
    """What one HTTP request came to."""

    method: str
    status: int | None = None
    data: Any = None
    text: str = ""
    #: No answer: the error, in words (never the key).
    error: str = ""
    #: No answer, and the request may have reached the server.
    maybe_sent: bool = False
    #: A 2xx whose body could not be read.
    unreadable: bool = False
    retry_after: float | None = None
    latency: float = 0.0
    #: It failed while the whole API was failing (the breaker): not the row's fault.
    systemic: bool = False
    #: Not sent: the run is stopping (an outage outlasted --max-outage).
    stopped: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.unreadable

    @property
    def outcome_unknown(self) -> bool:
        """The server may or may not have acted on it: look before sending again."""
        return self.maybe_sent or self.unreadable

    def describe(self) -> str:
        if self.status is None:
            return self.error
        return f"HTTP {self.status}"


RequestHook = Callable[[Reply], None]


class ApiClient:
    """Sends the Scheduling API's requests through one session and one pacer."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        pacer: Pacer,
        health: Health,
        timeout: float,
        on_reply: RequestHook | None = None,
    ) -> None:
        self._session = session
        self._base = check_base_url(base_url)
        self._headers = {"X-API-Key": api_key, "Accept": "application/json"}
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        self._pacer = pacer
        self._health = health
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._on_reply = on_reply

    async def get_campaign(self, key: CampaignKey) -> Reply:
        return await self.send("GET", campaign_path(key))

    async def patch_campaign(self, key: CampaignKey, body: dict[str, Any]) -> Reply:
        return await self.send("PATCH", campaign_path(key), body)

    async def set_status(self, key: CampaignKey, action: str) -> Reply:
        return await self.send("PUT", campaign_path(key) + "/status", {"action": action})

    async def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Reply:
        """Wait for the breaker and the pacer, send, and describe what happened."""
        admission = await self._health.admit()
        if admission is Admission.STOP:
            return Reply(method, error="not sent: the run is stopping", stopped=True)
        probe = admission is Admission.PROBE
        try:
            await self._pacer.acquire()
            started = time.monotonic()
            reply = await self._send_once(method, path, body)
        except BaseException:
            if probe:
                self._health.abandon()
            raise
        reply = replace(reply, latency=time.monotonic() - started)
        if self._health.record(reply, probe=probe):
            reply = replace(reply, systemic=True)
        if reply.status == 429 or (reply.status == 503 and reply.retry_after is not None):
            self._pacer.throttled(sent_at=started)
        elif reply.status is not None and reply.status < 500:
            self._pacer.succeeded()
        if self._on_reply is not None:
            self._on_reply(reply)
        return reply

    async def _send_once(self, method: str, path: str, body: dict[str, Any] | None) -> Reply:
        payload = None if body is None else json.dumps(body, separators=(",", ":"))
        headers = self._headers if payload is None else self._json_headers
        try:
            async with self._session.request(
                method,
                self._base + path,
                data=payload,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                try:
                    raw = await response.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    # The status line came back but the body did not.
                    return Reply(
                        method,
                        status=status,
                        unreadable=200 <= status < 300,
                        error=f"answer cut short ({_name(exc)})",
                        retry_after=retry_after,
                    )
        except aiohttp.ClientConnectorError as exc:
            return Reply(method, error=f"cannot connect ({_name(exc)})")
        except TimeoutError:
            return Reply(method, error="timed out", maybe_sent=method != "GET")
        except aiohttp.ClientError as exc:
            return Reply(
                method, error=f"connection lost ({_name(exc)})", maybe_sent=method != "GET"
            )
        text = raw.decode("utf-8", errors="replace")
        data: Any = None
        unreadable = False
        if text:
            try:
                data = json.loads(text)
            except ValueError:
                unreadable = 200 <= status < 300
        elif 200 <= status < 300 and method != "PUT":
            unreadable = True
        return Reply(
            method,
            status=status,
            data=data,
            text=text,
            unreadable=unreadable,
            retry_after=retry_after,
        )


def _name(exc: BaseException) -> str:
    # The class name says enough and can never carry a header value.
    return type(exc).__name__


def new_session(concurrency: int) -> aiohttp.ClientSession:
    """The run's one session: a connection pool sized to the concurrency."""
    connector = aiohttp.TCPConnector(
        limit=concurrency, limit_per_host=concurrency, ttl_dns_cache=300
    )
    return aiohttp.ClientSession(connector=connector, raise_for_status=False, trust_env=False)
