"""Shared fixtures.

Simulator fixtures: the embedded simulator of the Scheduling API, served on a free loopback port
for the length of one test (``bulkpatch.simulator.serve_simulator``); ``start_scripted`` serves
one whose faults a test scripts request by request (``tests/support/scripted.py``).
``fake_time`` is a clock that moves only when the run sleeps (``tests/support/faketime.py``):
pass ``fake_time.timing()`` to ``run_sheet`` and retries, backoffs, cool-downs and pacing take
no real time.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import support.realtime_last as realtime_last
from bulkpatch.simulator import Simulator, SimulatorConfig, serve_simulator
from support import forkserver, workers
from support.faketime import FakeTime
from support.scripted import Decide, ScriptedSimulator, scripted_simulator, serve_normally

#: Generated dates are spread around this instant, so they do not depend on the day tests run.
SIM_ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)
#: The seed simulator fixtures use unless told otherwise.
SIM_SEED = 7

StartSimulator = Callable[..., Awaitable[Simulator]]
StartScripted = Callable[..., Awaitable[ScriptedSimulator]]


@pytest.fixture
async def start_simulator() -> AsyncIterator[StartSimulator]:
    """A function that starts a simulator and returns its :class:`Simulator` handle.

    Call it with a :class:`SimulatorConfig`, or with its keywords
    (``await start_simulator(generate=5, fail_rate=1.0)``; seed and anchor default to
    ``SIM_SEED`` / ``SIM_ANCHOR``).  Every simulator started stops when the test ends.
    """
    async with AsyncExitStack() as stack:

        async def start(config: SimulatorConfig | None = None, **knobs: Any) -> Simulator:
            if config is None:
                knobs.setdefault("seed", SIM_SEED)
                knobs.setdefault("anchor", SIM_ANCHOR)
                config = SimulatorConfig(**knobs)
            return await stack.enter_async_context(serve_simulator(config))

        yield start


@pytest.fixture
async def start_scripted() -> AsyncIterator[StartScripted]:
    """Like ``start_simulator``, with a script first: ``await start_scripted(decide, **knobs)``
    (or ``config=SimulatorConfig(...)``) serves a simulator whose requests ``decide`` may fail
    one by one (``tests/scripted.py``); it stops when the test ends."""
    async with AsyncExitStack() as stack:

        async def start(
            decide: Decide = serve_normally, config: SimulatorConfig | None = None, **knobs: Any
        ) -> ScriptedSimulator:
            if config is None:
                knobs.setdefault("seed", SIM_SEED)
                knobs.setdefault("anchor", SIM_ANCHOR)
                config = SimulatorConfig(**knobs)
            return await stack.enter_async_context(scripted_simulator(config, decide))

        yield start


@pytest.fixture
def fake_time() -> FakeTime:
    """A fake clock for this test; ``fake_time.timing()`` puts a run on it."""
    return FakeTime()


@pytest.fixture
async def simulator(start_simulator: StartSimulator) -> Simulator:
    """A fault-free simulator holding 20 generated campaigns ``cmp-000001`` ... in
    ``org-demo/ws-demo``; its key is ``simulator.headers``."""
    return await start_simulator(generate=20)


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp client session (no auth header: pass ``headers=sim.headers``)."""
    async with aiohttp.ClientSession() as session:
        yield session


#: Libraries whose asserts pytest would rewrite on import, as it does every package of a
#: distribution that ships a pytest plugin: the tests import them, and do not test them.
NOT_REWRITTEN = frozenset({"hypothesis"})


def pytest_configure(config: pytest.Config) -> None:
    """Child processes (``python -m bulkpatch`` ...) keep their compiled bytecode in one cache
    outside the tree, even where PYTHONDONTWRITEBYTECODE is set: each starts in about 0.5 s
    instead of 0.8 s, and the tests start dozens.

    Hypothesis is imported as installed (its compiled bytecode), not with its asserts rewritten:
    rewriting its 75 modules costs a test process 0.7 s of CPU wherever pytest has not cached
    them yet (a fresh clone's workers) or may not (``-n0``: PYTHONDONTWRITEBYTECODE holds
    there).  The test modules and conftests are still rewritten."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.setdefault(
        "PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / f"bulkpatch-pycache-{os.getuid()}")
    )
    hook = config.pluginmanager.rewrite_hook  # pytest's; its marks are not public API
    marked = getattr(hook, "_must_rewrite", None)
    if isinstance(marked, set) and "hypothesis" not in sys.modules:
        marked.difference_update(NOT_REWRITTEN)
        getattr(hook, "_marked_for_rewrite_cache", {}).clear()


#: A test that takes longer than this (its call, in seconds) should be marked ``slow``, and
#: say why it cannot run on the fake clock; the summary lists the ones that are not.
SLOW_BUDGET = 2.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``realtime`` measure real time (rates, latencies, how fast something
    stops): with ``-n``, they run last, one after another, alone (tests/realtime_last.py).
    The ``slow`` ones are handed out first, so that no worker ends the run with a long test
    while the others wait."""
    realtime_last.write_ids(config, items)
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    node.workerinput[realtime_last.KEY] = str(realtime_last.ids_dir(node.config))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: a worker per core and one more per two cores (tests/support/workers.py),
    unless PYTEST_XDIST_AUTO_NUM_WORKERS says how many."""
    if os.environ.get(workers.OVERRIDE):
        return None  # pytest-xdist reads it
    return workers.auto_workers(workers.cores())


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "load":
        return None
    return realtime_last.make_scheduler(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    forkserver.shutdown()  # waited for: its children's CPU time counts in the run's
    made = getattr(config, "_realtime_ids_dir", None)
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)


_over_budget: list[tuple[float, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.duration > SLOW_BUDGET and "slow" not in report.keywords:
        _over_budget.append((report.duration, report.nodeid))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _over_budget:
        terminalreporter.section(f"over {SLOW_BUDGET:g} s and not marked slow")
        for duration, nodeid in sorted(_over_budget, reverse=True):
            terminalreporter.write_line(f"{duration:6.2f}s {nodeid}")
