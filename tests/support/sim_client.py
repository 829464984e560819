"""A tiny client for the simulator's tests: speaks the API over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from bulkpatch.simulator import CampaignKey, Simulator

#: The first generated campaign of the ``simulator`` fixture.
FIRST = CampaignKey("org-demo", "ws-demo", "cmp-000001")
_NO_BODY = object()


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Api:
    """Calls the simulator's API with its key (``headers`` may be replaced per call)."""

    sim: Simulator
    session: aiohttp.ClientSession

    async def call(
        self,
        method: str,
        url: str,
        *,
        body: Any = _NO_BODY,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        kwargs: dict[str, Any] = {
            "headers": dict(self.sim.headers if headers is None else headers),
            "allow_redirects": False,
        }
        if body is not _NO_BODY:
            kwargs["json"] = body
        elif data is not None:
            kwargs["data"] = data
            kwargs["headers"]["Content-Type"] = "application/json"
        async with self.session.request(method, url, **kwargs) as response:
            text = await response.text()
            parsed = await response.json() if response.content_type == "application/json" else None
            return Answer(response.status, parsed, text, dict(response.headers))

    async def get(self, key: Any, **kw: Any) -> Answer:
        return await self.call("GET", self.sim.campaign_url(key), **kw)

    async def patch(self, key: Any, body: Any = _NO_BODY, **kw: Any) -> Answer:
        return await self.call("PATCH", self.sim.campaign_url(key), body=body, **kw)

    async def put_status(self, key: Any, action: Any, **kw: Any) -> Answer:
        url = self.sim.campaign_url(key) + "/status"
        return await self.call("PUT", url, body={"action": action}, **kw)

    async def list(
        self,
        org: str = "org-demo",
        ws: str = "ws-demo",
        headers: Mapping[str, str] | None = None,
        **query: Any,
    ) -> Answer:
        url = self.sim.workspace_url(org, ws) + "/campaigns"
        return await self.call("GET", str(URL(url).update_query(query)), headers=headers)

    async def follow(self, link: str) -> Answer:
        """GET a page link: a server-root path or a full URL."""
        url = link if "://" in link else self.sim.root_url + link
        return await self.call("GET", url)

    async def sim_get(self, path: str) -> Any:
        async with self.session.get(self.sim.root_url + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()
