"""The circuit breaker and the retry budget, on a fake clock."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from bulkpatch.transport.breaker import COOLDOWN_START, Admission, Breaker
from bulkpatch.transport.replies import Kind, Reply
from bulkpatch.transport.retrybudget import FLOOR, RetryBudget
from support.faketime import FakeTime

OK = Reply("GET", Kind.OK, status=200)
BOOM = Reply("GET", Kind.TRANSIENT, status=503)
LOST = Reply("PATCH", Kind.UNKNOWN, message="connection lost")
REFUSED = Reply("PATCH", Kind.REJECTED, status=422)
THROTTLED = Reply("GET", Kind.THROTTLED, status=429)


def opened(time: FakeTime) -> Breaker:
    """A breaker that a run of server errors has just opened."""
    breaker = Breaker(clock=time.clock, sleep=time.sleep)
    for _ in range(10):
        breaker.record(BOOM)
    assert breaker.is_open
    return breaker


def test_scattered_server_errors_do_not_open_the_breaker() -> None:
    breaker = Breaker(clock=FakeTime().clock)
    for i in range(200):
        breaker.record(BOOM if i % 7 == 0 else OK)
    assert not breaker.is_open
    assert breaker.openings == 0


def test_business_refusals_and_429s_never_open_the_breaker() -> None:
    breaker = Breaker(clock=FakeTime().clock)
    for _ in range(50):
        breaker.record(REFUSED)
        breaker.record(THROTTLED)
    assert not breaker.is_open


async def test_a_run_of_failures_opens_it_and_a_successful_probe_closes_it() -> None:
    time = FakeTime()
    breaker = Breaker(clock=time.clock, sleep=time.sleep)
    systemic = [breaker.record(LOST if i % 2 else BOOM) for i in range(10)]
    assert breaker.is_open
    assert systemic[-1] is True
    start = time.now
    assert await breaker.admit() is Admission.PROBE  # nobody starts during the cool-down ...
    assert time.now - start == pytest.approx(COOLDOWN_START, abs=0.06)  # ... it waited it out
    breaker.record(BOOM)  # a late answer to a request sent before it opened: not the probe's
    assert breaker.is_open
    time.now += 1.0
    breaker.record(OK, probe=True)
    assert not breaker.is_open
    assert breaker.paused_seconds == pytest.approx(time.now - start, abs=0.06)


async def test_a_failed_probe_doubles_the_cool_down() -> None:
    time = FakeTime()
    breaker = opened(time)
    assert await breaker.admit() is Admission.PROBE
    assert breaker.record(BOOM, probe=True) is True
    before = time.now
    assert await breaker.admit() is Admission.PROBE
    assert time.now - before == pytest.approx(2 * COOLDOWN_START, abs=0.06)


async def test_an_outage_longer_than_max_outage_stops_the_run() -> None:
    time = FakeTime()
    reasons: list[str] = []
    breaker = Breaker(clock=time.clock, sleep=time.sleep, max_outage=5.0, on_give_up=reasons.append)
    for _ in range(10):
        breaker.record(BOOM)
    while (admission := await breaker.admit()) is Admission.PROBE:
        breaker.record(BOOM, probe=True)  # the API stays down
    assert admission is Admission.STOP
    assert breaker.gave_up
    assert 5.0 < time.now - 1000.0 < 11.0
    assert reasons
    assert "--max-outage" in reasons[0]


async def test_retries_beyond_a_quarter_of_recent_requests_wait_for_room() -> None:
    time = FakeTime()
    budget = RetryBudget(clock=time.clock, sleep=time.sleep)
    for _ in range(100):
        budget.note_request()
    for _ in range(25):
        assert await budget.permit()
    assert not budget.has_room()
    start = time.now
    assert await budget.permit()  # waits until the window slides past the old ones
    assert time.now - start > 9.0


async def test_a_few_retries_are_always_allowed() -> None:
    budget = RetryBudget(clock=FakeTime().clock)
    for _ in range(FLOOR):
        assert await budget.permit()
    assert not budget.has_room()


async def test_a_budget_wait_gives_up_when_the_run_stops() -> None:
    time = FakeTime()
    budget = RetryBudget(clock=time.clock, sleep=time.sleep)
    for _ in range(FLOOR):
        assert await budget.permit()
    stopping = False

    async def stop_soon() -> None:
        nonlocal stopping
        await anyio.lowlevel.checkpoint()
        stopping = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_soon)
        assert await budget.permit(give_up=lambda: stopping) is False


async def test_a_cancelled_probe_lets_another_request_probe() -> None:
    time = FakeTime()
    breaker = opened(time)
    assert await breaker.admit() is Admission.PROBE
    breaker.abandon()  # the probe's request was cancelled
    assert await breaker.admit() is Admission.PROBE
