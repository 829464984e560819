"""The crontab line of docs/operations.md, run as cron would: each night carries the same run on.

Real time: the window ends a second from now (a night), so the first run stops at its end
with rows left; the second (with a window that lasts) finishes them in the same run directory;
a third finds the run complete and sends nothing.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from support.runs import StartSimulator, bulkpatch, campaign_rows, run_dirs, write_sheet

ROOT = Path(__file__).resolve().parents[2]
ORG, WS = "org-cron", "ws-cron"


def cron_argv() -> list[str]:
    """The bulkpatch words of the crontab line in docs/operations.md (after ``cd ... &&``)."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("0 22 * * * "))
    words = shlex.split(line.split("&&", 1)[1].split(">>", 1)[0])
    assert words[:2] == ["bulkpatch", "run"], words
    return words[1:]


def with_values(argv: list[str], **values: str) -> list[str]:
    """``argv`` with these options' values replaced (``--window`` ...) and the sheet named."""
    out = list(argv)
    for flag, value in values.items():
        name = "--" + flag.replace("_", "-")
        out[out.index(name) + 1] = value
    return out


def window_from_now(seconds: float) -> str:
    now = datetime.now(UTC)
    start, end = now - timedelta(seconds=2), now + timedelta(seconds=seconds)
    return f"{start:%H:%M:%S}-{end:%H:%M:%S} UTC"


async def window_of_one_second() -> str:
    """A window that ends one second from now: a window's ends are whole seconds, so this waits
    for the wall clock's second to turn (half a second on average) first."""
    await anyio.sleep(1.01 - datetime.now(UTC).microsecond / 1e6)
    return window_from_now(1)


@pytest.mark.realtime
@pytest.mark.slow
async def test_the_cron_line_carries_one_run_over_two_nights_then_says_it_is_complete(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    # 40 rows (a quarter active: paused and resumed around their update) are 100 requests,
    # 1.7 s at 60/s.  The first night's window (one second) closes with rows left: by its end
    # at most 61 requests went out, and the rows in flight (8 workers) finish; 27 rows were
    # done by then where this was measured, 13 left.
    names = [f"c{i:03d}" for i in range(40)]
    overrides = {
        (ORG, WS, c): {"status": "active" if i % 4 == 0 else "paused", "app_config.app_version": 1}
        for i, c in enumerate(names)
    }
    sim = await start_simulator(overrides=overrides, latency_ms=20)
    sheet = write_sheet(
        tmp_path / "migration.csv",
        campaign_rows(names, ORG, WS, **{"app_config.app_version": "9"}),
    )
    argv = cron_argv()
    argv[argv.index("migration.parquet")] = str(sheet)
    argv = with_values(argv, rate="60")
    # Calling hours are tested on the fake clock (tests/engine/test_change_windows.py); here a
    # generated campaign's hours would hold its row past these few-second nights.
    argv.remove("--outside-calling-hours")
    common = ["--base-url", sim.base_url, "--report-dir", str(tmp_path / "reports")]
    assert (await bulkpatch("--version")).returncode == 0  # children start at once from here on

    night1 = await bulkpatch(
        *with_values(argv, window=await window_of_one_second()), *common, api_key=sim.config.api_key
    )
    err1 = night1.stderr.decode()
    assert night1.returncode == 75, err1
    assert "stopped at the window's end;" in err1
    first = run_dirs(tmp_path / "reports")
    assert len(first) == 1
    assert f"bulkpatch resume {first[0]}" in err1

    night2 = await bulkpatch(
        *with_values(argv, window=window_from_now(120)), *common, api_key=sim.config.api_key
    )
    err2 = night2.stderr.decode()
    assert night2.returncode == 0, err2
    assert f"continuing the run in {first[0]}" in err2
    assert run_dirs(tmp_path / "reports") == first  # the same run directory
    assert all(sim.state.get((ORG, WS, c))["app_config"]["app_version"] == 9 for c in names)
    sent = sim.stats()["requests_total"]

    night3 = await bulkpatch(
        *with_values(argv, window=window_from_now(120)), *common, api_key=sim.config.api_key
    )
    err3 = night3.stderr.decode()
    assert night3.returncode == 0, err3
    assert "is complete (exit 0): nothing to continue, nothing sent" in err3
    assert sim.stats()["requests_total"] == sent
    assert run_dirs(tmp_path / "reports") == first


@pytest.mark.slow
async def test_outside_the_window_no_wait_exits_75_and_an_unreadable_window_exits_2_sending_nothing(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(overrides={(ORG, WS, "n1"): {"status": "paused"}})
    sheet = write_sheet(
        tmp_path / "s.csv", campaign_rows(["n1"], ORG, WS, **{"app_config.app_version": "9"})
    )
    later = datetime.now(UTC) + timedelta(hours=2)
    closed = f"{later:%H:%M}-{later + timedelta(hours=1):%H:%M} UTC"
    common = ["--base-url", sim.base_url, "--report-dir", str(tmp_path / "reports")]
    done = await bulkpatch(
        "run", sheet, "--window", closed, "--no-wait", *common, api_key=sim.config.api_key
    )
    assert done.returncode == 75, done.stderr
    assert b"nothing was sent (--no-wait)" in done.stderr
    assert sim.stats()["requests_total"] == 0
    for bad in ("25:00-06:00", "22:00-06:00 Mars/Base", "Funday 22:00-06:00", "22:00"):
        refused = await bulkpatch(
            "run", sheet, "--window", bad, *common, api_key=sim.config.api_key
        )
        assert refused.returncode == 2, (bad, refused.stderr)
        assert b"--window" in refused.stderr
    assert sim.stats()["requests_total"] == 0
