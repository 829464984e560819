"""``fail_after_store_rate``: the change is stored, then its answer is a 5xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bulkpatch.simulator import FaultPlan, Simulator, SimulatorConfig
from support.sim_client import FIRST, Api

StartSimulator = Callable[..., Any]


async def _paused(start_simulator: StartSimulator, **knobs: Any) -> tuple[Simulator, Any]:
    sim: Simulator = await start_simulator(
        generate=knobs.pop("generate", 3), status_weights=(("paused", 1.0),), **knobs
    )
    return sim, sim.state.get(FIRST)


async def test_a_patch_failed_after_store_is_stored_and_answered_500_502_or_504(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim, before = await _paused(start_simulator, fail_after_store_rate=1.0)
    api = api_for(sim)
    answers = [await api.patch(FIRST, {"description": f"try {n}"}) for n in range(30)]
    assert {a.status for a in answers} == {500, 502, 504}
    json_bodies = [a.body for a in answers if a.body is not None]
    html_pages = [a.text for a in answers if a.body is None]
    assert json_bodies
    assert html_pages
    assert all(set(b["error"]) == {"message", "code"} for b in json_bodies)
    assert all(t.startswith("<html>") for t in html_pages)
    stored = sim.state.get(FIRST)
    assert stored["description"] == "try 29"
    assert stored["updated_at"] > before["updated_at"]
    stats = sim.stats()
    assert stats["failures_after_store"] == 30
    assert stats["patches_applied_total"] == 30
    assert stats["injected_failures"] == 0
    assert sum(stats["requests"]["PATCH"].values()) == 30


async def test_a_status_change_failed_after_store_is_applied(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(
        generate=1, status_weights=(("active", 1.0),), fail_after_store_rate=1.0
    )
    answer = await api_for(sim).put_status(FIRST, "pause")
    assert answer.status in {500, 502, 504}
    assert sim.state.status_of(FIRST) == "paused"
    stats = sim.stats()
    assert (stats["status_changes_total"], stats["failures_after_store"]) == (1, 1)


async def test_a_refused_change_and_a_get_are_never_failed_after_store(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(
        generate=1, status_weights=(("active", 1.0),), fail_after_store_rate=1.0
    )
    api = api_for(sim)
    assert (await api.patch(FIRST, {"name": "Not now"})).status == 409
    assert (await api.put_status(FIRST, "resume")).status == 409
    assert (await api.get(FIRST)).status == 200
    assert (await api.list()).status == 200
    stats = sim.stats()
    assert (stats["failures_after_store"], stats["patches_applied_total"]) == (0, 0)


async def test_failures_after_store_repeat_under_the_same_seed(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    async def statuses(seed: int) -> list[int]:
        sim, _ = await _paused(start_simulator, fail_after_store_rate=0.5, seed=seed)
        api = api_for(sim)
        return [(await api.patch(FIRST, {"description": str(n)})).status for n in range(30)]

    first, again, other = await statuses(5), await statuses(5), await statuses(6)
    assert first == again
    assert first != other
    assert 200 in first
    assert set(first) - {200} <= {500, 502, 504}


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_the_after_store_decision_draws_nothing_from_the_other_faults(rate: float) -> None:
    # Turning the fault on must not change the decisions of the injected failures.
    plain = FaultPlan(SimulatorConfig(fail_rate=0.5, seed=2))
    mixed = FaultPlan(SimulatorConfig(fail_rate=0.5, fail_after_store_rate=rate, seed=2))
    for _ in range(50):
        mixed.failure_after_store()
        assert plain.failure() == mixed.failure()
