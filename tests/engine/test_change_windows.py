"""Change windows (--window) and calling hours (--outside-calling-hours) on whole runs.

Most run on the fake clock (its wall clock starts on Thursday 2026-01-15 12:00 UTC), so nights of
waiting take no real time; one measures how soon a real run stops after its window's end.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bulkpatch.cli.display import ConsoleDisplay
from bulkpatch.core.errors import UsageError
from bulkpatch.core.options import RunOptions
from bulkpatch.core.windows import calling_state
from bulkpatch.ops.apply import continue_sheet_async
from support.faketime import FakeTime
from support.runs import (
    RunOutcome,
    StartScripted,
    StartSimulator,
    campaign_rows,
    run_sheet,
    write_sheet,
)

ORG, WS = "org-win", "ws-win"
TARGET = 42


def ids(n: int, prefix: str = "w") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


def schedule(zone: str, start: str = "09:00", end: str = "17:00") -> dict[str, Any]:
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
    return {
        "allowed_days": days,
        "allowed_start_time": start,
        "allowed_end_time": end,
        "timezone": zone,
    }


def campaigns(names: list[str], *, active_every: int) -> dict[Any, dict[str, Any]]:
    return {
        (ORG, WS, c): {
            "status": "active" if i % active_every == 0 else "paused",
            "app_config.app_version": 1,
        }
        for i, c in enumerate(names)
    }


def sheet(path: Path, names: list[str]) -> Path:
    return write_sheet(
        path, campaign_rows(names, ORG, WS, **{"app_config.app_version": str(TARGET)})
    )


def paused_among(sim: Any, names: list[str]) -> list[str]:
    return [c for c in names if sim.state.get((ORG, WS, c))["status"] == "paused"]


async def carry_on(
    path: Path, sim: Any, monkeypatch: pytest.MonkeyPatch, fake: FakeTime, **options: Any
) -> RunOutcome:
    """``run SHEET --continue`` through the library, shown on a captured console."""
    monkeypatch.setenv("SARVAM_API_KEY", sim.config.api_key)
    options.setdefault("report_dir", path.parent / "reports")
    buffer = io.StringIO()
    console = Console(file=buffer, width=160)
    display = ConsoleDisplay(console, console, quiet=False, json_out=False)
    summary = await continue_sheet_async(
        path,
        options=RunOptions(base_url=sim.base_url, **options),
        on_event=display,
        timing=fake.timing(),
    )
    return RunOutcome(summary.exit_code, summary.run_dir, buffer.getvalue(), summary)


async def test_a_three_night_run_sends_only_in_its_window_leaves_nothing_paused_and_sends_what_one_run_would(  # noqa: E501
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ids(30)
    # 20 paused rows (GET + PATCH) and 10 active ones (GET, pause, PATCH, resume): 80 requests,
    # 80 s at 1 req/s; a window of 30 s a night.
    window = "22:00:00-22:00:30 UTC"
    options = {"rate": 1.0, "concurrency": 2, "pause_active": True, "window": window}
    sim = await start_simulator(overrides=campaigns(names, active_every=3))
    fake = FakeTime()
    path = sheet(tmp_path / "nights.csv", names)
    codes, per_night, nights = [], [], []
    for _ in range(4):
        run = await carry_on(path, sim, monkeypatch, fake, **options)
        codes.append(run.code)
        nights.append(fake.wall())
        updated = sum(1 for o in run.outcomes().values() if o == "updated")
        per_night.append(updated - sum(per_night))
        assert paused_among(sim, names[::3]) == []  # nothing left paused at a window's end
        if run.code == 0:
            break
    assert codes[:2] == [75, 75]
    assert codes[-1] == 0
    # Each night's rows went in that night's window (22:00:00-22:00:30 UTC, plus the rows in
    # flight at its end).
    for when in nights:
        assert (when.hour, when.minute) == (22, 0), when
        assert when.second <= 33, when
    assert all(n > 0 for n in per_night), per_night
    assert sum(per_night) == len(names)
    assert len({n.date() for n in nights}) == len(nights)  # one night each
    in_windows = sim.stats()["requests_total"]

    # The same rows in one run without a window: the same requests, not one more.
    alone = await start_simulator(overrides=campaigns(names, active_every=3))
    one = await run_sheet(
        sheet(tmp_path / "alone.csv", names),
        alone,
        monkeypatch,
        rate=1.0,
        concurrency=2,
        pause_active=True,
        timing=fake.timing(),  # one fake clock per test: two would each wait for the other
    )
    assert one.code == 0
    assert in_windows == alone.stats()["requests_total"] == 80
    print(f"rows per window {per_night}; codes {codes}; requests {in_windows}")


async def test_outside_its_window_a_run_waits_and_says_when_it_opens_then_sends(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ids(4)
    sim = await start_simulator(overrides=campaigns(names, active_every=5))
    fake = FakeTime()
    run = await run_sheet(
        sheet(tmp_path / "later.csv", names),
        sim,
        monkeypatch,
        window="Fri 01:00-02:00 Europe/London",
        pause_active=True,
        rate=10.0,
        timing=fake.timing(),
    )
    assert run.code == 0
    assert "waiting until it opens at 01:00 Europe/London (2026-01-16 01:00 UTC)" in run.output
    assert fake.wall() >= datetime(2026, 1, 16, 1, 0, tzinfo=UTC)
    assert (
        "estimate: 4 rows, at least 8 requests: about 1 s at 10 req/s: 1 window of 60 min"
        in run.output
    )


async def test_with_no_wait_outside_its_window_a_run_exits_75_and_sends_nothing(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ids(3)
    sim = await start_simulator(overrides=campaigns(names, active_every=5))
    run = await run_sheet(
        sheet(tmp_path / "nowait.csv", names),
        sim,
        monkeypatch,
        window="22:00-06:00 Asia/Kolkata",  # 12:00 UTC is 17:30 there
        no_wait=True,
        timing=FakeTime().timing(),
    )
    assert run.code == 75
    assert "outside the change window 22:00-06:00 Asia/Kolkata: it opens at 22:00" in run.output
    assert sim.stats()["requests_total"] == 0
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


async def test_outside_calling_hours_pauses_only_idle_campaigns_and_the_calling_ones_wait_for_their_hours_to_end(  # noqa: E501
    tmp_path: Path, start_scripted: StartScripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Thursday 12:00 UTC: Kolkata (09-18, until 12:30 UTC) and London (09-17, until 17:00 UTC)
    # are calling; New York (09-17 = 14-22 UTC) and Sydney (09-17 = 22-06 UTC) are idle.
    zones = ["Asia/Kolkata", "Europe/London", "America/New_York", "Australia/Sydney"]
    hours = {"Asia/Kolkata": ("09:00", "18:00")}
    names = ids(16)
    detail = {
        (ORG, WS, c): {
            "status": "active",
            "app_config.app_version": 1,
            "allowed_schedule": schedule(
                zones[i % 4], *hours.get(zones[i % 4], ("09:00", "17:00"))
            ),
        }
        for i, c in enumerate(names)
    }
    all_hours = ids(1, "all")
    detail[(ORG, WS, all_hours[0])] = {
        "status": "active",
        "app_config.app_version": 1,
        "allowed_schedule": {
            "allowed_days": [
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
                "Sunday",
            ],
            "allowed_start_time": "00:00",
            "allowed_end_time": "23:59",
            "timezone": "UTC",
        },
    }
    fake = FakeTime()
    pauses: list[tuple[str, datetime]] = []

    def note(method: str, path: str, nth: int, total: int) -> None:
        if method == "PUT" and nth % 2 == 1:  # a campaign's first PUT is its pause
            pauses.append((path.rsplit("/", 2)[-2], fake.wall()))

    sim = await start_scripted(note, overrides=detail)
    run = await run_sheet(
        sheet(tmp_path / "calling.csv", names + all_hours),
        sim,
        monkeypatch,
        pause_active=True,
        outside_calling_hours=True,
        max_wait=2 * 3600.0,
        concurrency=4,
        timing=fake.timing(),
    )
    outcomes = run.outcomes()
    by_zone = {z: [c for i, c in enumerate(names) if zones[i % 4] == z] for z in zones}
    # Idle ones at once; Kolkata's after 18:00 IST (+1 min); London's (17:00) are past the
    # 2 h --max-wait: left for resume.
    for zone in ("America/New_York", "Australia/Sydney", "Asia/Kolkata"):
        assert {outcomes[c] for c in by_zone[zone]} == {"updated"}, zone
    assert {outcomes[c] for c in by_zone["Europe/London"]} == {"not_attempted"}
    reasons = {r["campaign_id"]: r["reason"] for r in run.results()}
    assert reasons[by_zone["Europe/London"][0]] == (
        "campaign is active and inside its calling hours until 17:00 Europe/London; resume after"
    )
    assert "calls at all hours, so it is always inside them" in reasons[all_hours[0]]
    assert run.code == 75
    assert "bulkpatch resume" in run.output
    assert "4 not_attempted (campaign calling until 17:00 Europe/London)" in run.output
    # No pause inside calling hours; only GETs for the rows left.
    for campaign, when in pauses:
        state = calling_state(detail[(ORG, WS, campaign)]["allowed_schedule"], when)
        assert not state.inside, (campaign, when)
    paused = {c for c, _ in pauses}
    assert paused == set(by_zone["America/New_York"] + by_zone["Australia/Sydney"]) | set(
        by_zone["Asia/Kolkata"]
    )
    kolkata_times = [w for c, w in pauses if c in by_zone["Asia/Kolkata"]]
    assert all(
        datetime(2026, 1, 15, 12, 31, tzinfo=UTC) <= w < datetime(2026, 1, 15, 12, 32, tzinfo=UTC)
        for w in kolkata_times
    ), kolkata_times
    idle_times = [w for c, w in pauses if c not in by_zone["Asia/Kolkata"]]
    assert max(idle_times) < datetime(2026, 1, 15, 12, 1, tzinfo=UTC)
    summary = run.summary()
    assert summary["calling_hours"] == {"waited": 4, "left": 5}
    assert summary["window_closed"] is True
    print(
        f"paused at once {len(idle_times)}, waited {len(kolkata_times)} (went at "
        f"{min(kolkata_times):%H:%M:%S}-{max(kolkata_times):%H:%M:%S} UTC), left 5"
    )


@pytest.mark.realtime
@pytest.mark.slow
async def test_a_real_run_stops_within_a_second_of_its_windows_end_leaves_nothing_paused_and_resume_completes_it(  # noqa: E501
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 60 rows at 20 requests a second take over 3 s: the window (whole seconds: it ends at the
    # first turn of a second half a second from now, 0.5 to 1.5 s) closes with rows left.
    names = ids(60)
    sim = await start_simulator(overrides=campaigns(names, active_every=3), latency_ms=50)
    now = datetime.now(UTC)
    end = (now + timedelta(seconds=1.5)).replace(microsecond=0)
    start = now - timedelta(seconds=2)
    window = f"{start:%H:%M:%S}-{end:%H:%M:%S} UTC"
    path = sheet(tmp_path / "real.csv", names)
    run = await run_sheet(
        path, sim, monkeypatch, rate=20.0, concurrency=4, pause_active=True, window=window
    )
    stopped = datetime.now(UTC)
    late = (stopped - end).total_seconds()
    slowest = 0.05 + 0.1  # the simulator's latency, and a pacer's turn at 20 req/s
    assert run.code == 75, run.output
    assert -0.5 < late < slowest + 1.0, late
    assert paused_among(sim, names[::3]) == []
    assert "stopped at the window's end;" in run.output
    left = sum(1 for o in run.outcomes().values() if o == "not_attempted")
    assert left > 0
    assert f"bulkpatch resume {run.run_dir}" in run.output
    done = await run_sheet(
        path,
        sim,
        monkeypatch,
        mode="resume",
        run_dir=run.run_dir,
        window="00:00-23:59:59 UTC",
        rate=None,  # what is left, as fast as the simulator answers: no more time is measured
        concurrency=32,
    )
    assert done.code == 0, done.output
    assert set(done.outcomes().values()) == {"updated"}
    assert paused_among(sim, names[::3]) == []
    print(f"stopped {late:.3f} s after the window's end; {left} rows left; resume completed")


def test_window_parse_errors_are_usage_errors() -> None:
    for bad in ("25:00-06:00", "22:00-22:00", "22:00-06:00 Mars/Base", "Funday 22:00-06:00"):
        with pytest.raises(UsageError):
            RunOptions(window=bad)
    assert RunOptions(window="22:00-06:00 Asia/Kolkata").window == "22:00-06:00 Asia/Kolkata"
