"""``PATCH /_sim/campaigns/...``: someone else changes a campaign, as a real edit would."""

from __future__ import annotations

from datetime import datetime

from bulkpatch.simulator import Simulator
from bulkpatch.simulator.config import acting_user
from bulkpatch.simulator.state import OTHER_USER
from support.sim_client import FIRST, Api


async def _edit(api: Api, path: str, body: object) -> tuple[int, object]:
    async with api.session.patch(api.sim.root_url + path, json=body) as response:
        return response.status, await response.json()


async def test_a_change_behind_the_clients_back_bumps_updated_at_and_names_another_user(
    api: Api, simulator: Simulator
) -> None:
    simulator.state.update(FIRST, {"status": "paused"})
    await api.patch(FIRST, {"name": "Ours"})
    ours = (await api.get(FIRST)).body
    assert ours["updated_by"] == acting_user("sim-key")
    status, theirs = await _edit(
        api, "/_sim/campaigns/org-demo/ws-demo/cmp-000001", {"allowed_schedule.timezone": "UTC"}
    )
    assert status == 200
    assert isinstance(theirs, dict)
    assert datetime.fromisoformat(theirs["updated_at"]) > datetime.fromisoformat(ours["updated_at"])
    assert theirs["updated_by"] == OTHER_USER != ours["updated_by"]
    assert theirs["name"] == "Ours"
    now = (await api.get(FIRST)).body
    assert now == theirs
    assert now["allowed_schedule"]["timezone"] == "UTC"
    stats = simulator.stats()
    assert stats["admin_edits"] == 1
    assert stats["requests_total"] == 3  # PATCH, GET, GET: the admin routes are not counted


async def test_edits_behind_the_back_move_updated_at_strictly_later_each_time(
    api: Api, simulator: Simulator
) -> None:
    stamps = []
    for n in range(5):
        _, detail = await _edit(
            api, "/_sim/campaigns/org-demo/ws-demo/cmp-000002", {"name": f"E{n}"}
        )
        assert isinstance(detail, dict)
        stamps.append(datetime.fromisoformat(detail["updated_at"]))
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 5


async def test_an_edit_that_sets_updated_at_or_updated_by_keeps_them(
    api: Api, simulator: Simulator
) -> None:
    body = {"updated_at": "2020-01-01T00:00:00Z", "updated_by": "asha.rao@example.com"}
    _, detail = await _edit(api, "/_sim/campaigns/org-demo/ws-demo/cmp-000003", body)
    assert isinstance(detail, dict)
    assert (detail["updated_at"], detail["updated_by"]) == (body["updated_at"], body["updated_by"])


async def test_creating_a_campaign_through_the_admin_route_is_not_an_edit(
    api: Api, simulator: Simulator
) -> None:
    status, detail = await _edit(api, "/_sim/campaigns/org-x/ws-y/cmp-new", {"status": "paused"})
    assert status == 200
    assert isinstance(detail, dict)
    assert detail["updated_by"] == detail["created_by"]
    assert simulator.stats()["admin_edits"] == 0


async def test_an_admin_edit_needs_a_json_object(api: Api, simulator: Simulator) -> None:
    before = simulator.state.get(FIRST)
    status, _ = await _edit(api, "/_sim/campaigns/org-demo/ws-demo/cmp-000001", ["status"])
    assert status == 422
    assert simulator.state.get(FIRST) == before
