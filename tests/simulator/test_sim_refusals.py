"""403 for some campaigns or orgs, keys revoked one by one, redirects, and the order of the gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bulkpatch.simulator import CampaignKey, FaultPlan, Simulator, SimulatorConfig
from support.sim_client import FIRST, Api

StartSimulator = Callable[..., Any]
SECOND = CampaignKey("org-demo", "ws-demo", "cmp-000002")
KEY_A, KEY_B, KEY_C = "fake-key-org-a", "fake-key-org-b", "fake-key-org-c"
ORG_CAMPAIGNS = tuple(CampaignKey(f"org-{o}", "ws-1", f"cmp-{o}{n}") for o in "abc" for n in (1, 2))


def _as(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


# --- forbidden campaigns -------------------------------------------------------------------------


async def test_a_forbidden_campaign_answers_403_and_the_others_200(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(
        generate=3, status_weights=(("paused", 1.0),), forbid=("cmp-000002",)
    )
    api = api_for(sim)
    before = sim.state.get(SECOND)
    refused = [
        await api.get(SECOND),
        await api.patch(SECOND, {"name": "Not mine"}),
        await api.put_status(SECOND, "cancel"),
    ]
    assert [a.status for a in refused] == [403, 403, 403]
    assert all(
        a.body == {"detail": "You do not have permission to access this campaign"} for a in refused
    )
    assert sim.state.get(SECOND) == before
    assert (await api.get(FIRST)).status == 200
    assert (await api.patch(FIRST, {"name": "Mine"})).status == 200
    assert (await api.list()).status == 200
    stats = sim.stats()
    assert stats["forbidden"] == 3
    assert stats["requests"]["GET"] == {"200": 2, "403": 1}
    assert stats["patches_applied"] == {str(FIRST): 1}


async def test_a_forbidden_campaign_id_is_refused_in_every_workspace(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    elsewhere = CampaignKey("org-z", "ws-z", "cmp-x")
    sim = await start_simulator(
        campaigns=(elsewhere, ("org-demo", "ws-demo", "cmp-x")), forbid=["cmp-x"]
    )
    api = api_for(sim)
    assert (await api.get(elsewhere)).status == 403
    assert (await api.get(("org-demo", "ws-demo", "cmp-x"))).status == 403


# --- keys limited to some orgs, revoked one at a time -------------------------------------------


async def _three_orgs(start_simulator: StartSimulator, **knobs: Any) -> Simulator:
    sim: Simulator = await start_simulator(
        campaigns=ORG_CAMPAIGNS,
        extra_api_keys=(KEY_A, KEY_B, KEY_C),
        key_orgs={KEY_A: ["org-a"], KEY_B: ["org-b"], KEY_C: ["org-c", "org-a"]},
        **knobs,
    )
    return sim


async def test_a_key_used_on_another_orgs_campaign_answers_403(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await _three_orgs(start_simulator)
    api = api_for(sim)
    a1, b1, c1 = ORG_CAMPAIGNS[0], ORG_CAMPAIGNS[2], ORG_CAMPAIGNS[4]
    assert (await api.get(a1, headers=_as(KEY_A))).status == 200
    refused = await api.get(b1, headers=_as(KEY_A))
    assert refused.status == 403
    assert refused.body == {"detail": "This API key is not allowed to act on org org-b"}
    assert (await api.list("org-b", "ws-1", headers=_as(KEY_A))).status == 403
    assert (await api.get(b1, headers=_as(KEY_B))).status == 200
    assert [(await api.get(k, headers=_as(KEY_C))).status for k in (a1, b1, c1)] == [200, 403, 200]
    # The main key is limited to no org.
    assert [(await api.get(k)).status for k in (a1, b1, c1)] == [200, 200, 200]
    stats = sim.stats()
    assert stats["outside_key_orgs"] == 3
    assert KEY_A not in str(stats)


async def test_one_key_revoked_after_n_requests_leaves_the_other_keys_working(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await _three_orgs(start_simulator, revoke_keys_after={KEY_B: 2})
    api = api_for(sim)
    b1 = ORG_CAMPAIGNS[2]
    assert [(await api.get(b1, headers=_as(KEY_B))).status for _ in range(4)] == [
        200,
        200,
        401,
        401,
    ]
    assert (await api.get(b1, headers=_as(KEY_B))).body == {"detail": "API key has been revoked"}
    assert [(await api.get(ORG_CAMPAIGNS[0], headers=_as(KEY_A))).status for _ in range(4)] == [
        200
    ] * 4
    stats = sim.stats()
    assert (stats["revoked_rejections"], stats["unauthorized"], stats["keys_revoked"]) == (3, 3, 1)


async def test_a_key_revoked_through_the_admin_route_is_refused_at_once(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await _three_orgs(start_simulator)
    api = api_for(sim)
    a1 = ORG_CAMPAIGNS[0]
    assert (await api.get(a1, headers=_as(KEY_A))).status == 200
    async with api.session.post(sim.root_url + "/_sim/revoke", json={"api_key": KEY_A}) as r:
        assert r.status == 200
        text = await r.text()
    assert KEY_A not in text
    assert (await r.json())["revoked"].startswith("apikey-")
    assert (await api.get(a1, headers=_as(KEY_A))).status == 401
    assert (await api.get(a1, headers=_as(KEY_C))).status == 200
    stats = sim.stats()
    assert (stats["keys_revoked"], stats["revoked_rejections"]) == (1, 1)


@pytest.mark.parametrize(
    ("body", "status"),
    [({"api_key": "never-accepted"}, 404), ({"key": "x"}, 422), (["x"], 422)],
)
async def test_the_admin_revoke_route_refuses_an_unknown_key_or_a_bad_body(
    api: Api, simulator: Simulator, body: Any, status: int
) -> None:
    async with api.session.post(simulator.root_url + "/_sim/revoke", json=body) as response:
        assert response.status == status
        assert "never-accepted" not in await response.text()
    assert (await api.get(FIRST)).status == 200


async def test_the_rate_limit_stays_per_key_when_keys_are_limited_to_orgs(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await _three_orgs(start_simulator, rate_limit=2)
    api = api_for(sim)
    a1, b1 = ORG_CAMPAIGNS[0], ORG_CAMPAIGNS[2]
    assert [(await api.get(a1, headers=_as(KEY_A))).status for _ in range(3)] == [200, 200, 429]
    assert [(await api.get(b1, headers=_as(KEY_B))).status for _ in range(3)] == [200, 200, 429]


def test_revocation_is_counted_per_key_and_a_revoke_is_at_once() -> None:
    plan = FaultPlan(
        SimulatorConfig(extra_api_keys=("k2", "k3"), revoke_after=3, revoke_keys_after={"k2": 1})
    )
    assert [plan.revoked("k2") for _ in range(3)] == [False, True, True]
    assert [plan.revoked("sim-key") for _ in range(4)] == [False, False, False, True]
    assert plan.revoke("k3") is True
    assert plan.revoke("k3") is False
    assert plan.revoked("k3") is True
    assert plan.revoked_count == 3


def test_without_revocation_no_key_is_counted() -> None:
    plan = FaultPlan(SimulatorConfig())
    assert plan.checks_revocation is False
    plan.revoke("sim-key")
    assert plan.checks_revocation is True


# --- redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_every_api_request_answers_the_redirect_to_the_url_and_original_path(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api], status: int
) -> None:
    target = "https://moved.example.invalid/"
    sim = await start_simulator(
        generate=2,
        status_weights=(("paused", 1.0),),
        redirect_to=target,
        redirect_status=status,
        outage=(0.0, 60.0),  # the redirect comes first
    )
    api = api_for(sim)
    before = sim.state.get(FIRST)
    answers = [
        await api.get(FIRST, headers={}),
        await api.patch(FIRST, {"name": "Moved"}),
        await api.put_status(FIRST, "cancel"),
        await api.list(limit=5, offset=10),
    ]
    assert [a.status for a in answers] == [status] * 4
    path = sim.campaign_url(FIRST).removeprefix(sim.root_url)
    assert answers[0].headers["Location"] == "https://moved.example.invalid" + path
    assert answers[2].headers["Location"].endswith(path + "/status")
    assert answers[3].headers["Location"].endswith("/campaigns?limit=5&offset=10")
    assert sim.state.get(FIRST) == before
    stats = sim.stats()
    assert (stats["redirects"], stats["outage_rejections"], stats["unauthorized"]) == (4, 0, 0)
    assert stats["requests"]["GET"] == {str(status): 2}
    await api.sim_get("/_sim/stats")  # the admin routes are not redirected


# --- the gate's order ----------------------------------------------------------------------------


async def test_a_forbidden_campaign_uses_up_the_rate_limit_and_meets_the_gateways_failures_first(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    limited = await start_simulator(generate=2, forbid=["cmp-000002"], rate_limit=2)
    api = api_for(limited)
    assert [(await api.get(SECOND)).status for _ in range(3)] == [403, 403, 429]
    failing = await start_simulator(generate=2, forbid=["cmp-000002"], fail_rate=1.0)
    assert (await api_for(failing).get(SECOND)).status in {500, 502, 503}
    assert failing.stats()["forbidden"] == 0
