"""Durable and well-behaved under faults: the simulator's fault switches against real runs."""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager as AsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkpatch.core.values import get_path
from bulkpatch.rundir.journal import read_journal
from bulkpatch.transport.breaker import COOLDOWN_MAX
from support.faketime import FakeTime
from support.runs import (
    Child,
    StartScripted,
    StartSimulator,
    bulkpatch,
    bulkpatch_running,
    campaign_rows,
    only_run_dir,
    run_dirs,
    run_sheet,
    write_sheet,
)
from support.scripted import FrontOnClock

ORG, WS = "org-dur", "ws-dur"
TARGET_VERSION = 42


def ids(n: int, prefix: str = "d") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


def statuses(names: list[str], *, active_every: int = 0) -> dict[Any, dict[str, Any]]:
    return {
        (ORG, WS, c): {
            "status": "active" if active_every and i % active_every == 0 else "paused",
            "app_config.app_version": 1,
        }
        for i, c in enumerate(names)
    }


def version_sheet(path: Path, names: list[str]) -> Path:
    return write_sheet(
        path, campaign_rows(names, ORG, WS, **{"app_config.app_version": str(TARGET_VERSION)})
    )


def assert_all_applied_once(sim: Any, names: list[str], *, active_every: int = 0) -> None:
    """Every campaign holds the target, was PATCHed once, and none we paused is left paused."""
    stats = sim.stats()
    assert stats["max_patches_per_campaign"] <= 1, stats["patches_applied"]
    for i, name in enumerate(names):
        detail = sim.state.get((ORG, WS, name))
        assert get_path(detail, "app_config.app_version") == TARGET_VERSION, name
        if active_every and i % active_every == 0:
            assert detail["status"] in ("scheduled", "active"), name
        else:
            assert detail["status"] == "paused", name


