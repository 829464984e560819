"""The shared rate (``--rate-store``) against a real ``redis-server`` on loopback: one ceiling
across tasks and processes, the first second included; outages pause, then stop the run."""

from __future__ import annotations

import bisect
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
import redis.asyncio as aioredis

from bulkpatch.core.errors import BulkpatchError, UsageError
from bulkpatch.transport.pacing import SLACK
from bulkpatch.transport.ratestore import (
    BACKOFF_CAP,
    MAX_LATE,
    RateStoreUnavailable,
    SharedRate,
    open_rate_store,
    rate_key_name,
    slot_interval_us,
    store_display,
)
from support.redis_server import MISSING, RedisServer, free_port, redis_server_binary

#: The tests that measure ceilings and slot spacing on real time are marked ``realtime``: with
#: -n, they run last, alone (tests/support/realtime_last.py).  The rest run on a fake clock or
#: measure nothing of time.
REALTIME = pytest.mark.realtime

KEY = rate_key_name("http://127.0.0.1:9/api/scheduling", "test-key-not-secret")


@pytest.fixture
def redis_store(tmp_path: Path) -> Iterator[RedisServer]:
    """A ``redis-server`` on a free loopback port (no persistence), stopped after the test."""
    if redis_server_binary() is None:
        pytest.skip(MISSING)
    with RedisServer(tmp_path / "redis") as server:
        yield server


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()


def most_in_any_closed_second(times: list[float]) -> int:
    times = sorted(times)
    return max(bisect.bisect_right(times, t + 1.0) - i for i, t in enumerate(times))


def first_second(times: list[float]) -> int:
    return sum(1 for t in times if t <= min(times) + 1.0)


# ----------------------------------------------------------------------------------------------
# Pure parts
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/0",
        "127.0.0.1:6379",
        "unix:///tmp/redis.sock",
        "redis+sentinel://127.0.0.1:26379/0",
        "redis://",
        "redis://127.0.0.1:6379/zero",
        "redis://127.0.0.1:notaport/0",
    ],
)
def test_a_url_that_is_not_redis_or_rediss_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError, match="--rate-store"):
        store_display(url)


def test_redis_and_rediss_urls_are_shown_without_their_password() -> None:
    assert store_display("redis://127.0.0.1:6380/2") == "redis://127.0.0.1:6380/2"
    assert store_display("rediss://:s3cret-pw@redis.internal") == "rediss://redis.internal:6379/0"
    with pytest.raises(UsageError) as caught:
        store_display("memcached://user:s3cret-pw@127.0.0.1:11211")
    assert "s3cret-pw" not in str(caught.value)


async def test_opening_a_store_with_a_bad_url_or_rate_is_a_usage_error_before_any_connection() -> (
    None
):
    with pytest.raises(UsageError, match="redis://"):
        await open_rate_store("http://127.0.0.1:9/0", key_name=KEY, rate=10, max_outage=1)
    with pytest.raises(UsageError, match="--rate"):
        await open_rate_store("redis://127.0.0.1:9/0", key_name=KEY, rate=0, max_outage=1)
    with pytest.raises(UsageError, match="--max-outage"):
        await open_rate_store("redis://127.0.0.1:9/0", key_name=KEY, rate=10, max_outage=-1)


@pytest.mark.parametrize("api_key", ["sk_live_0123456789abcdef", "ZZZZ9999", "k-3f9a"])
def test_the_key_name_never_contains_the_key(api_key: str) -> None:
    base = "https://apps.sarvam.ai/api/scheduling"
    name = rate_key_name(base + "/", api_key)
    prefix = "bulkpatch:rate:" + base + ":"
    assert name.startswith(prefix)
    digest = name.removeprefix(prefix)
    assert len(digest) == 24
    assert set(digest) <= set("0123456789abcdef")
    assert api_key not in name
    assert name == rate_key_name(base, api_key)
    assert name != rate_key_name(base, api_key + "x")
    assert name != rate_key_name("https://other.example/api/scheduling", api_key)


@pytest.mark.parametrize("rate", [0.5, 1, 7, 200, 1000, 2500.5])
def test_r_plus_one_shared_slots_span_one_second_plus_the_slack(rate: float) -> None:
    interval = slot_interval_us(rate)
    assert interval * rate >= 1_000_000 * (1 + SLACK)
    assert (interval - 1) * rate < 1_000_000 * (1 + SLACK)


