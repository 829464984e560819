"""The report directory and the work itself (issue 10, items 7 and 9).

7. Two runs of the same sheet against the same API at once would PATCH every campaign twice: the
   second is refused, naming the first's run directory.
9. A report directory that is full, read-only, under a regular file, or a sheet name too long:
   a message naming the path and the cause, exit 2 if nothing was sent and 3 (resumable) if it
   was, and no empty run directories or ``.tmp`` files left.

Disks fill up in three honest ways here: a per-process file-size limit (``RLIMIT_FSIZE``: the
kernel refuses the write, for any user), a small tmpfs (ENOSPC and EROFS for real, when this
machine lets the test mount one), and ENOSPC injected at the ``os`` calls of the module that
writes each report file (to reach every place a file is written).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkpatch.rundir import files as reports_module
from bulkpatch.rundir import journal as journal_module
from bulkpatch.rundir.directory import lock_work
from bulkpatch.sheet import file_sha256
from bulkpatch.sheet import files as sheet_files
from bulkpatch.sheet import writing as sheet_writing
from support.disks import bulkpatch_limited, tmpfs
from support.runs import (
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

ORG, WS = "org-s", "ws-s"
VERSION = "app_config.app_version"


def ids(n: int, prefix: str = "s") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


def paused(names: list[str]) -> dict[Any, dict[str, Any]]:
    return {(ORG, WS, c): {"status": "paused", VERSION: 1} for c in names}


def version_sheet(path: Path, names: list[str]) -> Path:
    return write_sheet(path, campaign_rows(names, ORG, WS, **{VERSION: "6"}))


def debris(reports: Path) -> list[Path]:
    """Temporary files left anywhere under the report directory."""
    return [p for p in reports.rglob("*") if p.name.endswith(".tmp")] if reports.exists() else []


def outcomes(run_dir: Path) -> dict[str, str]:
    with (run_dir / "results.csv").open(newline="", encoding="utf-8") as f:
        return {r["campaign_id"]: r["outcome"] for r in csv.DictReader(f)}


def assert_applied_once(sim: Any, names: list[str]) -> None:
    stats = sim.stats()
    assert stats["max_patches_per_campaign"] == 1, stats["patches_applied"]
    assert stats["patches_applied_total"] == len(names)


async def wait_for(condition: Callable[[], bool], within: float = 20.0) -> None:
    with anyio.fail_after(within):
        for _ in iter(int, 1):  # until the condition holds
            if condition():
                return
            await anyio.sleep(0.01)


# -- 7. one run of a sheet against an API at a time ----------------------------------------------


async def test_a_second_run_of_the_same_sheet_at_once_is_refused_naming_the_first(
    tmp_path: Path, start_scripted: StartScripted
) -> None:
    names = ids(60)
    let_through = anyio.Event()  # the first run's PATCHes wait until the second was refused

    def hold_patches(method: str, path: str, nth: int, total: int) -> Any:
        return ("hold", let_through) if method == "PATCH" and not let_through.is_set() else None

    sim = await start_scripted(hold_patches, overrides=paused(names))
    sheet = version_sheet(tmp_path / "twice.csv", names)
    reports = tmp_path / "reports"
    args = ["run", str(sheet), "--base-url", sim.base_url, "--rate", "unlimited",
            "--report-dir", str(reports), "--quiet"]  # fmt: skip
    async with bulkpatch_running(*args, api_key=sim.config.api_key) as first:
        await wait_for(lambda: sim.script.count("PATCH") >= 2)  # under way, and held
        first_dir = only_run_dir(reports)

        second = await bulkpatch(*args, api_key=sim.config.api_key)

        let_through.set()
        err = second.stderr.decode()
        assert second.returncode == 2, err
        assert "already applying this sheet to this API" in err
        assert str(first_dir) in err
        assert "Traceback" not in err
        assert run_dirs(reports) == [first_dir]  # the refused run left no directory behind
        await first.wait()
    assert first.returncode == 0
    assert set(outcomes(first_dir).values()) == {"updated"}
    assert_applied_once(sim, names)


async def test_the_same_sheet_against_another_api_or_another_sheet_is_not_held_back(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ids(5)
    sim = await start_simulator(overrides=paused(names))
    sheet = version_sheet(tmp_path / "held.csv", names)
    reports = tmp_path / "reports"
    reports.mkdir()
    sha = file_sha256(sheet)
    held = lock_work(reports, sim.base_url, sha, reports / "elsewhere")
    try:
        refused = await run_sheet(sheet, sim, monkeypatch, report_dir=reports)
        assert refused.code == 2
        assert str(reports / "elsewhere") in refused.output
        other = write_sheet(tmp_path / "other.csv", campaign_rows(names, ORG, WS, name="Other"))
        allowed = await run_sheet(other, sim, monkeypatch, report_dir=reports)
        assert allowed.code == 0, allowed.output
    finally:
        held.release()
    assert sim.stats()["patches_applied_total"] == len(names)  # only the other sheet's


# -- 9. a report directory that cannot take the run -----------------------------------------------


async def test_a_report_dir_under_a_regular_file_is_refused_clearly_before_anything_is_sent(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(3)
    sim = await start_simulator(overrides=paused(names))
    sheet = version_sheet(tmp_path / "s.csv", names)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a directory\n")
    done = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--report-dir", blocker / "reports",
        api_key=sim.config.api_key,
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert f"cannot create the report directory {blocker / 'reports'}" in err
    assert "a part of the path is a file, not a directory" in err
    assert "nothing was sent" in err
    assert "Traceback" not in err
    assert sim.stats()["requests_total"] == 0


async def test_a_sheet_with_a_240_character_name_runs_in_a_run_directory_of_a_sane_name(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(3)
    sim = await start_simulator(overrides=paused(names))
    sheet = version_sheet(tmp_path / ("x" * 240 + ".csv"), names)
    reports = tmp_path / "reports"
    done = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--report-dir", reports,
        api_key=sim.config.api_key,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    run_dir = only_run_dir(reports)
    assert len(run_dir.name) <= 100
    assert set(outcomes(run_dir).values()) == {"updated"}


async def test_files_growing_past_what_may_be_written_stop_the_run_resumably(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(300)
    sim = await start_simulator(overrides=paused(names))
    sheet = version_sheet(tmp_path / "big.csv", names)
    reports = tmp_path / "reports"
    args = ["run", sheet, "--base-url", sim.base_url, "--rate", "unlimited",
            "--report-dir", reports]  # fmt: skip

    done = await bulkpatch_limited(40_000, *args, api_key=sim.config.api_key)

    err = done.stderr.decode()
    assert done.returncode == 3, err
    run_dir = only_run_dir(reports)
    assert f"cannot write the journal {run_dir / 'journal.jsonl'}" in err
    assert "larger than this process may write" in err or "File too large" in err
    assert f"bulkpatch resume {run_dir}" in err
    assert "Traceback" not in err
    assert debris(reports) == []
    assert 0 < sim.stats()["patches_applied_total"] < len(names)  # it stopped part-way

    resumed = await bulkpatch("resume", run_dir, "--quiet", api_key=sim.config.api_key)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert set(outcomes(run_dir).values()) == {"updated"}
    assert_applied_once(sim, names)


async def test_a_simulated_run_stopped_by_its_files_says_to_run_it_again_not_to_resume(
    tmp_path: Path,
) -> None:
    sheet = version_sheet(tmp_path / "sim.csv", ids(300))
    args = ["run", sheet, "--simulate", "--rate", "unlimited", "--report-dir", tmp_path / "r"]

    done = await bulkpatch_limited(40_000, *args, api_key="unused-fake-key")

    err = done.stderr.decode()
    assert done.returncode == 3, err
    assert "run the sheet again with --simulate" in err
    assert "bulkpatch resume" not in err


async def test_a_sheet_that_cannot_be_copied_into_the_run_directory_sends_nothing(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(300)
    sim = await start_simulator(overrides=paused(names))
    sheet = version_sheet(tmp_path / "big.csv", names)
    reports = tmp_path / "reports"
    done = await bulkpatch_limited(
        4096, "run", sheet, "--base-url", sim.base_url, "--report-dir", reports,
        api_key=sim.config.api_key,
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "cannot copy the sheet into" in err
    assert "nothing was sent" in err
    assert run_dirs(reports) == []
    assert debris(reports) == []
    assert sim.stats()["requests_total"] == 0


# -- a real small file system, where this machine allows mounting one ---------------------------


async def test_a_full_disk_stops_the_run_with_exit_3_and_resume_finishes_once_space_is_freed(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(400)
    sim = await start_simulator(overrides=paused(names))
    sheet = version_sheet(tmp_path / "full.csv", names)
    with tmpfs(tmp_path / "small", "size=96k,mode=0700") as reports:
        done = await bulkpatch(
            "run", sheet, "--base-url", sim.base_url, "--rate", "unlimited",
            "--report-dir", reports, api_key=sim.config.api_key,
        )  # fmt: skip
        err = done.stderr.decode()
        assert done.returncode == 3, err
        run_dir = only_run_dir(reports)
        assert f"{run_dir}" in err
        assert "the disk is full" in err or "No space left on device" in err
        assert f"bulkpatch resume {run_dir}" in err
        assert "Traceback" not in err
        assert debris(reports) == []
        assert 0 < sim.stats()["patches_applied_total"] < len(names)

        await anyio.run_process(["mount", "-o", "remount,size=8m", str(reports)])
        resumed = await bulkpatch("resume", run_dir, "--quiet", api_key=sim.config.api_key)
        assert resumed.returncode == 0, resumed.stderr.decode()
        assert set(outcomes(run_dir).values()) == {"updated"}
    assert_applied_once(sim, names)


async def test_a_read_only_report_dir_is_refused_clearly_before_anything_is_sent(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = ids(3)
    sim = await start_simulator(overrides=paused(names))
    sheet = version_sheet(tmp_path / "ro.csv", names)
    with tmpfs(tmp_path / "ro", "ro,size=1m") as reports:
        done = await bulkpatch(
            "run", sheet, "--base-url", sim.base_url, "--report-dir", reports,
            api_key=sim.config.api_key,
        )  # fmt: skip
        err = done.stderr.decode()
        assert done.returncode == 2, err
        assert f"cannot create the run directory {reports}" in err
        assert "the file system is read-only" in err
        assert "nothing was sent" in err
        assert list(reports.iterdir()) == []
    assert sim.stats()["requests_total"] == 0


# -- every place a report file is written: ENOSPC injected at that module's os calls ------------


def no_space(path: str) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


def _path_of(arg: Any) -> str:
    if isinstance(arg, int):
        with contextlib.suppress(OSError):
            return os.readlink(f"/proc/self/fd/{arg}")
        return ""
    return os.fspath(arg) if isinstance(arg, str | os.PathLike) else ""


class FullFile:
    """A file that takes ``room`` writes, then answers every write with ENOSPC."""

    def __init__(self, file: Any, room: int, path: str) -> None:
        self._file = file
        self._room = room
        self._path = path

    def write(self, text: str) -> int:
        if self._room <= 0:
            raise no_space(self._path)
        self._room -= 1
        return int(self._file.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def __enter__(self) -> FullFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


class FullDisk:
    """Stands in for the ``os`` module of one bulkpatch module: the named calls fail with ENOSPC
    for files whose name contains ``name`` (``fdopen``: the file takes ``room`` writes first)."""

    def __init__(self, name: str, calls: set[str], room: int = 0) -> None:
        self._name = name
        self._calls = calls
        self._room = room

    def _hit(self, path: str) -> bool:
        return self._name in os.path.basename(path)

    def __getattr__(self, attr: str) -> Any:
        real = getattr(os, attr)
        if attr not in self._calls:
            return real
        if attr == "fdopen":

            def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
                path = _path_of(fd)
                file = real(fd, *args, **kwargs)
                return FullFile(file, self._room, path) if self._hit(path) else file

            return fdopen

        def failing(*args: Any, **kwargs: Any) -> Any:
            path = _path_of(args[1] if attr == "replace" else args[0])
            if self._hit(path):
                raise no_space(path)
            return real(*args, **kwargs)

        return failing


#: (the module that writes, the file, the calls that fail, writes that succeed first, exit code)
SEAMS = {
    "the sheet's copy": (sheet_files, "sheet.csv", {"write"}, 0, 2),
    "the journal, opening it": (journal_module, "journal.jsonl", {"open"}, 0, 2),
    "the journal, mid-run": (journal_module, "journal.jsonl", {"fdopen"}, 40, 3),
    "results.csv, opening it": (reports_module, "results.csv", {"open"}, 0, 2),
    "results.csv, mid-run": (reports_module, "results.csv", {"fdopen"}, 12, 3),
    "results.csv, at the end": (reports_module, "results.csv", {"replace"}, 0, 3),
    "retry.csv": (sheet_writing, "retry.csv", {"replace"}, 0, 3),
    "summary.json": (reports_module, "summary.json", {"fsync", "replace"}, 0, 3),
    "report.html": (reports_module, "report.html", {"replace"}, 0, 3),
}


@pytest.mark.parametrize("seam", list(SEAMS))
async def test_a_full_disk_at_any_report_file_gives_a_clear_message_and_leaves_no_debris(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch, seam: str
) -> None:
    module, name, calls, room, code = SEAMS[seam]
    names = ids(40)
    sim = await start_simulator(overrides=paused(names))
    statuses = {(ORG, WS, c): {"status": "ended", VERSION: 1} for c in ids(2, "e")}  # retry.csv
    for key, values in statuses.items():
        sim.state.add(key, values)
    rows = campaign_rows([*names, *ids(2, "e")], ORG, WS, **{VERSION: "6"})
    sheet = write_sheet(tmp_path / "seams.csv", rows)
    reports = tmp_path / "reports"
    with monkeypatch.context() as m:
        m.setattr(module, "os", FullDisk(name, calls, room))
        run = await run_sheet(sheet, sim, monkeypatch, concurrency=2, report_dir=reports)

    assert run.code == code, run.output
    assert "error: cannot" in run.output
    assert "No space left on device" in run.output or "the disk is full" in run.output
    assert "Traceback" not in run.output
    assert debris(reports) == []
    if code == 2:
        assert "nothing was sent" in run.output
        assert run_dirs(reports) == []
        assert sim.stats()["patches_applied_total"] == 0
        return
    run_dir = only_run_dir(reports)
    assert f"bulkpatch resume {run_dir}" in run.output
    # Space is back: the run is resumed and finished, nothing applied twice.
    resumed = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=run_dir)
    assert resumed.code == 1, resumed.output  # the two ended campaigns are skipped
    assert set(resumed.outcomes().values()) == {"updated", "skipped"}
    assert_applied_once(sim, names)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["outcomes"]["updated"] == len(names)


def test_results_that_cannot_be_cleaned_up_in_a_refusing_directory_leave_the_first_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bulkpatch.rundir.files import RESULT_COLUMNS, OrderedResults

    results = OrderedResults(tmp_path / "results.csv", iter([1, 2]), RESULT_COLUMNS)
    real_unlink = Path.unlink

    def refuse(self: Path, missing_ok: bool = False) -> None:
        if self.parent == tmp_path:
            raise PermissionError(1, "Operation not permitted", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    results.abandon()  # an immutable run directory: the clean-up fails quietly