async def test_server_errors_and_dropped_connections_still_give_every_row_its_outcome_once(
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> None:
    names = ids(300)
    sim = await start_simulator(fail_rate=0.10, reset_rate=0.05, overrides=statuses(names))
    run = await run_sheet(
        version_sheet(tmp_path / "faults.csv", names),
        sim,
        monkeypatch,
        concurrency=16,
        max_attempts=8,
        timing=fake_time.timing(),  # backoffs take no real time
    )
    assert set(run.outcomes().values()) == {"updated"}
    assert run.code == 0
    stats = sim.stats()
    assert stats["resets_after_store"] > 0  # the case that needs reading back did happen
    assert stats["injected_failures"] > 0
    assert_all_applied_once(sim, names)
    assert run.summary()["retries"] > 0
    assert run.summary()["reconciliations"] > 0
    assert fake_time.slept  # it did back off


async def test_a_server_limiting_at_a_quarter_of_the_rate_gets_every_row_with_few_429s(
    tmp_path: Path,
    start_scripted: StartScripted,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> None:
    names = ids(150)
    front = FrontOnClock(fake_time.clock, rate_limit=50)
    sim = await start_scripted(front, overrides=statuses(names))
    run = await run_sheet(
        version_sheet(tmp_path / "quarter.csv", names),
        sim,
        monkeypatch,
        rate=200.0,
        concurrency=16,
        max_attempts=10,
        timing=fake_time.timing(),
    )
    assert set(run.outcomes().values()) == {"updated"}
    requests = sim.script.total
    assert 0 < front.rate_limited < 0.10 * requests, (front.rate_limited, requests)
    assert run.summary()["throttled_429"] == front.rate_limited
    assert_all_applied_once(sim, names)
    # 300 accepted requests at the server's 50/s take 6 s; a pacer stuck at half would take 12.
    assert fake_time.elapsed < 9, fake_time.elapsed


async def test_an_outage_in_the_middle_pauses_the_run_which_then_finishes(
    tmp_path: Path,
    start_scripted: StartScripted,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> None:
    names = ids(300)
    start = fake_time.now
    front = FrontOnClock(fake_time.clock, outage=(start + 1.5, start + 20.0))
    sim = await start_scripted(front, overrides=statuses(names))
    run = await run_sheet(
        version_sheet(tmp_path / "outage.csv", names),
        sim,
        monkeypatch,
        rate=100.0,
        concurrency=8,
        timing=fake_time.timing(),
    )
    assert set(run.outcomes().values()) == {"updated"}
    summary = run.summary()
    assert summary["breaker"]["openings"] >= 1
    assert summary["breaker"]["paused_seconds"] >= 15
    # Probes, not a flood: few requests during twenty seconds of outage.
    # ... and it went on within one cool-down (at most COOLDOWN_MAX) of the API's return.
    assert summary["breaker"]["paused_seconds"] <= 18.5 + COOLDOWN_MAX + 1
    # Probes, not a flood: about 8 requests in flight when it opened, then one probe per
    # cool-down (doubling from 0.5 s to 5 s) through 18.5 seconds of outage.
    assert 0 < front.outage_rejections < 40
    assert fake_time.now > start + 20.0  # it went on after the outage
    assert_all_applied_once(sim, names)


async def test_an_outage_longer_than_max_outage_exits_3_and_resume_completes_it(
    tmp_path: Path,
    start_scripted: StartScripted,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> None:
    names = ids(200)
    start = fake_time.now
    front = FrontOnClock(fake_time.clock, outage=(start + 1.0, start + 7.0))
    sim = await start_scripted(front, overrides=statuses(names))
    sheet = version_sheet(tmp_path / "long-outage.csv", names)
    timing = fake_time.timing()
    first = await run_sheet(sheet, sim, monkeypatch, rate=100.0, max_outage=2.0, timing=timing)
    assert first.code == 3
    assert "not_attempted" in first.outcomes().values()
    assert first.run_dir is not None
    assert fake_time.now < start + 7.0  # it gave up during the outage
    fake_time.now = start + 7.5  # the outage is over
    resumed = await run_sheet(
        sheet, sim, monkeypatch, mode="resume", run_dir=first.run_dir, rate=100.0, timing=timing
    )
    assert resumed.code == 0
    assert set(resumed.outcomes().values()) == {"updated"}
    assert_all_applied_once(sim, names)


async def killed_when(
    args: list[str], key: str, moment: Callable[[], bool], *, poll: float = 0.002
) -> None:
    """Run ``bulkpatch ARGS`` in a child process and kill -9 it as soon as ``moment()`` is true
    (checked every ``poll`` seconds; at once when it is true from the start)."""
    async with bulkpatch_running(*args, api_key=key) as process:
        while not moment() and process.returncode is None:  # noqa: ASYNC110 (polling a child)
            await anyio.sleep(poll)
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await process.wait()


KILL_ROWS = 60  # with every third one active: 60 GETs, 60 PATCHes, 40 pauses and resumes


async def kill_9_and_resume(
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
    attempt: int,
    when: str | int,
) -> bool:
    """One trial: kill -9 a run at ``when`` ("at once", "run directory": as soon as its run
    directory appears, or a number: once the server has seen that many requests), then resume it
    (or start it again if it never started) through the library, as ``bulkpatch resume`` does.
    True when the kill landed mid-run."""
    names = ids(KILL_ROWS, prefix=f"k{attempt}-")
    sim = await start_simulator(overrides=statuses(names, active_every=3))
    sheet = version_sheet(tmp_path / f"kill-{attempt}.csv", names)
    reports = tmp_path / f"reports-{attempt}"
    args = ["run", str(sheet), "--base-url", sim.base_url, "--rate", "400", "--pause-active",
            "--report-dir", str(reports), "--quiet"]  # fmt: skip
    if when == "at once":
        await killed_when(args, sim.config.api_key, lambda: True)
    elif when == "run directory":
        await killed_when(args, sim.config.api_key, lambda: bool(run_dirs(reports)))
    else:
        assert isinstance(when, int)
        await killed_when(args, sim.config.api_key, lambda: sim.stats()["requests_total"] >= when)

    # A kill before the journal's first line leaves at most a run directory holding only the
    # sheet's copy: it was never started, so a new run is the way on.
    found = [d for d in run_dirs(reports) if (d / "journal.jsonl").exists()]
    state = read_journal(found[0] / "journal.jsonl") if found else None
    mid_run = False
    if state is not None and state.start is not None:
        mid_run = state.ended is None and bool(state.done or state.in_doubt)
        done = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=found[0])
    else:  # killed before the run had started: nothing was sent, so start it again
        assert sim.stats()["requests_total"] == 0
        done = await run_sheet(sheet, sim, monkeypatch, report_dir=reports, pause_active=True)
    assert done.code == 0, (attempt, when, done.output)

    (run_dir,) = [d for d in run_dirs(reports) if (d / "journal.jsonl").exists()]
    rows = (run_dir / "results.csv").read_text().splitlines()[1:]
    assert len(rows) == len(names)
    assert {row.split(",")[4] for row in rows} == {"updated"}, (attempt, when)
    assert_all_applied_once(sim, names, active_every=3)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["campaigns_left_paused"] == {}
    return mid_run


@pytest.mark.slow
async def test_kill_9_at_random_moments_then_resume_applies_every_row_exactly_once(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six kills: before the command has started, as the run directory appears, and at four random
    points of the run (by requests the server has seen, so the moments do not depend on the
    machine's speed).  The trials run side by side, each with its own simulator and files."""
    rng = random.Random(20261128)
    total = KILL_ROWS * 2 + KILL_ROWS // 3 * 2
    moments: list[str | int] = ["at once", "run directory"]
    moments += sorted(rng.sample(range(20, total - 30), 4))
    mid_run: list[bool] = []

    async def trial(attempt: int, when: str | int) -> None:
        mid_run.append(
            await kill_9_and_resume(tmp_path, start_simulator, monkeypatch, attempt, when)
        )

    async with anyio.create_task_group() as tg:
        for attempt, when in enumerate(moments):
            tg.start_soon(trial, attempt, when)
    assert sum(mid_run) >= 4  # every kill after the first requests landed in the middle
    assert len(mid_run) == len(moments)


def paced_run_process(sheet: Path, sim: Any, reports: Path) -> AsyncContextManager[Child]:
    """`bulkpatch run --pause-active --rate 60` in a child process, for signalling."""
    args = ["run", str(sheet), "--base-url", sim.base_url, "--rate", "60", "--pause-active",
            "--report-dir", str(reports)]  # fmt: skip
    return bulkpatch_running(*args, api_key=sim.config.api_key)


async def until_requests(sim: Any, count: int, process: Child) -> None:
    """Wait until the server has seen ``count`` requests (the run is under way)."""
    while sim.stats()["requests_total"] < count:
        assert process.returncode is None, "the run ended before it was signalled"
        await anyio.sleep(0.005)


@pytest.mark.slow
async def test_sigint_with_pause_active_exits_3_leaves_nothing_paused_and_resume_works(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(60, prefix="s")  # 180 requests at 60/s: the signal comes well before the end
    sim = await start_simulator(latency_ms=20, overrides=statuses(names, active_every=2))
    sheet = version_sheet(tmp_path / "sigint.csv", names)
    reports = tmp_path / "reports"
    async with paced_run_process(sheet, sim, reports) as process:
        await until_requests(sim, 12, process)  # campaigns are being paused and patched
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        await process.wait()
        took = time.monotonic() - sent
        err = process.stderr
    assert process.returncode == 3
    assert took < 8
    assert sim.stats()["status_changes"]  # it had paused some
    for name in names[::2]:  # the ones that were active: none is left paused
        assert sim.state.status_of((ORG, WS, name)) != "paused", name
    text = err.decode()
    assert "Unclosed" not in text
    assert "Warning" not in text
    assert "Traceback" not in text
    run_dir = only_run_dir(reports)
    command = f"bulkpatch resume {run_dir}"
    assert command in text
    results = (run_dir / "results.csv").read_text()
    assert "not_attempted" in results

    done = await bulkpatch(
        "resume", run_dir, "--rate", "unlimited", "--quiet", api_key=sim.config.api_key
    )
    assert done.returncode == 0, done.stderr.decode()
    assert_all_applied_once(sim, names, active_every=2)


@pytest.mark.slow
async def test_a_second_ctrl_c_exits_at_once_and_the_journal_still_allows_resume(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(60, prefix="t")
    sim = await start_simulator(latency_ms=20, overrides=statuses(names, active_every=2))
    sheet = version_sheet(tmp_path / "twice.csv", names)
    reports = tmp_path / "reports"
    async with paced_run_process(sheet, sim, reports) as process:
        await until_requests(sim, 12, process)
        process.send_signal(signal.SIGINT)
        await anyio.sleep(0.05)
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        await process.wait()
        took = time.monotonic() - sent
    assert process.returncode == 3
    assert took < 1.0
    run_dir = only_run_dir(reports)
    assert not (run_dir / "results.csv").exists()  # no time for reports: the journal is enough
    done = await bulkpatch(
        "resume", run_dir, "--rate", "unlimited", "--quiet", api_key=sim.config.api_key
    )
    assert done.returncode == 0, done.stderr.decode()
    assert_all_applied_once(sim, names, active_every=2)


GUARDED_ROWS, GUARDED_KILL = 40, 20  # kill -9 once 20 PATCHes were stored


def guarded_sheet(path: Path, names: list[str]) -> Path:
    """``expect.app_config.app_version=3`` and ``app_config.app_version=7``, as exported sheets
    and undo sheets are guarded."""
    rows = campaign_rows(names, ORG, WS, **{"expect.app_config.app_version": "3"})
    for row in rows:
        row["app_config.app_version"] = "7"
    return write_sheet(path, rows)


def versions(sim: Any, names: list[str]) -> set[Any]:
    return {get_path(sim.state.get((ORG, WS, n)), "app_config.app_version") for n in names}


async def killed_after_patches(args: list[str], sim: Any, patches: int) -> None:
    await killed_when(
        args, sim.config.api_key, lambda: sim.stats()["patches_applied_total"] >= patches
    )


@pytest.mark.slow
async def test_writes_in_flight_at_a_kill_9_are_updated_on_resume_and_undone_even_by_a_resumed_undo(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ids(GUARDED_ROWS, prefix="g")
    sim = await start_simulator(
        latency_ms=50,  # eight PATCHes are in flight whenever the kill lands
        overrides={(ORG, WS, c): {"status": "paused", "app_config.app_version": 3} for c in names},
    )
    sheet = guarded_sheet(tmp_path / "guarded.csv", names)
    reports = tmp_path / "reports"
    args = ["run", str(sheet), "--base-url", sim.base_url, "--rate", "unlimited",
            "--concurrency", "8", "--report-dir", str(reports), "--quiet"]  # fmt: skip
    await killed_after_patches(args, sim, GUARDED_KILL)
    run_dir = only_run_dir(reports)
    assert read_journal(run_dir / "journal.jsonl").in_doubt  # writes were in flight

    resumed = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=run_dir)
    assert resumed.code == 0, resumed.output
    assert set(resumed.outcomes().values()) == {"updated"}
    confirmed = [r for r in resumed.results() if r["reason"].startswith("confirmed by reading")]
    assert confirmed  # the rows in flight, found in place
    assert versions(sim, names) == {7}

    # Undo it, killed half-way, then resumed: every campaign is back at 3, none stale.
    undone = GUARDED_ROWS + GUARDED_KILL
    await killed_after_patches(["undo", str(run_dir), "--quiet"], sim, undone)
    (undo_dir,) = [d for d in run_dirs(reports) if d != run_dir]
    assert read_journal(undo_dir / "journal.jsonl").in_doubt
    again = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=undo_dir)
    assert again.code == 0, again.output
    assert set(again.outcomes().values()) == {"updated"}
    assert versions(sim, names) == {3}
    assert sim.stats()["max_patches_per_campaign"] == 2  # once each way
