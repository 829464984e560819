"""A run still going in the same report directory (another shard, say) is not an earlier run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bulkpatch.journal import FORMAT, JOURNAL_NAME
from bulkpatch.rundir import earlier_paused, is_live, lock_run_dir

BASE = "http://127.0.0.1:9/api/scheduling"


def cut_off_run(report_dir: Path, name: str) -> Path:
    """A run directory whose journal paused a campaign and stops there (no resume, no end)."""
    run_dir = report_dir / name
    run_dir.mkdir(parents=True)
    lines = [
        {"e": "start", "journal": FORMAT, "options": {"base_url": BASE}, "rows": 1},
        {"e": "sent", "op": "pause", "row": 1, "key": "org/ws/cmp-1"},
        {"e": "paused", "row": 1, "key": "org/ws/cmp-1"},
    ]
    (run_dir / JOURNAL_NAME).write_text("".join(json.dumps(x) + "\n" for x in lines))
    return run_dir


def test_campaigns_paused_by_a_run_still_going_are_not_named_until_it_stops(
    tmp_path: Path,
) -> None:
    shard = cut_off_run(tmp_path, "sheet-shard-1-of-2")
    held = lock_run_dir(shard)  # the shard's process is still at work
    try:
        assert is_live(shard)
        assert earlier_paused(tmp_path, base_url=BASE) == {}
    finally:
        held.release()
    assert not is_live(shard)  # killed, say: now its campaigns are named
    assert earlier_paused(tmp_path, base_url=BASE) == {"org/ws/cmp-1": str(shard)}


def test_a_run_given_by_a_relative_path_is_not_its_own_earlier_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    run_dir = cut_off_run(reports, "sheet-20261201T000000Z")
    monkeypatch.chdir(tmp_path)
    relative = Path("reports") / run_dir.name
    assert earlier_paused(Path("reports"), base_url=BASE, exclude=relative) == {}
    assert earlier_paused(reports, base_url=BASE, exclude=relative) == {}
    assert earlier_paused(reports, base_url=BASE) == {"org/ws/cmp-1": str(run_dir)}
