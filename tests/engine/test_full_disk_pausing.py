"""A disk that fills while ``--pause-active`` holds campaigns paused ("trust, round two", 2).

The journal's ``sent`` line must precede every write, so a full disk stops the run; but a
campaign the run paused is resumed whatever happens to the disk (its journal line is best
effort there, the resume is not), the run stops at once with exit 3, and the terminal and the
summary name every campaign still paused.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkpatch.rundir.journal import JournalWriter
from support.disks import tmpfs
from support.faketime import FakeTime
from support.runs import (
    StartScripted,
    StartSimulator,
    bulkpatch,
    campaign_rows,
    run_sheet,
    write_sheet,
)

ORG, WS = "org-fd", "ws-fd"
VERSION = "app_config.app_version"


def ids(n: int) -> list[str]:
    return [f"fd{i:04d}" for i in range(n)]


def all_active(names: list[str]) -> dict[Any, dict[str, Any]]:
    return {(ORG, WS, c): {"status": "active", VERSION: 1} for c in names}


def paused_now(sim: Any, names: list[str]) -> list[str]:
    return [c for c in names if sim.state.status_of((ORG, WS, c)) == "paused"]


def version_sheet(path: Path, names: list[str]) -> Path:
    return write_sheet(path, campaign_rows(names, ORG, WS, **{VERSION: "6"}))


@pytest.mark.slow
async def test_a_report_dir_filling_up_mid_run_resumes_every_paused_campaign_and_exits_3_at_once(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(1500)
    sim = await start_simulator(latency_ms=5, overrides=all_active(names))
    sheet = version_sheet(tmp_path / "full.csv", names)
    with tmpfs(tmp_path / "small", "size=160k,mode=0700") as reports:
        started = time.monotonic()
        with anyio.fail_after(120):
            done = await bulkpatch(
                "run", sheet, "--base-url", sim.base_url, "--rate", "unlimited",
                "--pause-active", "--concurrency", "8", "--max-outage", "60",
                "--report-dir", reports, api_key=sim.config.api_key,
            )  # fmt: skip
        took = time.monotonic() - started
    err = done.stderr.decode()
    assert done.returncode == 3, err
    assert "No space left on device" in err or "the disk is full" in err
    assert "Traceback" not in err
    assert 0 < sim.stats()["patches_applied_total"] < len(names)  # it stopped part-way
    assert paused_now(sim, names) == []  # every campaign it paused was resumed
    assert took < 30, took  # no waiting on a disk that will not come back


def full_after(writes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal takes ``writes`` lines, then its disk is full (ENOSPC)."""
    real = JournalWriter.write
    taken = 0

    def write(self: JournalWriter, event: str, **fields: Any) -> bool:
        nonlocal taken
        taken += 1
        if taken > writes:
            self._fail(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path)))
            return False
        return real(self, event, **fields)

    monkeypatch.setattr(JournalWriter, "write", write)


async def test_a_full_disk_names_every_campaign_left_paused_in_the_terminal_and_summary(
    tmp_path: Path,
    start_scripted: StartScripted,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> None:
    names = ids(40)
    stuck = names[0]  # the API refuses to resume this one: it stays paused, named

    def refuse_resuming_one(method: str, path: str, nth: int, total: int) -> Any:
        if method == "PUT" and path.endswith(f"/{stuck}/status") and nth >= 2:
            return (409, "too many live campaigns in this org")
        return None

    sim = await start_scripted(refuse_resuming_one, overrides=all_active(names))
    full_after(40, monkeypatch)  # a few rows in, campaigns paused
    run = await run_sheet(
        version_sheet(tmp_path / "named.csv", names),
        sim,
        monkeypatch,
        pause_active=True,
        concurrency=4,
        max_outage=30.0,
        timing=fake_time.timing(),
    )
    assert run.code == 3, run.output
    assert "No space left on device" in run.output
    assert paused_now(sim, names) == [stuck]
    assert "1 campaign(s) this run paused are LEFT PAUSED" in run.output
    assert f"{ORG}/{WS}/{stuck}" in run.output
    summary = run.summary()
    assert list(summary["campaigns_left_paused"]) == [f"{ORG}/{WS}/{stuck}"]
