"""The pacer, driven by a fake clock: an exact ceiling, the first second included, and AIMD."""

from __future__ import annotations

import bisect

import pytest

from bulkpatch.transport.pacing import Pacer, safe_rate


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def most_in_any_closed_second(times: list[float]) -> int:
    return max(bisect.bisect_right(times, t + 1.0) - i for i, t in enumerate(times))


async def starts(pacer: Pacer, clock: FakeClock, n: int) -> list[float]:
    times = []
    for _ in range(n):
        await pacer.acquire()
        times.append(clock.now)
    return times


@pytest.mark.parametrize("rate", [1, 3, 10, 200, 250.5])
async def test_no_closed_one_second_window_ever_holds_more_than_the_rate(rate: float) -> None:
    clock = FakeClock()
    pacer = Pacer(rate, clock=clock, sleep=clock.sleep)
    times = await starts(pacer, clock, int(rate * 5) + 5)
    assert most_in_any_closed_second(times) <= int(rate)


async def test_the_achieved_rate_is_at_least_98_percent_of_the_ceiling() -> None:
    clock = FakeClock()
    pacer = Pacer(200, clock=clock, sleep=clock.sleep)
    times = await starts(pacer, clock, 2001)
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved >= 0.98 * 200


def test_the_pacing_rate_stays_under_the_ceiling() -> None:
    assert safe_rate(200) < 200
    assert safe_rate(1) < 1
    assert safe_rate(0.5) < 0.5


async def test_a_throttle_signal_halves_the_rate_and_quiet_seconds_bring_it_back() -> None:
    clock = FakeClock()
    pacer = Pacer(100, clock=clock, sleep=clock.sleep)
    pacer.throttled()
    assert pacer.current_rate == 50
    pacer.throttled()  # within the same second: ignored
    assert pacer.current_rate == 50
    for _ in range(200):
        clock.now += 0.1
        pacer.succeeded()
    assert pacer.current_rate == 100


async def test_an_unlimited_pacer_slows_down_from_the_rate_it_observed() -> None:
    clock = FakeClock()
    pacer = Pacer(None, clock=clock, sleep=clock.sleep)
    for _ in range(300):  # 300 starts within one second
        await pacer.acquire()
        clock.now += 0.003
    pacer.throttled()
    rate = pacer.current_rate
    assert rate is not None
    assert 100 <= rate <= 200


async def test_a_429_storm_does_not_cut_the_rate_below_what_the_server_accepts() -> None:
    clock = FakeClock()
    pacer = Pacer(200, clock=clock, sleep=clock.sleep)
    for _ in range(50):  # the server accepted 50 in the last second
        clock.now += 0.02
        pacer.succeeded()
    for i in range(20):  # then said "too fast" to request after request
        pacer.throttled(sent_at=clock.now)
        clock.now += 0.001 * (i + 1)
    rate = pacer.current_rate
    assert rate is not None
    assert 40 <= rate <= 50


async def test_a_429_for_a_request_sent_before_the_last_cut_is_ignored() -> None:
    clock = FakeClock()
    pacer = Pacer(100, clock=clock, sleep=clock.sleep)
    sent = clock.now
    clock.now += 0.01
    pacer.throttled(sent_at=sent)
    pacer.throttled(sent_at=sent)  # the same window of requests: no second cut
    assert pacer.current_rate == 50
    clock.now += 0.01
    pacer.throttled(sent_at=clock.now - 0.001)  # sent after the cut: the rate is still too high
    assert pacer.current_rate == 25
