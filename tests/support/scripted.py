"""The simulator with scripted faults: exactly the fault a test names, on exactly the request.

The simulator's own fault switches are random (seeded); a test of one precise sequence — "the
pause is stored, then its answer is lost, then the read-back fails" — scripts it here instead.
A script is a function ``(method, path, nth for this method and path, nth overall)`` returning
``None`` (serve it normally) or an action:

* ``"drop_before"`` / ``"drop_after"``: close the connection without an answer, before or after
  the request is served (so after the change is stored);
* ``"garbage"``: answer 200 with a body that is not JSON, without serving it;
* ``(status, message)``: answer that status with ``{"detail": message}``, without serving it;
  ``(status, message, headers)`` adds those headers (e.g. ``Retry-After`` on a 429);
* ``("after_store", status)``: serve it (a change is stored), then answer that status (a 5xx)
  with a gateway's HTML page instead of the real answer;
* ``("hold", event)``: wait until ``event`` (an ``anyio.Event``) is set, then serve it: a run
  that stays under way for exactly as long as a test needs.

:class:`FrontOnClock` is a script too: the simulator's front faults (an outage window, a rate
limit per second) on a clock the test chooses, usually a :class:`faketime.FakeTime`, so that a
run on that clock meets a twenty-second outage or a slow server in no real time at all.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web

from bulkpatch.simulator import SimulatorConfig, SimulatorState, build_app
from bulkpatch.simulator.app import drop_connection
from bulkpatch.simulator.errors import HTML_ERROR_PAGE
from bulkpatch.simulator.faults import FaultPlan

Decide = Callable[[str, str, int, int], Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def serve_normally(method: str, path: str, nth: int, total: int) -> Any:
    return None


@dataclass
class Script:
    decide: Decide = serve_normally
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    log: list[tuple[str, str, Any]] = field(default_factory=list)
    total: int = 0

    def count(self, method: str) -> int:
        return sum(1 for m, _, _ in self.log if m == method)


def _middleware(script: Script) -> Any:
    @web.middleware
    async def scripted(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sim"):
            return await handler(request)
        script.total += 1
        where = (request.method, request.path)
        script.seen[where] += 1
        action = script.decide(request.method, request.path, script.seen[where], script.total)
        script.log.append((request.method, request.path, action))
        if isinstance(action, tuple) and action[0] == "hold":
            await action[1].wait()  # held until the test lets it through, then served
            return await handler(request)
        if action is None:
            return await handler(request)
        if action == "drop_before":
            return drop_connection(request)
        if action == "drop_after":
            await handler(request)
            return drop_connection(request)
        if action == "garbage":
            return web.Response(status=200, body=b"<html>oops", content_type="text/html")
        if action[0] == "after_store":
            await handler(request)
            status = action[1]
            page = HTML_ERROR_PAGE.format(status=status, reason=HTTPStatus(status).phrase, extra="")
            return web.Response(status=status, text=page, content_type="text/html")
        status, message, *headers = action
        return web.json_response(
            {"detail": message}, status=status, headers=headers[0] if headers else None
        )

    return scripted


@dataclass
class ScriptedSimulator:
    state: SimulatorState
    base_url: str
    script: Script
    config: SimulatorConfig

    def stats(self) -> dict[str, Any]:
        snapshot: dict[str, Any] = self.state.stats.snapshot()
        return snapshot


@contextlib.asynccontextmanager
async def scripted_simulator(
    config: SimulatorConfig, decide: Decide = serve_normally
) -> AsyncIterator[ScriptedSimulator]:
    script = Script(decide)
    state = SimulatorState(config)
    app = build_app(state)
    app.middlewares.append(_middleware(script))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield ScriptedSimulator(state, f"http://127.0.0.1:{port}/api/scheduling", script, config)
    finally:
        await runner.cleanup()


class FrontOnClock:
    """The simulator's front faults on ``clock``: a script (pass it as ``decide``).

    * ``outage=(start, end)``: every API request from ``start`` until ``end`` (on ``clock``)
      answers 503, like ``SimulatorConfig.outage``;
    * ``rate_limit=N``: more than N requests within any sliding second (on ``clock``) answer
      429 with ``Retry-After``: the simulator's own limiter (``FaultPlan.retry_after``).

    ``then`` scripts the requests the front lets through (default: serve them).  It counts what
    it refused, as the simulator's statistics do (``outage_rejections``, ``rate_limited``).
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        outage: tuple[float, float] | None = None,
        rate_limit: int | None = None,
        then: Decide = serve_normally,
    ) -> None:
        self.clock = clock
        self.outage = outage
        self.rate_limit = rate_limit
        self.then = then
        self.outage_rejections = 0
        self.rate_limited = 0
        self.passed = 0
        self._limiter = FaultPlan(SimulatorConfig(rate_limit=rate_limit), clock=clock)

    def __call__(self, method: str, path: str, nth: int, total: int) -> Any:
        now = self.clock()
        if self.outage is not None and self.outage[0] <= now < self.outage[1]:
            self.outage_rejections += 1
            return (503, "Service temporarily unavailable")
        if self.rate_limit is not None:
            wait = self._limiter.retry_after("key", now)
            if wait is not None:
                self.rate_limited += 1
                message = f"Rate limit exceeded: at most {self.rate_limit} requests per second"
                return (429, message, {"Retry-After": str(wait)})
        self.passed += 1
        return self.then(method, path, nth, total)
