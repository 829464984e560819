"""Reading the API as a run does, without a sheet: for ``export`` and ``verify``.

:class:`Reader` sends GETs -- a campaign, a page of the list -- through the same machinery as a
run: one key lane (pacer at ``--rate``, breaker, key guard), the retry loop with its budget, the
run's ``RunStats``.  It stops like a run: a refused key or a long outage stops it; a
:class:`~bulkpatch.ops.apply.Stopper` (Ctrl-C) stops it, and requests still in flight are cancelled
after :data:`GRACE` seconds.  It sends nothing but GETs.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import anyio

from bulkpatch.core.errors import UsageError
from bulkpatch.core.events import EventSink, Notice, Progress, RunFinished
from bulkpatch.core.options import RunOptions
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.stopper import Stopper
from bulkpatch.core.summary import RunSummary
from bulkpatch.core.timing import Timing
from bulkpatch.core.urls import BaseUrlError, check_base_url
from bulkpatch.engine.executor import Executor, RunControl
from bulkpatch.engine.stats import RunStats
from bulkpatch.engine.target import make_lane
from bulkpatch.simulator import SimulatorConfig, SnapshotError, load_state, serve_simulator
from bulkpatch.transport.client import ApiClient, Lane, new_session
from bulkpatch.transport.credentials import load_api_key
from bulkpatch.transport.retries import RetryPolicy, Sent, send_with_retries
from bulkpatch.transport.retrybudget import RetryBudget

#: Seconds requests in flight get after Ctrl-C before they are cancelled.
GRACE = 5.0
T = TypeVar("T")


def resolve_target(options: RunOptions, api_key: str | None, on_event: EventSink) -> str:
    """The key to read with (from the options' source unless given); checks the base URL."""
    try:
        check_base_url(options.base_url)
    except BaseUrlError as exc:
        raise UsageError(str(exc)) from None
    return api_key if api_key is not None else load_api_key(options, on_event)


@asynccontextmanager
async def simulated(
    options: RunOptions, *, org: str, workspace: str, generate: int
) -> AsyncIterator[tuple[str, str]]:
    """(base URL, key) of an embedded simulator holding ``generate`` campaigns in org/ws."""
    key = "sim-" + secrets.token_hex(8)
    config = SimulatorConfig(
        api_key=key, seed=options.seed, generate=generate, org_id=org, workspace_id=workspace
    )
    async with serve_simulator(config) as sim:
        yield sim.base_url, key


@asynccontextmanager
async def from_state(options: RunOptions, path: Path) -> AsyncIterator[tuple[str, str]]:
    """(base URL, key) of an embedded simulator holding the campaigns saved in ``path`` (a
    ``--simulate`` run's ``simulator-state.json``); :class:`UsageError` when it cannot be read."""
    key = "sim-" + secrets.token_hex(8)
    config = SimulatorConfig(api_key=key, seed=options.seed)
    try:
        state = load_state(path, config)
    except (OSError, SnapshotError) as exc:
        raise UsageError(f"cannot start the simulator from {exc}") from None
    async with serve_simulator(config, state=state) as sim:
        yield sim.base_url, key


class Reader:
    """GETs with a run's pacing, retries, breaker and key guard."""

    def __init__(
        self,
        options: RunOptions,
        *,
        base_url: str,
        api_key: str,
        timing: Timing,
        on_event: EventSink,
        stopper: Stopper | None = None,
    ) -> None:
        self.options = options
        self.control = RunControl()
        self.stats = RunStats(clock=timing.clock)
        self.interrupted = anyio.Event()
        self.base_url = base_url
        self._api_key = api_key
        self._timing = timing
        self._emit = on_event
        self._stopper = stopper
        self._lane: Lane | None = None
        self._client: ApiClient | None = None
        self._executor: Executor | None = None
        self._policy: RetryPolicy | None = None
        #: (done, total) for the progress events.
        self.progress: Callable[[], tuple[int, int]] = lambda: (0, 0)

    def emit_notice(self, level: Any, text: str, code: str = "") -> None:
        self._emit(Notice(level, text, code))

    def _stop(self, reason: str) -> None:
        self.control.stop(reason)
        self.interrupted.set()

    def _gave_up(self, reason: str) -> None:
        self.control.stop(reason)
        self._emit(Notice("error", f"stopping: {reason}", "outage"))

    def _refused(self, lane: Lane, why: str) -> None:
        self.control.stop(why)
        self._emit(Notice("error", f"stopping: {why}", "key_refused"))

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Reader]:
        options, timing = self.options, self._timing
        lane = self._lane = make_lane(
            options, self._api_key, timing, label="the API key", on_give_up=self._gave_up
        )
        budget = RetryBudget(clock=timing.clock, sleep=timing.sleep)
        control = self.control

        async def permit() -> bool:
            if control.stopping:
                return False
            return await budget.permit(give_up=lambda: control.stopping)

        self._policy = RetryPolicy(
            max_attempts=options.max_attempts,
            sleep=timing.sleep,
            uniform=timing.uniform,
            permit=permit,
            on_retry=self.stats.record_retry,
        )
        if self._stopper is not None:
            self._stopper.attach(self._stop, lambda: None)
        async with new_session(options.concurrency) as http:
            self._client = ApiClient(
                http,
                base_url=self.base_url,
                lanes=lambda org: lane,
                budget=budget,
                timeout=options.timeout,
                on_reply=self.stats.record_reply,
                on_refused=self._refused,
                clock=timing.clock,
            )
            self._executor = Executor(
                self._client,
                control=control,
                budget=budget,
                journal=None,
                max_attempts=options.max_attempts,
                on_retry=self.stats.record_retry,
                clock=timing.clock,
                sleep=timing.sleep,
                uniform=timing.uniform,
            )
            yield self

    async def read(self, key: CampaignKey) -> Sent:
        """GET a campaign, with retries."""
        assert self._executor is not None
        return await self._executor.read(key)

    async def list_page(self, org: str, workspace: str, query: Mapping[str, str] | str) -> Sent:
        """GET a page of the campaign list (a query, or a path the API gave), with retries."""
        assert self._client is not None
        assert self._policy is not None
        client = self._client
        return await send_with_retries(
            lambda: client.list_page(org, workspace, query), policy=self._policy
        )

    async def guarded(self, body: Callable[[], Awaitable[T]]) -> T | None:
        """Run ``body`` with a progress event a second; Ctrl-C cancels it after :data:`GRACE`
        seconds (None is returned then)."""
        out: list[T] = []
        failed: list[Exception] = []

        async def main(scope: anyio.CancelScope) -> None:
            try:
                out.append(await body())
            except Exception as exc:  # raised below, outside the task group (not grouped)
                failed.append(exc)
            scope.cancel()

        async def cut_off(scope: anyio.CancelScope) -> None:
            await self.interrupted.wait()
            await anyio.sleep(GRACE)
            scope.cancel()

        async def tick() -> None:
            while True:
                await anyio.sleep(1.0)
                self.emit_progress()

        async with anyio.create_task_group() as tg:
            tg.start_soon(main, tg.cancel_scope)
            tg.start_soon(cut_off, tg.cancel_scope)
            tg.start_soon(tick)
        if failed:
            raise failed[0]
        self.emit_progress()
        return out[0] if out else None

    def emit_progress(self) -> None:
        lane = self._lane
        done, total = self.progress()
        self._emit(
            Progress(
                done=done,
                total=total,
                counts={},
                achieved_rate=self.stats.achieved_rate(),
                target_rate=lane.pacer.current_rate if lane is not None else self.options.rate,
                breaker_open=lane.breaker.is_open if lane is not None else False,
                elapsed=self.stats.elapsed,
            )
        )

    def request_stats(self) -> dict[str, Any]:
        data = self.stats.as_dict()
        return {k: data[k] for k in ("requests", "http_statuses", "retries", "throttled_429")} | {
            "achieved_rate": data["achieved_rate"],
            "duration_s": data["duration_s"],
        }

    def finish(
        self,
        mode: str,
        where: Path,
        code: int,
        outcomes: dict[str, int],
        data: dict[str, Any],
        on_event: EventSink,
    ) -> RunSummary:
        """The summary of a command that only reads (``export``, ``verify``), told to
        ``on_event``: ``data`` followed by the stop reason, the request statistics and ``code``."""
        reason = self.control.stop_reason
        data = {**data, "stop_reason": reason or None, **self.request_stats(), "exit_code": code}
        summary = RunSummary(
            run_dir=where,
            mode=mode,
            exit_code=code,
            outcomes=outcomes,
            stop_reason=reason,
            data=data,
        )
        on_event(RunFinished(summary))
        return summary


