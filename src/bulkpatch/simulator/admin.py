"""``/_sim/*``: look at the simulator and act on it from the side, outside the API.

=====================================================  ============================================
``GET /_sim/stats``                                    the counters (:class:`SimStats`)
``GET /_sim/timeline?bucket_ms=N``                     request starts per bucket
``POST /_sim/reset-stats``                             forget the counters
``GET /_sim/campaigns``                                every campaign, with its org and workspace
``GET /_sim/campaigns/{org}/{ws}/{cid}``               one campaign
``PATCH /_sim/campaigns/{org}/{ws}/{cid}``             someone else changes it (or it is created):
                                                       body = dotted path -> value
``POST /_sim/revoke``                                  ``{"api_key": "..."}``: revoke that key now
=====================================================  ============================================

A change through ``PATCH /_sim/campaigns/...`` is a real edit by another user: ``updated_at``
moves strictly later and ``updated_by`` names that user (unless the body sets them).  These
routes need no key, are neither counted nor faulted, and never echo a key.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bulkpatch.core.rows import CampaignKey
from bulkpatch.simulator import errors
from bulkpatch.simulator.config import acting_user
from bulkpatch.simulator.faults import FaultPlan
from bulkpatch.simulator.state import SimulatorState


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=_dumps(value), status=status, content_type="application/json")


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    try:
        value = json.loads(await request.read() or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _key(request: web.Request) -> CampaignKey:
    match = request.match_info
    return CampaignKey(match["org_id"], match["workspace_id"], match["campaign_id"])


def admin_routes(state: SimulatorState, faults: FaultPlan) -> list[web.RouteDef]:
    stats = state.stats

    async def get_stats(request: web.Request) -> web.Response:
        return _json(stats.snapshot())

    async def timeline(request: web.Request) -> web.Response:
        raw = request.query.get("bucket_ms", "100")
        try:
            bucket_ms = int(raw)
            if bucket_ms < 1:
                raise ValueError
        except ValueError:
            return _json({"detail": "bucket_ms must be an integer >= 1"}, 422)
        return _json(stats.timeline(bucket_ms))

    async def reset_stats(request: web.Request) -> web.Response:
        stats.reset()
        return _json(stats.snapshot())

    async def campaigns(request: web.Request) -> web.Response:
        items = state.dump()
        return _json({"total": len(items), "campaigns": items})

    async def get_campaign(request: web.Request) -> web.Response:
        try:
            return _json(state.get(_key(request)))
        except KeyError:
            return _json({"detail": errors.NOT_FOUND_MESSAGE}, 404)

    async def edit_campaign(request: web.Request) -> web.Response:
        overrides = await _json_object(request)
        if overrides is None:
            return _json({"detail": "body must be a JSON object"}, 422)
        return _json(state.edit(_key(request), overrides))

    async def revoke(request: web.Request) -> web.Response:
        body = await _json_object(request)
        api_key = body.get("api_key") if body is not None else None
        if not isinstance(api_key, str) or not api_key:
            return _json({"detail": 'body must be {"api_key": "..."}'}, 422)
        if api_key not in state.config.api_keys:
            return _json({"detail": "the simulator does not accept that key"}, 404)
        newly = faults.revoke(api_key)
        stats.keys_revoked = faults.revoked_count
        return _json({"revoked": acting_user(api_key), "already_revoked": not newly})

    one = "/_sim/campaigns/{org_id}/{workspace_id}/{campaign_id}"
    return [
        web.get("/_sim/stats", get_stats),
        web.get("/_sim/timeline", timeline),
        web.post("/_sim/reset-stats", reset_stats),
        web.get("/_sim/campaigns", campaigns),
        web.get(one, get_campaign),
        web.patch(one, edit_campaign),
        web.post("/_sim/revoke", revoke),
    ]
