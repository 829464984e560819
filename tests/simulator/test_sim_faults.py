"""Every fault: off by default, deterministic under the seed, and as described when on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from bulkpatch.simulator import FaultPlan, Simulator, SimulatorConfig
from support.sim_client import FIRST, Api

StartSimulator = Callable[..., Any]


@pytest.fixture
async def fresh_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A new connection per request, so that one dropped connection cannot affect the next
    request.  (aiohttp's client still retries a GET or PUT once by itself after a drop.)"""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        yield s


async def _editable(start_simulator: StartSimulator, **knobs: Any) -> Simulator:
    sim: Simulator = await start_simulator(
        generate=knobs.pop("generate", 3), status_weights=(("paused", 1.0),), **knobs
    )
    return sim


# --- off by default ------------------------------------------------------------------------------


async def test_without_faults_every_request_is_answered_normally(
    api: Api, simulator: Simulator
) -> None:
    statuses = [(await api.get(key)).status for key in simulator.state.keys() * 3]
    assert statuses == [200] * 60
    stats = simulator.stats()
    assert stats["rate_limited"] == stats["resets"] == stats["injected_failures"] == 0


# --- rate limit ----------------------------------------------------------------------------------


async def test_a_request_over_the_rate_limit_gets_429_with_retry_after(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=1, rate_limit=3)
    api = api_for(sim)
    answers = [await api.get(FIRST) for _ in range(4)]
    assert [a.status for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.body["error"]["code"] == "rate_limit_exceeded"
    assert sim.stats()["rate_limited"] == 1


async def test_the_rate_limit_is_counted_per_api_key(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=1, rate_limit=2, extra_api_keys=("other-fake-key",))
    api = api_for(sim)
    other = {"X-API-Key": "other-fake-key"}
    first_key = [(await api.get(FIRST)).status for _ in range(3)]
    second_key = [(await api.get(FIRST, headers=other)).status for _ in range(3)]
    assert first_key == [200, 200, 429]
    assert second_key == [200, 200, 429]


def test_the_rate_limit_window_slides_over_one_second() -> None:
    plan = FaultPlan(SimulatorConfig(rate_limit=3))
    accepted = [plan.retry_after("k", t) is None for t in (10.0, 10.1, 10.2, 10.5, 10.99)]
    assert accepted == [True, True, True, False, False]
    # At 11.0 the start at 10.0 has left the window (t - 1, t]; at 11.05 only one slot is free.
    assert plan.retry_after("k", 11.0) is None
    assert plan.retry_after("k", 11.05) is not None
    assert plan.retry_after("k", 11.1) is None


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    plan = FaultPlan(SimulatorConfig(rate_limit=1))
    assert plan.retry_after("k", 5.0) is None
    assert plan.retry_after("k", 5.999) == 1
    assert plan.retry_after("k", 5.001) == 1


def test_rejected_requests_do_not_use_up_the_rate_limit() -> None:
    plan = FaultPlan(SimulatorConfig(rate_limit=1))
    assert plan.retry_after("k", 0.0) is None
    assert all(plan.retry_after("k", t) is not None for t in (0.2, 0.5, 0.8, 0.99))
    # Only the accepted start at 0.0 counts, so the next second is open again.
    assert plan.retry_after("k", 1.0) is None


# --- latency -------------------------------------------------------------------------------------


async def test_latency_delays_each_answer(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=1, latency_ms=150)
    api = api_for(sim)
    started = time.perf_counter()
    assert (await api.get(FIRST)).status == 200
    assert time.perf_counter() - started >= 0.14


def _slow_patches(monkeypatch: pytest.MonkeyPatch, sim: Simulator, seconds: float) -> None:
    """Make each PATCH's processing (in the simulator's event loop) take ``seconds``."""
    apply_patch = sim.state.apply_patch

    def slow(*args: Any) -> dict[str, Any]:
        time.sleep(seconds)  # blocks the loop, as pydantic and JSON work does
        return apply_patch(*args)

    monkeypatch.setattr(sim.state, "apply_patch", slow)


@pytest.mark.realtime  # real time, to tens of milliseconds: a loaded machine makes it late
@pytest.mark.parametrize(
    ("latency_ms", "work_s", "low", "high"),
    [
        (200, 0.12, 0.19, 0.30),  # the work is done within the latency, not after it
        (50, 0.20, 0.19, 0.24),  # work longer than the latency: no sleep after it
    ],
)
async def test_latency_counts_from_the_requests_arrival(
    start_simulator: StartSimulator,
    api_for: Callable[[Simulator], Api],
    monkeypatch: pytest.MonkeyPatch,
    latency_ms: float,
    work_s: float,
    low: float,
    high: float,
) -> None:
    sim = await _editable(start_simulator, latency_ms=latency_ms)
    _slow_patches(monkeypatch, sim, work_s)
    api = api_for(sim)
    started = time.perf_counter()
    assert (await api.patch(FIRST, {"name": "Slow to apply"})).status == 200
    assert low <= time.perf_counter() - started < high
    assert sim.state.get(FIRST)["name"] == "Slow to apply"


@pytest.mark.realtime  # real time, to tens of milliseconds: a loaded machine makes it late
async def test_a_change_is_stored_on_arrival_and_answered_after_the_latency(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await _editable(start_simulator, latency_ms=300)
    api = api_for(sim)
    started = time.perf_counter()
    answer = asyncio.create_task(api.patch(FIRST, {"name": "Stored early"}))
    await asyncio.sleep(0.15)
    assert not answer.done()
    assert sim.state.get(FIRST)["name"] == "Stored early"
    stats = sim.stats()
    assert (stats["in_flight"], stats["patches_applied_total"]) == (1, 1)
    assert (await answer).status == 200
    assert time.perf_counter() - started >= 0.29
    stats = sim.stats()
    assert (stats["in_flight"], stats["peak_in_flight"]) == (0, 1)


@pytest.mark.realtime  # real time, to tens of milliseconds: a loaded machine makes it late
async def test_answers_due_together_do_not_wait_for_each_others_work(
    start_simulator: StartSimulator,
    api_for: Callable[[Simulator], Api],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 20 PATCHes arrive together; their work (20 x 10 ms) is done during the 300 ms latency, so
    # the last answer leaves about 300 ms after the last arrival, not 300 + 200 ms after.
    sim = await _editable(start_simulator, generate=20, latency_ms=300)
    _slow_patches(monkeypatch, sim, 0.01)
    api = api_for(sim)
    keys = sim.state.keys()
    started = time.perf_counter()
    answers = await asyncio.gather(*(api.patch(k, {"name": f"n{i}"}) for i, k in enumerate(keys)))
    assert [a.status for a in answers] == [200] * 20
    assert 0.29 <= time.perf_counter() - started < 0.45
    assert sim.stats()["peak_in_flight"] == 20


async def test_latency_delays_failures_and_drops_too(
    start_simulator: StartSimulator, fresh_session: aiohttp.ClientSession
) -> None:
    async def patch(sim: Simulator, name: str) -> tuple[str, float]:
        started = time.perf_counter()
        try:
            async with fresh_session.patch(
                sim.campaign_url(FIRST), json={"name": name}, headers=sim.headers
            ) as response:
                await response.read()
                outcome = str(response.status)
        except aiohttp.ClientConnectionError:
            outcome = "dropped"
        return outcome, time.perf_counter() - started

    failing = await _editable(start_simulator, latency_ms=150, fail_rate=1.0)
    before = failing.state.get(FIRST)
    outcome, took = await patch(failing, "never stored")
    assert outcome in {"500", "502", "503"}
    assert took >= 0.14
    assert failing.state.get(FIRST) == before

    early = await _editable(start_simulator, latency_ms=150, reset_rate=1.0, reset_after_share=0)
    before = early.state.get(FIRST)
    assert await patch(early, "lost") >= ("dropped", 0.14)
    assert early.state.get(FIRST) == before
    assert early.stats()["resets_before_store"] == 1

    late = await _editable(start_simulator, latency_ms=150, reset_rate=1.0, reset_after_share=1)
    assert await patch(late, "stored then lost") >= ("dropped", 0.14)
    assert late.state.get(FIRST)["name"] == "stored then lost"
    assert late.stats()["resets_after_store"] == 1


def test_latency_jitter_stays_within_its_bounds_and_repeats_under_the_seed() -> None:
    config = SimulatorConfig(latency_ms=100, latency_jitter_ms=20, seed=3)
    plan_a, plan_b = FaultPlan(config), FaultPlan(config)
    delays_a = [plan_a.latency() for _ in range(200)]
    delays_b = [plan_b.latency() for _ in range(200)]
    assert delays_a == delays_b
    assert all(0.08 <= d <= 0.12 for d in delays_a)
    assert len(set(delays_a)) > 100  # it does vary
    other = FaultPlan(SimulatorConfig(latency_ms=100, latency_jitter_ms=20, seed=4))
    assert [other.latency() for _ in range(200)] != delays_a


# --- injected failures ---------------------------------------------------------------------------


async def test_injected_failures_answer_500_502_503_with_json_and_html_bodies(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await _editable(start_simulator, fail_rate=1.0)
    api = api_for(sim)
    before = sim.state.get(FIRST)
    answers = [await api.patch(FIRST, {"name": "never stored"}) for _ in range(40)]
    assert {a.status for a in answers} == {500, 502, 503}
    json_bodies = [a.body for a in answers if a.body is not None]
    html_bodies = [a.text for a in answers if a.body is None]
    assert json_bodies
    assert html_bodies
    assert all("message" in b["error"] and "code" in b["error"] for b in json_bodies)
    assert all(t.lstrip().startswith("<html>") for t in html_bodies)
    assert sim.state.get(FIRST) == before
    assert sim.stats()["injected_failures"] == 40


async def test_injected_failures_repeat_under_the_same_seed(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    async def statuses(seed: int) -> list[int]:
        sim = await start_simulator(generate=1, fail_rate=0.5, seed=seed)
        api = api_for(sim)
        return [(await api.get(FIRST)).status for _ in range(30)]

    first, again, other = await statuses(11), await statuses(11), await statuses(12)
    assert first == again
    assert first != other
    assert 200 in first
    assert set(first) - {200}


def test_patch_answers_differ_at_their_rate_both_ways_and_repeat_under_the_seed() -> None:
    def picks(seed: int) -> list[str | None]:
        plan = FaultPlan(SimulatorConfig(patch_answer_differs_rate=0.3, seed=seed))
        return [plan.answer_differs() for _ in range(400)]

    first = picks(3)
    assert first == picks(3)
    assert first != picks(4)
    assert set(first) == {None, "campaign_id", "app_version"}
    assert 80 < sum(p is not None for p in first) < 160
    assert FaultPlan(SimulatorConfig()).answer_differs() is None


# --- dropped connections -------------------------------------------------------------------------


async def test_a_patch_dropped_before_store_leaves_the_campaign_unchanged(
    start_simulator: StartSimulator, fresh_session: aiohttp.ClientSession
) -> None:
    sim = await _editable(start_simulator, reset_rate=1.0, reset_after_share=0.0)
    before = sim.state.get(FIRST)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with fresh_session.patch(
            sim.campaign_url(FIRST), json={"name": "Lost on the way"}, headers=sim.headers
        ) as response:
            await response.read()
    assert sim.state.get(FIRST) == before
    stats = sim.stats()
    assert (stats["resets_before_store"], stats["patches_applied_total"]) == (1, 0)


async def test_a_patch_dropped_after_store_did_change_the_campaign(
    start_simulator: StartSimulator, fresh_session: aiohttp.ClientSession
) -> None:
    sim = await _editable(start_simulator, reset_rate=1.0, reset_after_share=1.0)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with fresh_session.patch(
            sim.campaign_url(FIRST), json={"name": "Stored then lost"}, headers=sim.headers
        ) as response:
            await response.read()
    assert sim.state.get(FIRST)["name"] == "Stored then lost"
    stats = sim.stats()
    assert (stats["resets_after_store"], stats["patches_applied_total"]) == (1, 1)
    assert stats["requests"]["PATCH"] == {"reset": 1}


async def test_a_status_change_dropped_after_store_is_applied(
    start_simulator: StartSimulator, fresh_session: aiohttp.ClientSession
) -> None:
    sim = await start_simulator(
        generate=1, status_weights=(("active", 1.0),), reset_rate=1.0, reset_after_share=1.0
    )
    # aiohttp's client resends the PUT after the drop; the resend meets a paused campaign (409),
    # and is dropped too.
    with pytest.raises(aiohttp.ClientConnectionError):
        async with fresh_session.put(
            sim.campaign_url(FIRST) + "/status", json={"action": "pause"}, headers=sim.headers
        ) as response:
            await response.read()
    assert sim.state.status_of(FIRST) == "paused"
    assert sim.stats()["status_changes_total"] == 1


async def test_a_get_can_be_dropped_too(
    start_simulator: StartSimulator, fresh_session: aiohttp.ClientSession
) -> None:
    sim = await start_simulator(generate=1, reset_rate=1.0)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with fresh_session.get(sim.campaign_url(FIRST), headers=sim.headers) as response:
            await response.read()
    stats = sim.stats()
    # aiohttp's client sends a GET a second time after a drop; both attempts were dropped.
    assert stats["resets"] >= 1
    assert stats["requests"] == {"GET": {"reset": stats["resets"]}}


async def test_dropped_connections_fall_both_before_and_after_the_store(
    start_simulator: StartSimulator, fresh_session: aiohttp.ClientSession
) -> None:
    sim = await _editable(start_simulator, generate=40, reset_rate=1.0)
    keys = sim.state.keys()
    for number, key in enumerate(keys):
        with pytest.raises(aiohttp.ClientConnectionError):
            async with fresh_session.patch(
                sim.campaign_url(key), json={"description": f"try {number}"}, headers=sim.headers
            ) as response:
                await response.read()
    stats = sim.stats()
    changed = sum(sim.state.get(k)["description"] == f"try {n}" for n, k in enumerate(keys))
    assert stats["resets"] == 40
    assert 5 <= stats["resets_after_store"] <= 35
    assert changed == stats["resets_after_store"] == stats["patches_applied_total"]


async def test_some_requests_are_dropped_at_a_partial_reset_rate(
    start_simulator: StartSimulator, fresh_session: aiohttp.ClientSession
) -> None:
    sim = await start_simulator(generate=1, reset_rate=0.3)
    outcomes: list[str] = []
    for _ in range(40):
        try:
            async with fresh_session.get(sim.campaign_url(FIRST), headers=sim.headers) as r:
                outcomes.append(str(r.status))
        except aiohttp.ClientConnectionError:
            outcomes.append("dropped")
    assert 3 <= outcomes.count("dropped") <= 25
    assert outcomes.count("200") + outcomes.count("dropped") == 40


# --- outage --------------------------------------------------------------------------------------


@pytest.mark.realtime  # real time, to tens of milliseconds: a loaded machine makes it late
async def test_the_outage_window_answers_503_then_recovers(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=1, outage=(0.15, 0.2))
    api = api_for(sim)

    def since_start() -> float:
        return time.monotonic() - sim.faults.started_at

    assert (await api.get(FIRST)).status == 200
    await asyncio.sleep(max(0.0, 0.2 - since_start()))
    during = await api.get(FIRST)
    assert during.status == 503
    assert during.body["error"]["code"] == "service_unavailable"
    await asyncio.sleep(max(0.0, 0.37 - since_start()))
    assert (await api.get(FIRST)).status == 200
    assert sim.stats()["outage_rejections"] == 1


async def test_the_outage_refuses_even_a_request_without_a_key(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=1, outage=(0.0, 5.0))
    assert (await api_for(sim).get(FIRST, headers={})).status == 503


# --- revoked key ---------------------------------------------------------------------------------


async def test_a_key_is_revoked_after_n_requests(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=1, revoke_after=3, extra_api_keys=("spare-fake-key",))
    api = api_for(sim)
    statuses = [(await api.get(FIRST)).status for _ in range(5)]
    assert statuses == [200, 200, 200, 401, 401]
    assert (await api.get(FIRST)).body == {"detail": "API key has been revoked"}
    # Each key has its own count.
    assert (await api.get(FIRST, headers={"X-API-Key": "spare-fake-key"})).status == 200


# --- /_sim/* is never faulted --------------------------------------------------------------------


async def test_faults_never_touch_the_sim_routes(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(
        generate=1, outage=(0.0, 5.0), fail_rate=1.0, reset_rate=1.0, rate_limit=1, latency_ms=500
    )
    api = api_for(sim)
    started = time.perf_counter()
    for path in ("/_sim/stats", "/_sim/campaigns", "/_sim/timeline?bucket_ms=10"):
        await api.sim_get(path)
    assert time.perf_counter() - started < 0.4
    assert sim.stats()["requests_total"] == 0