@asynccontextmanager
async def reading(
    options: RunOptions,
    simulator: AbstractAsyncContextManager[tuple[str, str]] | None,
    *,
    api_key: str | None,
    timing: Timing,
    on_event: EventSink,
    stopper: Stopper | None,
) -> AsyncIterator[Reader]:
    """A :class:`Reader` of the API ``options`` name, with the key ``api_key`` or ``options``
    give; or of ``simulator`` (its base URL and key) when given."""
    if simulator is None:
        key = resolve_target(options, api_key, on_event)
        simulator = nullcontext((options.base_url.rstrip("/"), key))
    async with simulator as (base_url, key):
        yield Reader(
            options,
            base_url=base_url,
            api_key=key,
            timing=timing,
            on_event=on_event,
            stopper=stopper,
        )


async def read_all(
    reader: Reader,
    keys: Iterable[T],
    key_of: Callable[[T], CampaignKey],
    each: Callable[[T, Sent], None],
) -> None:
    """Read the campaign of every item with ``--concurrency`` workers, calling ``each`` per
    answer (in any order); stops taking items once the reader is stopping."""
    items = iter(keys)

    async def worker() -> None:
        for item in items:
            if reader.control.stopping:
                return
            each(item, await reader.read(key_of(item)))

    async with anyio.create_task_group() as tg:
        for _ in range(reader.options.concurrency):
            tg.start_soon(worker)
