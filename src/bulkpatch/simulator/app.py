"""The aiohttp.web application: the API's routes behind the fault gate, and ``/_sim/*``.

Every API route is wrapped by :func:`_ApiGate.wrap`, which counts the request and applies the
faults in the order a real deployment would meet them (each step only when its fault is on):

    redirect (3xx) -> outage (503) -> auth (401) -> revoked key (401) -> rate limit (429)
    -> latency -> injected failure (5xx) -> dropped before store
    -> key not allowed on the org (403) -> forbidden campaign (403)
    -> the handler (a GET may answer another campaign: wrong id; or JSON nested too deep; a
       PATCH's answer may differ from what it stored)
    -> dropped after store, or failed after store (a stored change answered 5xx)

The redirect, the outage and the rate limit belong to the front (load balancer, gateway); the
403s to the application, after the gateway's failures; a change is stored by the handler.

The latency is counted from the request's arrival: the handler (validation, the change, the
answer's body) runs at once, and the answer -- or the 5xx, or the drop -- is released at arrival
plus the latency (at once if the work took longer).  A 5xx or a drop before store still stores
nothing; a drop or a failure after store still stores.  Error bodies (shape, hostile text,
padding) are written by :class:`~bulkpatch.simulator.error_bodies.ErrorWriter`.

``/_sim/*`` routes (``bulkpatch.simulator.admin``) are neither counted nor faulted.  No
per-request work is done for a fault that is off, and GET answers the cached JSON of the campaign
without touching pydantic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bulkpatch.core.rows import CampaignKey
from bulkpatch.simulator import errors
from bulkpatch.simulator.admin import admin_routes
from bulkpatch.simulator.config import acting_user
from bulkpatch.simulator.error_bodies import ErrorWriter
from bulkpatch.simulator.faults import DEEP_JSON, FaultPlan, Reset
from bulkpatch.simulator.listing import page_body, parse_query
from bulkpatch.simulator.state import SimulatorState
from bulkpatch.simulator.stats import DROPPED

API_ROOT = "/api/scheduling"
WORKSPACE_PATH = API_ROOT + "/v1/orgs/{org_id}/workspaces/{workspace_id}"
API_KEY_HEADER = "X-API-Key"

STATE_KEY = web.AppKey("state", SimulatorState)
FAULTS_KEY = web.AppKey("faults", FaultPlan)

_LINGER_RESET = struct.pack("ii", 1, 0)

Handler = Callable[[web.Request, CampaignKey | None, str], Awaitable[web.Response]]

#: Who a key acts as (kept here under its older name).
updated_by = acting_user


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=_dumps(value), status=status, content_type="application/json")


def drop_connection(request: web.Request) -> web.Response:
    """Close the connection at once (a TCP reset where the platform allows it) without any
    answer.  aiohttp then fails to write the returned placeholder and lets the request go."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # platform dependent
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        transport.abort()
    return web.Response(status=500)


async def _until(due: float) -> None:
    """Sleep until ``due`` on the monotonic clock: not at all when it has passed or is 0 (the
    latency fault is off)."""
    if due:
        left = due - time.monotonic()
        if left > 0:
            await asyncio.sleep(left)


