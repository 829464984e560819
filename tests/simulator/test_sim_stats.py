"""What ``/_sim/*`` reports: request counts, PATCHes per campaign, the busiest second, in-flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkpatch.simulator import CampaignKey, SimStats, Simulator
from support.sim_client import FIRST, Api

SECOND = CampaignKey("org-demo", "ws-demo", "cmp-000002")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _brute_force_max(starts: list[float]) -> int:
    return max((sum(t - 1.0 < s <= t for s in starts) for t in starts), default=0)


# --- counting over HTTP --------------------------------------------------------------------------


async def test_stats_count_requests_by_method_and_status(api: Api, simulator: Simulator) -> None:
    simulator.state.update(FIRST, {"status": "paused"})
    simulator.state.update(SECOND, {"status": "active"})
    await api.get(FIRST)
    await api.get(FIRST)
    await api.get(CampaignKey("org-demo", "ws-demo", "cmp-404404"))
    await api.patch(FIRST, {"name": "Counted"})
    await api.patch(SECOND, {"name": "Refused"})
    await api.get(FIRST, headers={})
    await api.list()
    stats = await api.sim_get("/_sim/stats")
    assert stats["requests"] == {
        "GET": {"200": 3, "401": 1, "404": 1},
        "PATCH": {"200": 1, "409": 1},
    }
    assert stats["requests_total"] == 7
    assert stats["unauthorized"] == 1


async def test_stats_count_patches_applied_per_campaign_and_their_maximum(
    api: Api, simulator: Simulator
) -> None:
    for key in (FIRST, SECOND):
        simulator.state.update(key, {"status": "paused"})
    for name in ("One", "Two", "Three"):
        await api.patch(FIRST, {"name": name})
    await api.patch(SECOND, {"name": "Once"})
    await api.patch(SECOND, {"name": "bad/name"})  # refused: not applied
    stats = await api.sim_get("/_sim/stats")
    assert stats["patches_applied"] == {str(FIRST): 3, str(SECOND): 1}
    assert stats["patches_applied_total"] == 4
    assert stats["max_patches_per_campaign"] == 3


async def test_stats_count_status_changes_per_campaign(api: Api, simulator: Simulator) -> None:
    simulator.state.update(FIRST, {"status": "active"})
    await api.put_status(FIRST, "pause")
    await api.put_status(FIRST, "resume")
    await api.put_status(FIRST, "resume")  # refused: already scheduled
    stats = await api.sim_get("/_sim/stats")
    assert stats["status_changes"] == {str(FIRST): 2}
    assert stats["max_status_changes_per_campaign"] == 2


async def test_in_flight_and_its_peak_are_reported(
    start_simulator: Callable[..., Any], api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=1, latency_ms=200)
    api = api_for(sim)
    calls = [asyncio.create_task(api.get(FIRST)) for _ in range(5)]
    await asyncio.sleep(0.1)
    during = await api.sim_get("/_sim/stats")
    await asyncio.gather(*calls)
    after = await api.sim_get("/_sim/stats")
    assert during["in_flight"] == 5
    assert (after["in_flight"], after["peak_in_flight"]) == (0, 5)


async def test_max_starts_in_any_second_counts_a_burst(api: Api) -> None:
    await asyncio.gather(*(api.get(FIRST) for _ in range(12)))
    stats = await api.sim_get("/_sim/stats")
    assert stats["max_starts_in_any_second"] == 12


async def test_the_timeline_counts_request_starts_per_bucket(api: Api) -> None:
    for _ in range(7):
        await api.get(FIRST)
    timeline = await api.sim_get("/_sim/timeline?bucket_ms=100000")
    assert timeline["counts"] == [7]
    fine = await api.sim_get("/_sim/timeline?bucket_ms=1")
    assert sum(fine["counts"]) == 7
    assert fine["bucket_ms"] == 1


async def test_a_bad_timeline_bucket_is_refused(api: Api, simulator: Simulator) -> None:
    async with api.session.get(simulator.root_url + "/_sim/timeline?bucket_ms=0") as response:
        assert response.status == 422


async def test_reset_stats_forgets_what_was_counted(api: Api, simulator: Simulator) -> None:
    await api.get(FIRST)
    async with api.session.post(simulator.root_url + "/_sim/reset-stats") as response:
        assert response.status == 200
    stats = await api.sim_get("/_sim/stats")
    assert (stats["requests_total"], stats["requests"], stats["max_starts_in_any_second"]) == (
        0,
        {},
        0,
    )


# --- state over HTTP -----------------------------------------------------------------------------


async def test_sim_campaigns_dumps_every_campaign_with_its_keys(
    api: Api, simulator: Simulator
) -> None:
    simulator.state.update(FIRST, {"status": "paused"})
    await api.patch(FIRST, {"name": "Dumped"})
    dump = await api.sim_get("/_sim/campaigns")
    assert dump["total"] == 20
    first = dump["campaigns"][0]
    assert (first["org_id"], first["workspace_id"], first["campaign_id"]) == tuple(FIRST)
    assert first["name"] == "Dumped"
    assert {c["campaign_id"] for c in dump["campaigns"]} == {k.campaign_id for k in simulator.state}


async def test_sim_campaign_overrides_can_be_set_over_http(api: Api, simulator: Simulator) -> None:
    url = f"{simulator.root_url}/_sim/campaigns/org-x/ws-y/cmp-new"
    async with api.session.patch(url, json={"status": "active", "app_version": 4}) as response:
        assert response.status == 200
    detail = simulator.state.get(("org-x", "ws-y", "cmp-new"))
    assert (detail["status"], detail["app_version"], detail["app_config"]["app_version"]) == (
        "active",
        4,
        4,
    )
    assert (await api.get(("org-x", "ws-y", "cmp-new"))).status == 200


# --- the exact sliding-window maximum ------------------------------------------------------------


def test_max_starts_in_any_second_uses_the_half_open_window() -> None:
    clock = FakeClock()
    stats = SimStats(clock=clock)
    for t in (0.0, 0.5, 0.9, 1.0, 1.4, 1.95, 2.0):
        stats.request_started(clock.now + t)
    # (0.4, 1.4] holds 0.5, 0.9, 1.0 and 1.4; a start exactly 1 s earlier is outside.
    assert stats.max_starts_in_any_second == 4


def test_a_start_exactly_one_second_earlier_is_outside_the_window() -> None:
    stats = SimStats(clock=lambda: 0.0)
    for t in (0.0, 0.5, 1.0, 2.0):
        stats.request_started(t)
    assert stats.max_starts_in_any_second == 2


# Times in 1/1024 s are exact in binary, so boundaries (a start exactly 1 s before another) occur.
@given(st.lists(st.integers(min_value=0, max_value=4 * 1024), max_size=120))
def test_max_starts_in_any_second_matches_a_brute_force_count(ticks: list[int]) -> None:
    starts = sorted(t / 1024 for t in ticks)
    stats = SimStats(clock=lambda: 0.0)
    for t in starts:
        stats.request_started(t)
    assert stats.max_starts_in_any_second == _brute_force_max(starts)


def test_the_timeline_buckets_starts_by_milliseconds_since_the_start() -> None:
    clock = FakeClock()
    stats = SimStats(clock=clock)
    for offset in (0.001, 0.050, 0.150, 0.160, 0.399):
        stats.request_started(clock.now + offset)
    assert stats.timeline(100)["counts"] == [2, 2, 0, 1]
    assert stats.timeline(1000)["counts"] == [5]


def test_the_timeline_stops_at_its_limit_and_says_so() -> None:
    clock = FakeClock()
    stats = SimStats(clock=clock, timeline_seconds=1.0)
    stats.request_started(clock.now + 0.5)
    stats.request_started(clock.now + 1.5)
    timeline = stats.timeline(1000)
    assert (timeline["counts"], timeline["truncated"]) == ([1], True)
    assert stats.total == 2


def test_a_timeline_bucket_below_one_millisecond_is_refused() -> None:
    with pytest.raises(ValueError, match="bucket_ms"):
        SimStats().timeline(0)
