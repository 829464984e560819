"""The one retry loop, on a fake clock: what is sent again, when, and how often."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bulkpatch.transport.replies import Kind, Reply
from bulkpatch.transport.retries import (
    Check,
    ReadBack,
    RetryPolicy,
    backoff_delay,
    send_with_retries,
)
from support.faketime import FakeTime

OK = Reply("PATCH", Kind.OK, status=200, data={"status": "paused"})
BUSY = Reply("GET", Kind.TRANSIENT, status=503)
SLOW = Reply("GET", Kind.THROTTLED, status=429, retry_after=7.0)
GATEWAY = Reply("PATCH", Kind.UNKNOWN, status=504, message="HTTP 504")
REFUSED = Reply("PATCH", Kind.REJECTED, status=422, message="nope")


def script(*replies: Reply) -> tuple[Callable[[], Awaitable[Reply]], list[int]]:
    sent: list[int] = []

    async def send() -> Reply:
        sent.append(1)
        return replies[min(len(sent), len(replies)) - 1]

    return send, sent


def policy(time: FakeTime, **kw: object) -> RetryPolicy:
    return RetryPolicy(sleep=time.sleep, uniform=lambda low, high: high, **kw)  # type: ignore[arg-type]


def test_backoff_is_full_jitter_under_an_exponential_ceiling_capped_at_30_s() -> None:
    def top(low: float, high: float) -> float:
        return high

    assert [backoff_delay(n, uniform=top) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_delay(20, uniform=top) == 30.0
    assert backoff_delay(3, uniform=lambda low, high: low) == 0.0


def test_retry_after_is_a_floor_under_the_jittered_backoff() -> None:
    assert backoff_delay(1, retry_after=7.0, uniform=lambda low, high: high) == 7.0


async def test_transient_failures_are_retried_with_backoff_until_one_succeeds() -> None:
    time = FakeTime()
    send, _sent = script(BUSY, BUSY, OK)
    done = await send_with_retries(send, policy=policy(time))
    assert done.reply is OK
    assert done.sent == 3
    assert time.slept == [0.5, 1.0]


async def test_max_attempts_counts_every_send() -> None:
    time = FakeTime()
    send, sent = script(BUSY)
    done = await send_with_retries(send, policy=policy(time, max_attempts=4))
    assert done.reply is BUSY
    assert len(sent) == 4


async def test_a_failure_while_the_whole_api_fails_does_not_use_up_an_attempt() -> None:
    time = FakeTime()
    systemic = Reply("GET", Kind.TRANSIENT, status=503, systemic=True)
    send, sent = script(systemic, systemic, systemic, BUSY, OK)
    done = await send_with_retries(send, policy=policy(time, max_attempts=2))
    assert done.ok
    assert len(sent) == 5


async def test_retry_after_is_honoured_as_a_floor() -> None:
    time = FakeTime()
    send, _ = script(SLOW, OK)
    await send_with_retries(send, policy=policy(time))
    assert time.slept == [7.0]


async def test_a_refusal_is_never_sent_again() -> None:
    send, sent = script(REFUSED, OK)
    done = await send_with_retries(send, policy=policy(FakeTime()))
    assert done.reply is REFUSED
    assert len(sent) == 1


async def test_an_unknown_outcome_is_read_back_and_not_sent_again_when_it_landed() -> None:
    looks: list[int] = []

    async def read_back() -> ReadBack:
        looks.append(1)
        return ReadBack(Check.HOLDS, Reply("GET", Kind.OK, status=200))

    send, sent = script(GATEWAY, OK)
    done = await send_with_retries(send, policy=policy(FakeTime()), read_back=read_back)
    assert done.confirmed
    assert done.ok
    assert len(sent) == 1
    assert len(looks) == 1
    assert done.unclear is GATEWAY


async def test_an_unknown_outcome_that_did_not_land_is_sent_again() -> None:
    async def read_back() -> ReadBack:
        return ReadBack(Check.ABSENT, Reply("GET", Kind.OK, status=200))

    send, sent = script(GATEWAY, OK)
    done = await send_with_retries(send, policy=policy(FakeTime()), read_back=read_back)
    assert done.reply is OK
    assert not done.confirmed
    assert len(sent) == 2


async def test_an_unknown_outcome_nobody_can_read_back_is_left_unsettled_not_resent() -> None:
    async def read_back() -> ReadBack:
        return ReadBack(Check.UNCLEAR, BUSY)

    send, sent = script(GATEWAY, OK)
    done = await send_with_retries(send, policy=policy(FakeTime()), read_back=read_back)
    assert done.unsettled
    assert len(sent) == 1


async def test_without_a_way_to_read_back_an_unknown_outcome_is_never_resent() -> None:
    send, sent = script(GATEWAY, OK)
    done = await send_with_retries(send, policy=policy(FakeTime()))
    assert done.unsettled
    assert len(sent) == 1


async def test_a_journal_that_cannot_be_written_stops_the_send() -> None:
    send, sent = script(OK)
    done = await send_with_retries(send, policy=policy(FakeTime()), on_send=lambda n: False)
    assert done.reply.kind is Kind.STOPPED
    assert not sent


async def test_a_stopping_run_gets_no_more_retries() -> None:
    async def stopping() -> bool:
        return False

    send, sent = script(BUSY, OK)
    done = await send_with_retries(send, policy=policy(FakeTime(), permit=stopping))
    assert done.reply is BUSY
    assert len(sent) == 1