def test_the_store_error_is_a_bulkpatch_error_but_not_a_usage_error() -> None:
    assert issubclass(RateStoreUnavailable, BulkpatchError)
    assert not issubclass(RateStoreUnavailable, UsageError)


# ----------------------------------------------------------------------------------------------
# One process, several tasks and stores
# ----------------------------------------------------------------------------------------------


@REALTIME
async def test_the_shared_ceiling_holds_across_tasks_and_handles_the_first_second_included(
    redis_store: RedisServer,
) -> None:
    rate, per_handle = 100, 60  # 120 starts at 100/s: more than one second's worth
    handles = [
        await open_rate_store(redis_store.url, key_name=KEY, rate=rate, max_outage=5)
        for _ in range(2)
    ]
    times: list[float] = []

    async def worker(shared: SharedRate, n: int) -> None:
        for _ in range(n):
            await shared.acquire()
            times.append(time.monotonic())

    try:
        async with anyio.create_task_group() as tg:
            for shared in handles:
                for _ in range(10):
                    tg.start_soon(worker, shared, per_handle // 10)
    finally:
        for shared in handles:
            await shared.aclose()
    assert len(times) == 2 * per_handle
    assert first_second(times) <= rate
    assert most_in_any_closed_second(times) <= rate
    achieved = (len(times) - 1) / (max(times) - min(times))
    assert achieved <= rate
    # Slots given up on a busy machine (late wake-ups) count as used: the spacing is tight.
    slots = len(times) + sum(s.missed_slots for s in handles)
    assert (slots - 1) / (max(times) - min(times)) >= 0.95 * rate
    assert sum(s.starts for s in handles) == 2 * per_handle
    # One round trip per start (and per slot given up for a late wake-up), one PING per handle.
    missed = sum(s.missed_slots for s in handles)
    assert missed <= len(times) // 4
    assert sum(s.round_trips for s in handles) == 2 * per_handle + missed + 2


@REALTIME
async def test_the_shared_slots_widen_with_the_slack_the_pacer_measures(
    redis_store: RedisServer,
) -> None:
    rate, slack, starts = 50, 0.2, 13  # a wide latency spread: R + 1 starts would span 1.2 s
    shared = await open_rate_store(
        redis_store.url, key_name=KEY, rate=rate, max_outage=5, slack=lambda: slack
    )
    times: list[float] = []
    try:
        for _ in range(starts):
            await shared.acquire()
            times.append(time.monotonic())
    finally:
        await shared.aclose()
    assert shared.interval_us == slot_interval_us(rate, slack)
    # 12 intervals of (1 + slack) / R: 0.288 s, not the 0.242 s of the smallest slack.
    assert max(times) - min(times) >= (starts - 1) * (1 + slack) / rate * 0.97


@REALTIME
async def test_different_keys_do_not_share_a_ceiling(redis_store: RedisServer) -> None:
    rate, starts = 20, 10
    one = await open_rate_store(redis_store.url, key_name=KEY, rate=rate, max_outage=5)
    other = await open_rate_store(
        redis_store.url, key_name=rate_key_name("http://x", "another"), rate=rate, max_outage=5
    )
    times: list[float] = []

    async def take(shared: SharedRate) -> None:
        for _ in range(starts):
            await shared.acquire()
            times.append(time.monotonic())

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(take, one)
            tg.start_soon(take, other)
    finally:
        await one.aclose()
        await other.aclose()
    # Each key's 10 starts take ~0.45 s: one shared ceiling would have taken ~0.95 s.
    assert max(times) - min(times) < 0.7


# ----------------------------------------------------------------------------------------------
# Several processes
# ----------------------------------------------------------------------------------------------

PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import anyio
    from bulkpatch.transport.ratestore import open_rate_store

    url, key, rate, starts = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])

    async def main():
        shared = await open_rate_store(url, key_name=key, rate=rate, max_outage=5)
        times = []
        left = [starts]

        async def worker():
            while left[0] > 0:
                left[0] -= 1
                await shared.acquire()
                times.append(time.monotonic())

        print("ready", flush=True)  # then the common start, on the machine's monotonic clock
        begin = float(sys.stdin.readline())
        await anyio.sleep(max(0.0, begin - time.monotonic()))
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(worker)
        await shared.aclose()
        print(json.dumps({"times": times, "missed": shared.missed_slots}))

    anyio.run(main)
    """
)


@REALTIME
def test_processes_sharing_the_store_never_exceed_the_ceiling_together(
    redis_store: RedisServer, tmp_path: Path
) -> None:
    rate, processes, each = 100, 3, 45  # 135 starts: 1.35 s at the shared rate, 0.45 s alone
    script = tmp_path / "take_slots.py"
    script.write_text(PROCESS_SCRIPT, encoding="utf-8")
    argv = [sys.executable, str(script), redis_store.url, KEY, str(rate), str(each)]
    procs = [
        subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    for proc in procs:  # each has its store open
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n", proc.communicate(timeout=60)[1][-2000:]
    begin = time.monotonic() + 0.2  # all start together: each is told before any is waited for
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{begin}\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out))
    times = [t for r in results for t in r["times"]]
    assert len(times) == processes * each
    assert all(len(r["times"]) == each for r in results)
    assert min(times) >= begin
    assert first_second(times) <= rate
    assert most_in_any_closed_second(times) <= rate
    achieved = (len(times) - 1) / (max(times) - min(times))
    assert achieved <= rate
    slots = len(times) + sum(r["missed"] for r in results)  # given-up slots count as used
    # Slots given up for late wake-ups cost throughput, never safety: bounded loosely, since a
    # loaded machine wakes processes late.
    assert slots <= len(times) * 2
    assert (slots - 1) / (max(times) - min(times)) >= 0.95 * rate
    # Alone, each process would have been done in under a second.
    assert max(times) - min(times) > (processes * each - 1) / rate * 0.98


# ----------------------------------------------------------------------------------------------
# Outages
# ----------------------------------------------------------------------------------------------


async def test_a_killed_store_pauses_acquire_then_raises_after_max_outage(
    redis_store: RedisServer,
) -> None:
    clock = FakeClock()
    reports: list[str] = []
    recoveries: list[None] = []
    shared = await open_rate_store(
        redis_store.url,
        key_name=KEY,
        rate=50,
        max_outage=30,
        clock=clock,
        sleep=clock.sleep,
        on_outage=reports.append,
        on_recover=lambda: recoveries.append(None),
    )
    try:
        await shared.acquire()
        redis_store.kill()
        killed_at = clock.now
        errors: list[RateStoreUnavailable] = []

        async def take() -> None:
            try:
                await shared.acquire()
            except RateStoreUnavailable as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(take)
    finally:
        await shared.aclose()
    assert len(errors) == 5
    assert 30 <= clock.now - killed_at <= 30 + BACKOFF_CAP
    message = str(errors[0])
    assert redis_store.url in message
    assert "--max-outage 30" in message
    assert "resume" in message
    assert len(reports) == 1
    assert redis_store.url in reports[0]
    assert "paused" in reports[0]
    assert recoveries == []
    assert shared.starts == 1
    assert shared.outages == 1
    # One task probed with backoff (not every waiter in a hot loop).
    assert shared.round_trips < 2 + 5 + 30 / BACKOFF_CAP + 8
    assert max(clock.slept) <= BACKOFF_CAP


async def test_acquire_fails_at_once_once_the_store_was_given_up(redis_store: RedisServer) -> None:
    clock = FakeClock()
    shared = await open_rate_store(
        redis_store.url, key_name=KEY, rate=50, max_outage=0, clock=clock, sleep=clock.sleep
    )
    redis_store.kill()
    try:
        with pytest.raises(RateStoreUnavailable):
            await shared.acquire()
        trips = shared.round_trips
        redis_store.start()
        with pytest.raises(RateStoreUnavailable):
            await shared.acquire()
        assert shared.round_trips == trips
    finally:
        await shared.aclose()


async def test_opening_a_store_that_is_not_there_waits_max_outage_then_raises(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    reports: list[str] = []
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(RateStoreUnavailable, match="could not be reached"):
        await open_rate_store(
            url,
            key_name=KEY,
            rate=10,
            max_outage=5,
            clock=clock,
            sleep=clock.sleep,
            on_outage=reports.append,
        )
    assert 5 <= clock.now - 1000.0 <= 5 + BACKOFF_CAP
    assert len(reports) == 1


async def test_acquire_recovers_when_the_store_comes_back_within_max_outage(
    redis_store: RedisServer,
) -> None:
    events: list[str] = []
    shared = await open_rate_store(
        redis_store.url,
        key_name=KEY,
        rate=50,
        max_outage=20,
        on_outage=lambda text: events.append("outage"),
        on_recover=lambda: events.append("recovered"),
    )
    try:
        await shared.acquire()
        redis_store.kill()
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(shared.acquire)
            await anyio.sleep(0.6)
            assert shared.starts == 1  # paused while the store is away
            redis_store.start()
        took = time.monotonic() - started
    finally:
        await shared.aclose()
    assert events == ["outage", "recovered"]
    assert shared.starts == 4
    assert 0.6 <= took < 5


@REALTIME
async def test_a_restarted_empty_store_does_not_hand_out_slots_a_process_still_holds(
    redis_store: RedisServer,
) -> None:
    rate = 10  # slots 101 ms apart: ten reservations reach ~1 s ahead
    interval = slot_interval_us(rate) / 1e6
    shared = await open_rate_store(redis_store.url, key_name=KEY, rate=rate, max_outage=10)
    times: list[float] = []

    async def take() -> None:
        await shared.acquire()
        times.append(time.monotonic())

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(take)
            await anyio.sleep(0.15)  # all ten hold their slots now
            redis_store.kill()
            redis_store.start()  # empty: the next free slot is forgotten
            await take()
    finally:
        await shared.aclose()
    times.sort()
    assert len(times) == 11
    assert times[-1] - times[-2] >= interval - MAX_LATE
    assert most_in_any_closed_second(times) <= rate


async def test_a_start_woken_too_late_gives_its_slot_up_and_takes_another(
    redis_store: RedisServer,
) -> None:
    clock = FakeClock()
    late = [2 * MAX_LATE]

    async def oversleep(seconds: float) -> None:
        clock.now += max(0.0, seconds) + (late.pop() if late else 0.0)
        await anyio.lowlevel.checkpoint()

    shared = await open_rate_store(
        redis_store.url, key_name=KEY, rate=100, max_outage=5, clock=clock, sleep=oversleep
    )
    try:
        await shared.acquire()  # the first slot is now: no sleep, on time
        await shared.acquire()  # sleeps, oversleeps: given up, a new slot taken
    finally:
        await shared.aclose()
    assert shared.missed_slots == 1
    assert shared.starts == 2
    assert shared.round_trips == 1 + 3  # PING, then three reservations


async def test_a_store_that_refuses_the_password_fails_at_once(redis_store: RedisServer) -> None:
    admin = aioredis.Redis.from_url(redis_store.url)
    await admin.config_set("requirepass", "right-password")
    await admin.aclose()
    clock = FakeClock()
    url = redis_store.url.replace("redis://", "redis://:wrong-password@")
    with pytest.raises(RateStoreUnavailable, match="refused") as caught:
        await open_rate_store(
            url, key_name=KEY, rate=10, max_outage=60, clock=clock, sleep=clock.sleep
        )
    assert clock.now == 1000.0  # no waiting: a password does not come back by itself
    assert "wrong-password" not in str(caught.value)


async def test_an_answer_read_late_counts_as_lateness_and_gives_the_slot_up(
    redis_store: RedisServer,
) -> None:
    clock = FakeClock()
    shared = await open_rate_store(
        redis_store.url, key_name=KEY, rate=100, max_outage=5, clock=clock, sleep=clock.sleep
    )
    script = shared._script
    delays = [2 * MAX_LATE, 0.0]

    async def read_late(**kwargs: object) -> object:
        reply = await script(**kwargs)
        clock.now += delays.pop(0) if delays else 0.0  # the answer waited to be read
        return reply

    shared._script = read_late
    try:
        await shared.acquire()
    finally:
        await shared.aclose()
    assert shared.missed_slots == 1
    assert shared.starts == 1
    assert shared.round_trips == 1 + 2


async def test_a_key_of_another_kind_in_the_store_stops_at_once(redis_store: RedisServer) -> None:
    admin = aioredis.Redis.from_url(redis_store.url)
    await admin.rpush(KEY, "not a slot")
    await admin.aclose()
    clock = FakeClock()
    shared = await open_rate_store(
        redis_store.url, key_name=KEY, rate=10, max_outage=60, clock=clock, sleep=clock.sleep
    )
    try:
        with pytest.raises(RateStoreUnavailable, match="refused") as caught:
            await shared.acquire()
    finally:
        await shared.aclose()
    assert "WRONGTYPE" in str(caught.value)
    assert clock.now == 1000.0
