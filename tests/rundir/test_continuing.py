"""``--continue`` finds the latest run of the same sheet against the same API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bulkpatch.rundir.continuing import latest_run_of
from bulkpatch.rundir.names import JOURNAL

SHA = "a" * 64
API = "https://api.example.test/api/scheduling"


def a_run(
    report_dir: Path,
    name: str,
    *,
    started: float,
    end: int | None = None,
    sha256: str = SHA,
    **options: Any,
) -> Path:
    run_dir = report_dir / name
    run_dir.mkdir(parents=True)
    lines: list[dict[str, Any]] = [
        {
            "e": "start",
            "t": started,
            "sha256": sha256,
            "options": {"base_url": API, "simulate": False, "shard": None, **options},
        },
        {"e": "done", "t": started + 1, "row": 1},
    ]
    if end is not None:
        lines.append({"e": "end", "t": started + 2, "exit_code": end})
    (run_dir / JOURNAL).write_text("".join(json.dumps(line) + "\n" for line in lines))
    return run_dir


def test_the_latest_unfinished_run_of_the_same_sheet_and_api_is_found(tmp_path: Path) -> None:
    a_run(tmp_path, "edit-1", started=100, end=0)
    latest = a_run(tmp_path, "edit-2", started=200, end=75)
    found = latest_run_of(
        tmp_path, sha256=SHA, base_url="https://API.example.test:443/api/scheduling/"
    )
    assert found is not None
    assert found.run_dir == latest
    assert found.exit_code == 75
    assert not found.complete


def test_a_run_cut_off_with_no_end_line_is_unfinished(tmp_path: Path) -> None:
    killed = a_run(tmp_path, "edit-1", started=100)
    found = latest_run_of(tmp_path, sha256=SHA, base_url=API + "/")
    assert found is not None
    assert found.run_dir == killed
    assert found.exit_code is None


def test_a_complete_latest_run_is_reported_complete_with_its_exit_code(tmp_path: Path) -> None:
    a_run(tmp_path, "edit-1", started=100, end=3)
    a_run(tmp_path, "edit-2", started=200, end=1)
    found = latest_run_of(tmp_path, sha256=SHA, base_url=API)
    assert found is not None
    assert found.complete
    assert found.exit_code == 1


def test_runs_of_another_sheet_api_shard_or_a_simulation_do_not_count(tmp_path: Path) -> None:
    a_run(tmp_path, "other-sheet", started=100, sha256="b" * 64)
    a_run(tmp_path, "other-api", started=100, base_url="https://elsewhere.test/api")
    a_run(tmp_path, "simulated", started=100, simulate=True)
    a_run(tmp_path, "a-shard", started=100, shard="1/2")
    a_run(tmp_path, "sent-nothing", started=100, end=2)
    assert latest_run_of(tmp_path, sha256=SHA, base_url=API) is None
    shard = latest_run_of(tmp_path, sha256=SHA, base_url=API, shard="1/2")
    assert shard is not None
    assert shard.run_dir.name == "a-shard"
    assert latest_run_of(tmp_path / "missing", sha256=SHA, base_url=API) is None