class _ApiGate:
    """Counts each API request and applies the faults around its handler."""

    def __init__(self, state: SimulatorState, faults: FaultPlan, write: ErrorWriter) -> None:
        self.state = state
        self.stats = state.stats
        self.faults = faults
        self.write = write
        self.keys = state.config.api_keys
        self._updated_by = {key: acting_user(key) for key in self.keys}

    def wrap(
        self, handler: Handler, *, changes: bool = False
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """``changes``: the handler stores a change (PATCH, PUT status), so its answer may be
        failed after store."""
        stats = self.stats

        async def gated(request: web.Request) -> web.StreamResponse:
            now = time.monotonic()
            stats.request_started(now)
            status = DROPPED
            try:
                response, status = await self._serve(request, handler, now, changes)
                return response
            finally:
                stats.request_finished(request.method, status)

        return gated

    async def _serve(
        self, request: web.Request, handler: Handler, now: float, changes: bool
    ) -> tuple[web.Response, int]:
        faults = self.faults
        stats = self.stats
        if faults.redirect is not None:
            stats.redirects += 1
            return self._redirect(request, *faults.redirect), faults.redirect[0]
        if faults.outage is not None and faults.in_outage(now):
            stats.outage_rejections += 1
            return self._error(_OUTAGE)
        api_key = request.headers.get(API_KEY_HEADER)
        if api_key is None or api_key not in self.keys:
            stats.unauthorized += 1
            message = errors.MISSING_KEY_MESSAGE if not api_key else errors.WRONG_KEY_MESSAGE
            return self._error(errors.detail(errors.UNAUTHORIZED_STATUS, message))
        if faults.checks_revocation and faults.revoked(api_key):
            stats.unauthorized += 1
            stats.revoked_rejections += 1
            stats.keys_revoked = faults.revoked_count
            return self._error(_REVOKED)
        if faults.rate_limit is not None:
            retry_after = faults.retry_after(api_key, now)
            if retry_after is not None:
                stats.rate_limited += 1
                return self._error(self._rate_limited(retry_after))
        # Latency is measured from the request's arrival (``now``): the work is done at once and
        # only the rest of the delay is slept, so answers that fall due together do not queue
        # behind each other's processing.  Every answer, failures and drops included, waits.
        due = 0.0
        if faults.has_latency:
            due = now + faults.latency()
            # Requests read in the same turn of the loop all take their arrival time before any
            # of them does its work; else each one's latency would start after the others' work.
            await asyncio.sleep(0)
        failure = faults.failure() if faults.fail_rate else None
        if failure is not None:
            await _until(due)
            stats.injected_failures += 1
            return self.write.failure(failure.status, failure.html), failure.status
        reset = faults.reset() if faults.reset_rate else None
        if reset is Reset.BEFORE_STORE:
            await _until(due)
            stats.resets_before_store += 1
            return drop_connection(request), DROPPED
        match = request.match_info
        key: CampaignKey | None = None
        if "campaign_id" in match:
            key = CampaignKey(match["org_id"], match["workspace_id"], match["campaign_id"])
        try:
            if faults.refuses:
                self._check_access(api_key, match["org_id"], key)
            response = await handler(request, key, self._updated_by[api_key])
        except errors.ApiError as exc:
            response = self.write.response(exc)
        except Exception:
            await _until(due)  # an unexpected error is late too (a cancellation is not held up)
            raise
        await _until(due)
        if reset is Reset.AFTER_STORE:
            stats.resets_after_store += 1
            return drop_connection(request), DROPPED
        if changes and faults.fail_after_store_rate and response.status < 300:
            failure = faults.failure_after_store()
            if failure is not None:
                stats.failures_after_store += 1
                return self.write.failure(failure.status, failure.html), failure.status
        return response, response.status

    def _check_access(self, api_key: str, org_id: str, key: CampaignKey | None) -> None:
        """Raise the 403 of a key not allowed on the org, or of a forbidden campaign."""
        if not self.faults.may_act_on(api_key, org_id):
            self.stats.outside_key_orgs += 1
            message = errors.FORBIDDEN_ORG_MESSAGE.format(org_id=org_id)
            raise errors.detail(errors.FORBIDDEN_STATUS, message)
        if key is not None and key.campaign_id in self.faults.forbid:
            self.stats.forbidden += 1
            raise errors.detail(errors.FORBIDDEN_STATUS, errors.FORBIDDEN_CAMPAIGN_MESSAGE)

    def _error(self, exc: errors.ApiError) -> tuple[web.Response, int]:
        return self.write.response(exc), exc.status

    def _redirect(self, request: web.Request, status: int, target: str) -> web.Response:
        location = target + request.raw_path
        return web.Response(
            status=status,
            headers={"Location": location},
            text=f"Redirecting to {location}\n",
            content_type="text/plain",
        )

    def _rate_limited(self, retry_after: int) -> errors.ApiError:
        return errors.sarvam_error(
            errors.RATE_LIMITED_STATUS,
            f"Rate limit exceeded: at most {self.faults.rate_limit} requests per second "
            "per API key",
            "rate_limit_exceeded",
            headers={"Retry-After": str(retry_after)},
        )


_REVOKED = errors.detail(errors.UNAUTHORIZED_STATUS, errors.REVOKED_KEY_MESSAGE)
_OUTAGE = errors.sarvam_error(
    errors.OUTAGE_STATUS, "Service temporarily unavailable", "service_unavailable"
)


# --- API handlers -------------------------------------------------------------------------------


def _api_handlers(state: SimulatorState, faults: FaultPlan) -> dict[str, Handler]:
    config = state.config
    stats = state.stats
    hostile = config.hostile_text

    def deep_json() -> web.Response | None:
        if not (faults.deep_json_rate and faults.deep_json()):
            return None
        stats.deep_json_answers += 1
        return web.Response(body=DEEP_JSON, content_type="application/json")

    async def get_campaign(request: web.Request, key: CampaignKey | None, who: str) -> web.Response:
        assert key is not None
        body = state.campaign_json(key)
        if faults.deep_json_rate and (deep := deep_json()) is not None:
            return deep
        if faults.wrong_id_rate:
            pick = faults.wrong_id()
            other = state.other_campaign_json(key, pick) if pick is not None else None
            if other is not None:
                stats.wrong_id_answers += 1
                body = other
        return web.Response(body=body, content_type="application/json")

    def summary(value: dict[str, Any]) -> web.Response:
        if hostile:  # the answer only: the stored campaign keeps its real stamp
            value["updated_at"] = f"={value['updated_at']}"
        return json_response(value)

    async def patch_campaign(
        request: web.Request, key: CampaignKey | None, who: str
    ) -> web.Response:
        assert key is not None
        answer = state.apply_patch(key, await request.read(), who)
        if faults.patch_answer_differs_rate:
            differs = faults.answer_differs()
            if differs is not None:
                stats.patch_answers_differing += 1
                answer = differing(answer, differs)
        return summary(answer)

    async def put_status(request: web.Request, key: CampaignKey | None, who: str) -> web.Response:
        assert key is not None
        return summary(state.change_status(key, await request.read(), who))

    async def list_campaigns(
        request: web.Request, key: CampaignKey | None, who: str
    ) -> web.Response:
        query = parse_query(request.query)
        if faults.deep_json_rate and (deep := deep_json()) is not None:
            return deep
        match = request.match_info
        items, total = state.list_campaigns(
            match["org_id"],
            match["workspace_id"],
            offset=query.offset,
            limit=query.limit,
            status=query.status,
            search=query.search,
            sort_by=query.sort_by,
            sort_order=query.sort_order,
        )
        links = config.next_page_uri
        url = request.url if links == "absolute" else request.rel_url
        return json_response(
            page_body(items, total, query, url, shape=config.list_shape, links=links)
        )

    return {
        "get": get_campaign,
        "patch": patch_campaign,
        "status": put_status,
        "list": list_campaigns,
    }


def differing(answer: dict[str, Any], field: str) -> dict[str, Any]:
    """A PATCH's answer with ``field`` other than stored: another campaign's id, or the next
    ``app_version``."""
    if field == "campaign_id":
        return {**answer, "campaign_id": f"{answer.get('campaign_id')}-other"}
    version = answer.get("app_version")
    return {**answer, "app_version": version + 1 if isinstance(version, int) else 1}


def build_app(state: SimulatorState, faults: FaultPlan | None = None) -> web.Application:
    """The simulator's web application over ``state``."""
    faults = faults or FaultPlan(state.config)
    app = web.Application()
    app[STATE_KEY] = state
    app[FAULTS_KEY] = faults
    gate = _ApiGate(state, faults, ErrorWriter(state.config))
    handlers = _api_handlers(state, faults)
    one = WORKSPACE_PATH + "/campaigns/{campaign_id}"
    app.router.add_routes(
        [
            web.get(one, gate.wrap(handlers["get"])),
            web.patch(one, gate.wrap(handlers["patch"], changes=True)),
            web.put(one + "/status", gate.wrap(handlers["status"], changes=True)),
            web.get(WORKSPACE_PATH + "/campaigns", gate.wrap(handlers["list"])),
            *admin_routes(state, faults),
        ]
    )
    return app
