"""The aiohttp.web application: the API's routes behind the fault gate, and ``/_sim/*``.

Every API route is wrapped by :func:`_ApiGate.wrap`, which counts the request and applies the
faults in the order a real deployment would meet them:

    outage (503) -> auth (401) -> revoked key (401) -> rate limit (429) -> latency
    -> injected failure (5xx) -> dropped before store -> the handler -> dropped after store

The latency is counted from the request's arrival: the handler (validation, the change, the
answer's body) runs at once, and the answer -- or the 5xx, or the drop -- is released at arrival
plus the latency (at once if the work took longer).  A 5xx or a drop before store still stores
nothing, a drop after store still stores.

``/_sim/*`` routes are neither counted nor faulted.  No per-request work is done for a fault that
is off, and GET answers the cached JSON of the campaign without touching pydantic.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

from bulkpatch.models import CampaignStatus
from bulkpatch.rows import CampaignKey
from bulkpatch.simulator import errors
from bulkpatch.simulator.faults import FaultPlan, Reset
from bulkpatch.simulator.state import MAX_PAGE, SORT_FIELDS, SimulatorState
from bulkpatch.simulator.stats import DROPPED

API_ROOT = "/api/scheduling"
WORKSPACE_PATH = API_ROOT + "/v1/orgs/{org_id}/workspaces/{workspace_id}"
API_KEY_HEADER = "X-API-Key"

STATE_KEY = web.AppKey("state", SimulatorState)
FAULTS_KEY = web.AppKey("faults", FaultPlan)

_STATUSES: frozenset[str] = frozenset(CampaignStatus.__args__)  # type: ignore[attr-defined]
_LINGER_RESET = struct.pack("ii", 1, 0)

Handler = Callable[[web.Request, CampaignKey | None, str], Awaitable[web.Response]]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=_dumps(value), status=status, content_type="application/json")


def error_response(exc: errors.ApiError) -> web.Response:
    response = json_response(exc.body, exc.status)
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


def updated_by(api_key: str) -> str:
    """Who a key acts as: a stable name derived from the key, never the key itself."""
    return "apikey-" + hashlib.sha256(api_key.encode()).hexdigest()[:10]


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

    def __init__(self, state: SimulatorState, faults: FaultPlan) -> None:
        self.state = state
        self.stats = state.stats
        self.faults = faults
        self.keys = state.config.api_keys
        self._updated_by = {key: updated_by(key) for key in self.keys}

    def wrap(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        stats = self.stats

        async def gated(request: web.Request) -> web.StreamResponse:
            now = time.monotonic()
            stats.request_started(now)
            status = DROPPED
            try:
                response, status = await self._serve(request, handler, now)
                return response
            finally:
                stats.request_finished(request.method, status)

        return gated

    async def _serve(
        self, request: web.Request, handler: Handler, now: float
    ) -> tuple[web.Response, int]:
        faults = self.faults
        stats = self.stats
        if faults.outage is not None and faults.in_outage(now):
            stats.outage_rejections += 1
            return self._outage(), errors.OUTAGE_STATUS
        api_key = request.headers.get(API_KEY_HEADER)
        if api_key is None or api_key not in self.keys:
            stats.unauthorized += 1
            message = errors.MISSING_KEY_MESSAGE if not api_key else errors.WRONG_KEY_MESSAGE
            response = error_response(errors.detail(errors.UNAUTHORIZED_STATUS, message))
            return response, errors.UNAUTHORIZED_STATUS
        if faults.revoke_after is not None and faults.revoked(api_key):
            stats.unauthorized += 1
            revoked = errors.detail(errors.UNAUTHORIZED_STATUS, errors.REVOKED_KEY_MESSAGE)
            return error_response(revoked), errors.UNAUTHORIZED_STATUS
        if faults.rate_limit is not None:
            retry_after = faults.retry_after(api_key, now)
            if retry_after is not None:
                stats.rate_limited += 1
                return self._rate_limited(retry_after), errors.RATE_LIMITED_STATUS
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
            return self._failure(failure.status, failure.html), failure.status
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
            response = await handler(request, key, self._updated_by[api_key])
        except errors.ApiError as exc:
            response = error_response(exc)
        except Exception:
            await _until(due)  # an unexpected error is late too (a cancellation is not held up)
            raise
        await _until(due)
        if reset is Reset.AFTER_STORE:
            stats.resets_after_store += 1
            return drop_connection(request), DROPPED
        return response, response.status

    def _outage(self) -> web.Response:
        return error_response(
            errors.sarvam_error(
                errors.OUTAGE_STATUS,
                "Service temporarily unavailable",
                "service_unavailable",
            )
        )

    def _rate_limited(self, retry_after: int) -> web.Response:
        limit = self.faults.rate_limit
        return error_response(
            errors.sarvam_error(
                errors.RATE_LIMITED_STATUS,
                f"Rate limit exceeded: at most {limit} requests per second per API key",
                "rate_limit_exceeded",
                headers={"Retry-After": str(retry_after)},
            )
        )

    def _failure(self, status: int, html: bool) -> web.Response:
        reason = HTTPStatus(status).phrase
        if html:
            page = errors.HTML_ERROR_PAGE.format(status=status, reason=reason)
            return web.Response(text=page, status=status, content_type="text/html")
        code = reason.lower().replace(" ", "_")
        return error_response(errors.sarvam_error(status, reason, code))


# --- API handlers -------------------------------------------------------------------------------


def _api_handlers(state: SimulatorState) -> dict[str, Handler]:
    async def get_campaign(request: web.Request, key: CampaignKey | None, who: str) -> web.Response:
        assert key is not None
        return web.Response(body=state.campaign_json(key), content_type="application/json")

    async def patch_campaign(
        request: web.Request, key: CampaignKey | None, who: str
    ) -> web.Response:
        assert key is not None
        body = await request.read()
        return json_response(state.apply_patch(key, body, who))

    async def put_status(request: web.Request, key: CampaignKey | None, who: str) -> web.Response:
        assert key is not None
        body = await request.read()
        return json_response(state.change_status(key, body, who))

    async def list_campaigns(
        request: web.Request, key: CampaignKey | None, who: str
    ) -> web.Response:
        query = request.query
        problems: list[dict[str, Any]] = []
        offset = _int_param(query.get("offset"), "offset", 0, 0, None, problems)
        limit = _int_param(query.get("limit"), "limit", 20, 1, MAX_PAGE, problems)
        status = query.get("campaign_status") or None
        if status is not None and status not in _STATUSES:
            problems.append(
                errors.field_error(
                    ("query", "campaign_status"),
                    "Input should be " + _one_of(sorted(_STATUSES)),
                    "enum",
                    status,
                )
            )
        sort_by = query.get("sort_by") or "created_at"
        if sort_by not in SORT_FIELDS:
            problems.append(
                errors.field_error(
                    ("query", "sort_by"), "Input should be " + _one_of(SORT_FIELDS), "enum", sort_by
                )
            )
        sort_order = query.get("sort_order") or "desc"
        if sort_order not in ("asc", "desc"):
            problems.append(
                errors.field_error(
                    ("query", "sort_order"), "Input should be 'asc' or 'desc'", "enum", sort_order
                )
            )
        if problems:
            raise errors.unprocessable(problems)
        match = request.match_info
        items, total = state.list_campaigns(
            match["org_id"],
            match["workspace_id"],
            offset=offset,
            limit=limit,
            status=status,
            search=query.get("search") or None,
            sort_by=sort_by,
            sort_order=sort_order,
        )
        url = request.rel_url
        next_uri = (
            str(url.update_query(offset=offset + limit, limit=limit))
            if offset + limit < total
            else None
        )
        prev_uri = (
            str(url.update_query(offset=max(0, offset - limit), limit=limit))
            if offset > 0
            else None
        )
        return json_response(
            {"items": items, "total": total, "next_page_uri": next_uri, "prev_page_uri": prev_uri}
        )

    return {
        "get": get_campaign,
        "patch": patch_campaign,
        "status": put_status,
        "list": list_campaigns,
    }


def _one_of(values: Any) -> str:
    quoted = [f"'{v}'" for v in values]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _int_param(
    raw: str | None,
    name: str,
    default: int,
    minimum: int,
    maximum: int | None,
    problems: list[dict[str, Any]],
) -> int:
    if raw is None or raw == "":
        return default
    loc = ("query", name)
    try:
        value = int(raw)
    except ValueError:
        problems.append(
            errors.field_error(
                loc,
                "Input should be a valid integer, unable to parse string as an integer",
                "int_parsing",
                raw,
            )
        )
        return default
    if value < minimum:
        problems.append(
            errors.field_error(
                loc,
                f"Input should be greater than or equal to {minimum}",
                "greater_than_equal",
                raw,
            )
        )
    elif maximum is not None and value > maximum:
        problems.append(
            errors.field_error(
                loc, f"Input should be less than or equal to {maximum}", "less_than_equal", raw
            )
        )
    return value


# --- /_sim/* -------------------------------------------------------------------------------------


def _sim_routes(state: SimulatorState) -> list[web.RouteDef]:
    async def stats(request: web.Request) -> web.Response:
        return json_response(state.stats.snapshot())

    async def timeline(request: web.Request) -> web.Response:
        raw = request.query.get("bucket_ms", "100")
        try:
            bucket_ms = int(raw)
            if bucket_ms < 1:
                raise ValueError
        except ValueError:
            return json_response({"detail": "bucket_ms must be an integer >= 1"}, 422)
        return json_response(state.stats.timeline(bucket_ms))

    async def reset_stats(request: web.Request) -> web.Response:
        state.stats.reset()
        return json_response(state.stats.snapshot())

    async def campaigns(request: web.Request) -> web.Response:
        items = state.dump()
        return json_response({"total": len(items), "campaigns": items})

    async def set_campaign(request: web.Request) -> web.Response:
        """Create or change one campaign: the body maps dotted paths to values."""
        match = request.match_info
        key = CampaignKey(match["org_id"], match["workspace_id"], match["campaign_id"])
        try:
            overrides = json.loads(await request.read() or b"{}")
        except ValueError:
            return json_response({"detail": "body must be a JSON object"}, 422)
        if not isinstance(overrides, dict):
            return json_response({"detail": "body must be a JSON object"}, 422)
        state.add(key, overrides)
        return json_response(state.get(key))

    async def get_campaign(request: web.Request) -> web.Response:
        match = request.match_info
        key = CampaignKey(match["org_id"], match["workspace_id"], match["campaign_id"])
        try:
            return json_response(state.get(key))
        except KeyError:
            return json_response({"detail": errors.NOT_FOUND_MESSAGE}, 404)

    one = "/_sim/campaigns/{org_id}/{workspace_id}/{campaign_id}"
    return [
        web.get("/_sim/stats", stats),
        web.get("/_sim/timeline", timeline),
        web.post("/_sim/reset-stats", reset_stats),
        web.get("/_sim/campaigns", campaigns),
        web.get(one, get_campaign),
        web.patch(one, set_campaign),
    ]


def build_app(state: SimulatorState, faults: FaultPlan | None = None) -> web.Application:
    """The simulator's web application over ``state``."""
    faults = faults or FaultPlan(state.config)
    app = web.Application()
    app[STATE_KEY] = state
    app[FAULTS_KEY] = faults
    gate = _ApiGate(state, faults)
    handlers = _api_handlers(state)
    one = WORKSPACE_PATH + "/campaigns/{campaign_id}"
    app.router.add_routes(
        [
            web.get(one, gate.wrap(handlers["get"])),
            web.patch(one, gate.wrap(handlers["patch"])),
            web.put(one + "/status", gate.wrap(handlers["status"])),
            web.get(WORKSPACE_PATH + "/campaigns", gate.wrap(handlers["list"])),
            *_sim_routes(state),
        ]
    )
    return app
