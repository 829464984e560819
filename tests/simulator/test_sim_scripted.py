"""The scripted simulator (``tests/scripted.py``) does exactly what a script says."""

from __future__ import annotations

from typing import Any

import aiohttp

from bulkpatch.simulator import SimulatorConfig
from support.scripted import scripted_simulator

KEY = ("org-demo", "ws-demo", "cmp-000001")


def _504_after_the_first_patch_is_stored(method: str, path: str, nth: int, total: int) -> Any:
    return ("after_store", 504) if method == "PATCH" and nth == 1 else None


async def test_a_scripted_change_is_stored_then_answered_with_the_status_given() -> None:
    config = SimulatorConfig(generate=1, status_weights=(("paused", 1.0),))
    async with (
        scripted_simulator(config, _504_after_the_first_patch_is_stored) as sim,
        aiohttp.ClientSession(headers={"X-API-Key": "sim-key"}) as session,
    ):
        url = f"{sim.base_url}/v1/orgs/org-demo/workspaces/ws-demo/campaigns/cmp-000001"
        statuses = []
        for name in ("First", "Second"):
            async with session.patch(url, json={"name": name}) as response:
                statuses.append(response.status)
                text = await response.text()
                if response.status == 504:
                    assert "504 Gateway Timeout" in text
        assert statuses == [504, 200]
        assert sim.state.get(KEY)["name"] == "Second"
        assert sim.stats()["patches_applied_total"] == 2
        assert [action for _, _, action in sim.script.log] == [("after_store", 504), None]
