"""One process of the shared-rate measurement: take start slots, record each actual start.

    python tests/benchmarks/shared_rate_driver.py --limiter gcra --store redis://127.0.0.1:PORT/0 \
        --rate 200 --seconds 10 --concurrency 16 --out starts-1.json [--base-url URL ...]

``--limiter``:

* ``gcra``: bulkpatch's shared rate (``bulkpatch.transport.ratestore``), after this process's own
  pacer, as ``bulkpatch run --rate-store`` uses them;
* ``limits`` / ``limits-slack``: the ``limits`` library's async moving window on Redis (through
  redis-py), ``R`` (or ``R / (1 + SLACK)``, the same margin as the GCRA) per 1-second window;
  one task per process at a time asks the store (else every waiter polls at once); when the
  window is full it reads when the oldest entry leaves the window and sleeps until then;
* ``none``: no store, only this process's own pacer at ``--rate`` (what several processes
  without ``--rate-store`` do).

Each of ``--concurrency`` tasks takes a slot, records ``time.monotonic()`` (one clock for every
process of the machine) and, with ``--base-url``, GETs one campaign from the simulator, telling
the pacer about 429s as a run does.  All processes begin at ``--start-at`` (a monotonic time), so
their first seconds overlap.  The output JSON has the start times, round trips to the store and
the answers by status.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import anyio

from bulkpatch.transport import ratestore
from bulkpatch.transport.pacing import SLACK, Pacer
from bulkpatch.transport.ratestore import open_rate_store, rate_key_name

ORG, WORKSPACE = "org-demo", "ws-demo"


class Limiter(Protocol):
    round_trips: int

    async def acquire(self) -> None: ...

    async def aclose(self) -> None: ...


class NoStore:
    round_trips = 0

    async def acquire(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class LimitsMovingWindow:
    """The ``limits`` library's moving window on Redis, made to wait rather than refuse."""

    def __init__(self, url: str, key: str, amount: int) -> None:
        from limits import RateLimitItemPerSecond
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        self._storage = RedisStorage("async+" + url, implementation="redispy")
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._item = RateLimitItemPerSecond(amount, 1)
        self._key = key
        self._lock = anyio.Lock()
        self.round_trips = 0

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                self.round_trips += 1
                if await self._limiter.hit(self._item, self._key):
                    return
                self.round_trips += 1
                stats = await self._limiter.get_window_stats(self._item, self._key)
                await anyio.sleep(max(0.0, stats.reset_time - time.time()))

    async def aclose(self) -> None:
        return None


async def make_limiter(args: argparse.Namespace, key: str) -> Limiter:
    if args.limiter == "none":
        return NoStore()
    if args.limiter == "gcra":
        if args.slack is not None:  # for measuring other margins than the shipped ones
            ratestore.SLACK = args.slack
        if args.max_late is not None:
            ratestore.MAX_LATE = args.max_late
        return await open_rate_store(args.store, key_name=key, rate=args.rate, max_outage=10.0)
    amount = args.rate if args.limiter == "limits" else math.floor(args.rate / (1 + SLACK))
    return LimitsMovingWindow(args.store, key, int(amount))


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    api_key = os.environ.get(args.api_key_env, "") if args.api_key_env else ""
    key = rate_key_name(args.base_url or "http://127.0.0.1", api_key or "measurement-key")
    limiter = await make_limiter(args, key)
    pacer = Pacer(args.rate)
    starts: list[float] = []
    statuses: Counter[str] = Counter()
    counter = iter(range(args.first, 10**9))
    session = aiohttp.ClientSession(headers={"X-API-Key": api_key}) if args.base_url else None
    now = time.monotonic()
    if args.start_at > now:
        await anyio.sleep(args.start_at - now)
    deadline = time.monotonic() + args.seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < deadline and (args.requests is None or done < args.requests):
            done += 1
            await pacer.acquire()
            await limiter.acquire()
            sent = time.monotonic()
            starts.append(sent)
            if session is None:
                continue
            n = next(counter) % args.campaigns + 1
            url = f"{args.base_url}/v1/orgs/{ORG}/workspaces/{WORKSPACE}/campaigns/cmp-{n:06d}"
            async with session.get(url) as response:
                await response.read()
                statuses[str(response.status)] += 1
                if response.status == 429:
                    pacer.throttled(sent)
                else:
                    pacer.succeeded()

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(args.concurrency):
                tg.start_soon(worker)
    finally:
        if session is not None:
            await session.close()
        await limiter.aclose()
    return {
        "limiter": args.limiter,
        "starts": starts,
        "round_trips": limiter.round_trips,
        "missed_slots": getattr(limiter, "missed_slots", 0),
        "statuses": dict(statuses),
        "pacer_cuts": pacer.throttle_events,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limiter", choices=("gcra", "limits", "limits-slack", "none"))
    parser.add_argument("--store", default="", help="redis://HOST:PORT/DB")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--requests", type=int, help="Stop after this many starts.")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--start-at", type=float, default=0.0, help="A time.monotonic() value.")
    parser.add_argument("--base-url", help="A simulator's base URL: GET a campaign per start.")
    parser.add_argument("--api-key-env", help="The environment variable holding the key.")
    parser.add_argument("--campaigns", type=int, default=100, help="Campaigns to cycle over.")
    parser.add_argument("--first", type=int, default=0, help="The first campaign (offset).")
    parser.add_argument("--slack", type=float, help="gcra: another SLACK (seconds).")
    parser.add_argument("--max-late", type=float, help="gcra: another MAX_LATE (seconds).")
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    result = anyio.run(drive, args)
    args.out.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
