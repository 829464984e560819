"""The circuit breaker and the retry budget, on a fake clock."""

from __future__ import annotations

import anyio
import pytest

from bulkpatch.client import Reply
from bulkpatch.health import BUDGET_FLOOR, COOLDOWN_START, Admission, Health

OK = Reply("GET", status=200)
BOOM = Reply("GET", status=503)
LOST = Reply("PATCH", error="connection lost", maybe_sent=True)
REFUSED = Reply("PATCH", status=422)
THROTTLED = Reply("GET", status=429)


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def opened(clock: FakeClock) -> Health:
    """A breaker that a run of server errors has just opened."""
    health = Health(clock=clock, poll=0)
    for _ in range(10):
        health.record(BOOM)
    assert health.is_open
    return health


def test_scattered_server_errors_do_not_open_the_breaker() -> None:
    health = Health(clock=FakeClock())
    for i in range(200):
        health.record(BOOM if i % 7 == 0 else OK)
    assert not health.is_open
    assert health.openings == 0


def test_business_refusals_and_429s_never_open_the_breaker() -> None:
    health = Health(clock=FakeClock())
    for _ in range(50):
        health.record(REFUSED)
        health.record(THROTTLED)
    assert not health.is_open


async def test_a_run_of_failures_opens_it_and_a_successful_probe_closes_it() -> None:
    clock = FakeClock()
    health = Health(clock=clock, poll=0)
    systemic = [health.record(LOST if i % 2 else BOOM) for i in range(10)]
    assert health.is_open
    assert systemic[-1] is True
    with anyio.move_on_after(0.05) as waited:
        await health.admit()
    assert waited.cancelled_caught  # nobody starts during the cool-down
    clock.now += 1.5
    assert await health.admit() is Admission.PROBE
    health.record(BOOM)  # a late answer to a request sent before it opened: not the probe's
    assert health.is_open
    health.record(OK, probe=True)
    assert not health.is_open
    assert health.paused_seconds == pytest.approx(1.5)


async def test_a_failed_probe_doubles_the_cool_down() -> None:
    clock = FakeClock()
    health = opened(clock)
    clock.now += COOLDOWN_START
    assert await health.admit() is Admission.PROBE
    assert health.record(BOOM, probe=True) is True
    clock.now += COOLDOWN_START * 1.5
    with anyio.move_on_after(0.05) as waited:
        await health.admit()
    assert waited.cancelled_caught
    clock.now += COOLDOWN_START * 0.6
    assert await health.admit() is Admission.PROBE


async def test_an_outage_longer_than_max_outage_stops_the_run() -> None:
    clock = FakeClock()
    reasons: list[str] = []
    health = Health(clock=clock, poll=0, max_outage=5.0, on_outage=reasons.append)
    for _ in range(10):
        health.record(BOOM)
    clock.now += 6.0
    assert await health.admit() is Admission.STOP
    assert health.gave_up
    assert reasons
    assert "--max-outage" in reasons[0]


async def test_retries_beyond_a_quarter_of_recent_requests_wait_for_room() -> None:
    clock = FakeClock()
    health = Health(clock=clock, poll=0)
    for _ in range(100):
        health.record(OK)
    for _ in range(25):
        assert await health.retry_permit()
    assert not health.retry_room()
    clock.now += 11.0  # the window slides past them
    assert health.retry_room()


async def test_a_few_retries_are_always_allowed() -> None:
    health = Health(clock=FakeClock(), poll=0)
    for _ in range(BUDGET_FLOOR):
        assert await health.retry_permit()
    assert not health.retry_room()


async def test_a_cancelled_probe_lets_another_request_probe() -> None:
    clock = FakeClock()
    health = opened(clock)
    clock.now += COOLDOWN_START
    assert await health.admit() is Admission.PROBE
    health.abandon()  # the probe's request was cancelled
    assert await health.admit() is Admission.PROBE
