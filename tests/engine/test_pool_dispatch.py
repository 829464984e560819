"""A free worker takes the next row: no row waits behind another's slow answer.

The API answers on the fake clock here (its latency and its ``Retry-After`` cost simulated
seconds only), so these tests measure simulated time: what the run would take against a slow API.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from bulkpatch.core.values import get_path
from bulkpatch.simulator import SimulatorConfig, SimulatorState, build_app
from support.faketime import FakeTime
from support.runs import campaign_rows, run_sheet, write_sheet

ORG, WS = "org-hl", "ws-hl"
VERSION = "app_config.app_version"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def slow_api(
    fake: FakeTime, names: list[str], latency: float, retry_after: dict[str, float] | None = None
) -> AsyncIterator[Any]:
    """A simulator whose every answer takes ``latency`` seconds on ``fake``'s clock; the first
    GET of a campaign named in ``retry_after`` answers 429 with that ``Retry-After``."""
    config = SimulatorConfig(
        seed=3, overrides={(ORG, WS, c): {"status": "paused", VERSION: 1} for c in names}
    )
    state = SimulatorState(config)
    throttled: set[str] = set()

    @web.middleware
    async def on_fake_clock(request: web.Request, handler: Handler) -> web.StreamResponse:
        await fake.sleep(latency)
        name = request.path.rsplit("/", 1)[-1]
        if request.method == "GET" and name in (retry_after or {}) and name not in throttled:
            throttled.add(name)
            headers = {"Retry-After": str(int((retry_after or {})[name]))}
            return web.json_response({"detail": "slow down"}, status=429, headers=headers)
        return await handler(request)

    app = build_app(state)
    app.middlewares.append(on_fake_clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield SimpleNamespace(
            base_url=f"http://127.0.0.1:{port}/api/scheduling", config=config, state=state
        )
    finally:
        await runner.cleanup()


def sheet_of(tmp_path: Path, names: list[str]) -> Path:
    return write_sheet(tmp_path / "slow.csv", campaign_rows(names, ORG, WS, **{VERSION: "5"}))


async def test_six_rows_against_a_slow_api_take_one_rows_time_at_concurrency_8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> None:
    names = [f"s{i}" for i in range(6)]
    async with slow_api(fake_time, names, latency=1.5) as api:
        run = await run_sheet(
            sheet_of(tmp_path, names), api, monkeypatch, concurrency=8, timing=fake_time.timing()
        )
        assert {get_path(api.state.get((ORG, WS, n)), VERSION) for n in names} == {5}
    assert set(run.outcomes().values()) == {"updated"}, run.output
    # A GET and a PATCH of 1.5 s each, all six rows side by side; one at a time would be 18 s.
    assert fake_time.elapsed <= 3.5, fake_time.elapsed


async def test_a_long_retry_after_holds_up_only_its_own_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> None:
    names = [f"r{i:02d}" for i in range(23)]
    finished: dict[str, float] = {}
    async with slow_api(fake_time, names, latency=1.5, retry_after={names[0]: 120}) as api:
        real = api.state.apply_patch

        def noted(key: Any, body: bytes, who: str) -> dict[str, Any]:
            finished[key.campaign_id] = fake_time.elapsed
            return real(key, body, who)

        api.state.apply_patch = noted
        run = await run_sheet(
            sheet_of(tmp_path, names), api, monkeypatch, concurrency=8, timing=fake_time.timing()
        )
    assert set(run.outcomes().values()) == {"updated"}, run.output
    # The other 22 rows go on around the waiting one (three rounds of 3 s, paced down a little
    # after the 429), not after its 120 s.
    assert max(t for n, t in finished.items() if n != names[0]) <= 20, finished
    assert 120 <= fake_time.elapsed <= 126, fake_time.elapsed
