"""`bulkpatch report RUN_DIR`: report.html, results.csv and the retry file rebuilt from the journal
and the run's own copy of the sheet -- for a finished run, and for one a crash cut short."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

import bulkpatch.cli.report  # noqa: F401  (registers the command)
from bulkpatch.cli import cli
from bulkpatch.core.errors import BusyError, JournalError, UsageError
from bulkpatch.core.stopper import Stopper
from bulkpatch.ops.report import MAYBE_PAUSED, NO_ANSWER, NO_OUTCOME, rebuild_reports
from bulkpatch.rundir.directory import lock_run_dir
from bulkpatch.simulator import SimulatorConfig
from support.runs import StartSimulator, run_sheet, write_sheet
from support.scripted import scripted_simulator

ORG, WS = "org-demo", "ws-demo"
ROWS = 24
CHANGE = {
    "allowed_schedule.allowed_start_time": "10:00",
    "allowed_schedule.allowed_end_time": "19:00",
    "allowed_schedule.allowed_days": "Mon-Sat",
}


def sheet_rows(n: int = ROWS) -> list[dict[str, Any]]:
    return [
        {
            "org_id": ORG,
            "workspace_id": WS,
            "campaign_id": f"cmp-{i:06d}",
            **CHANGE,
            "#note": f"=row {i}" if i == 3 else f"note {i}",
        }
        for i in range(1, n + 1)
    ]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def journal_lines(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]


def cut_journal(run_dir: Path, keep: int) -> None:
    """The journal as a crash at its ``keep``-th line would have left it."""
    lines = (run_dir / "journal.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "journal.jsonl").write_text("".join(lines[:keep]) + lines[keep][:17])


REPORTS = ("report.html", "results.csv", "retry.csv", "summary.json")


async def finished_run(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> tuple[Path, str]:
    sim = await start_simulator(generate=ROWS, api_key="sim-key-must-not-leak")
    sheet = write_sheet(tmp_path / "window.csv", sheet_rows())
    run = await run_sheet(sheet, sim, monkeypatch, **options)
    assert run.run_dir is not None
    return run.run_dir, sim.config.api_key


async def test_the_reports_of_a_finished_run_are_rebuilt_byte_for_byte(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, key = await finished_run(tmp_path, start_simulator, monkeypatch)
    written = {name: (run_dir / name).read_bytes() for name in REPORTS}
    for name in ("report.html", "results.csv", "retry.csv"):
        (run_dir / name).unlink()

    rebuilt = rebuild_reports(run_dir)

    assert [p.name for p in rebuilt.written] == ["report.html", "results.csv", "retry.csv"]
    for name in REPORTS:
        assert (run_dir / name).read_bytes() == written[name], name
    for path in rebuilt.written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert key not in path.read_text(encoding="utf-8")
    assert rebuilt.finished
    assert rebuilt.summary_kept
    assert rebuilt.no_outcome == 0
    assert rebuilt.rows == ROWS
    results = read_csv(run_dir / "results.csv")
    assert dict(rebuilt.outcomes) == {
        o: sum(1 for r in results if r["outcome"] == o) for o in {r["outcome"] for r in results}
    }
    assert not list(run_dir.glob(".*.tmp"))


async def test_a_shards_reports_are_rebuilt_with_its_own_rows_only(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, _ = await finished_run(tmp_path, start_simulator, monkeypatch, shard="2/3")
    written = {name: (run_dir / name).read_bytes() for name in REPORTS}
    assert 0 < len(read_csv(run_dir / "results.csv")) < ROWS

    rebuild_reports(run_dir)

    for name in REPORTS:
        assert (run_dir / name).read_bytes() == written[name], name


async def test_a_run_a_crash_cut_short_gets_every_row_with_the_unfinished_ones_not_attempted(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, _ = await finished_run(tmp_path, start_simulator, monkeypatch, pause_active=True)
    records = journal_lines(run_dir)
    # Crash right after the PATCH of a campaign the run had paused: sent, no answer, still paused.
    paused_row = next(r["row"] for r in records if r["e"] == "paused")
    cut = next(
        i
        for i, r in enumerate(records)
        if r["e"] == "sent" and r.get("op") == "patch" and r["row"] == paused_row
    )
    kept = records[: cut + 1]
    done_before = {r["row"]: r for r in kept if r["e"] == "done"}
    assert 0 < len(done_before) < ROWS - 1
    in_doubt = {r["row"] for r in kept if r["e"] == "sent" and r["op"] == "patch"} - set(
        done_before
    )
    still_paused: dict[str, int] = {}
    for r in kept:
        if r["e"] == "sent" and r["op"] == "pause":
            still_paused[r["key"]] = r["row"]
        elif r["e"] in ("resumed", "pause_refused"):
            still_paused.pop(r["key"], None)
    assert paused_row in in_doubt
    assert paused_row in still_paused.values()
    cut_journal(run_dir, cut + 1)
    for name in REPORTS:
        (run_dir / name).unlink()

    rebuilt = rebuild_reports(run_dir)

    assert not rebuilt.finished
    assert not rebuilt.summary_kept
    assert not (run_dir / "summary.json").exists()
    results = read_csv(run_dir / "results.csv")
    assert [int(r["row"]) for r in results] == list(range(1, ROWS + 1))  # sheet order
    assert [r["campaign_id"] for r in results] == [f"cmp-{i:06d}" for i in range(1, ROWS + 1)]
    for r in results:
        row = int(r["row"])
        if row in done_before:
            assert r["outcome"] == done_before[row]["outcome"]
            assert r["reason"] == done_before[row]["reason"]
        else:
            assert r["outcome"] == "not_attempted"
            why = NO_ANSWER if row in in_doubt else NO_OUTCOME
            assert r["reason"] == why + (MAYBE_PAUSED if row in still_paused.values() else "")
    assert rebuilt.no_outcome == ROWS - len(done_before)
    assert dict(rebuilt.paused) == still_paused
    retry = read_csv(run_dir / "retry.csv")
    not_ok = [r for r in results if r["outcome"] not in ("updated", "unchanged")]
    assert [r["campaign_id"] for r in retry] == [r["campaign_id"] for r in not_ok]
    assert list(retry[0]) == list(sheet_rows()[0])  # the sheet's own columns, notes included
    by_id = {r["campaign_id"]: r for r in retry}
    if "cmp-000003" in by_id:
        assert by_id["cmp-000003"]["#note"] == "=row 3"  # exactly as in the sheet
    steps = {s.outcome: s for s in rebuilt.next_steps}
    assert steps["not_attempted"].command == f"bulkpatch resume {run_dir}"
    page = (run_dir / "report.html").read_text()
    assert "The last session has no end" in page


async def test_a_resumed_run_is_rebuilt_as_its_last_session_wrote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopper = Stopper()

    def decide(method: str, path: str, nth: int, total: int) -> Any:
        if total == 12:  # Ctrl-C a few rows in
            stopper.stop("interrupted by SIGINT")
        return None

    config = SimulatorConfig(seed=7, generate=ROWS)
    sheet = write_sheet(tmp_path / "window.csv", sheet_rows())
    async with scripted_simulator(config, decide) as sim:
        first = await run_sheet(sheet, sim, monkeypatch, stopper=stopper)
        assert first.code == 3
        assert first.run_dir is not None
        resumed = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=first.run_dir)
    run_dir = first.run_dir
    assert sum(1 for r in journal_lines(run_dir) if r["e"] in ("start", "resume")) == 2
    written = {name: (run_dir / name).read_bytes() for name in REPORTS}

    rebuilt = rebuild_reports(run_dir)

    assert rebuilt.finished
    assert dict(rebuilt.outcomes) == {k: v for k, v in resumed.summary()["outcomes"].items() if v}
    for name in REPORTS:
        assert (run_dir / name).read_bytes() == written[name], name


async def test_a_parquet_sheet_gets_results_parquet_and_a_parquet_retry_file_again(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=ROWS)
    sheet = tmp_path / "window.parquet"
    pl.DataFrame(sheet_rows()).write_parquet(sheet)
    run = await run_sheet(sheet, sim, monkeypatch)
    assert run.run_dir is not None
    run_dir = run.run_dir
    before = pl.read_parquet(run_dir / "results.parquet")
    retry_before = pl.read_parquet(run_dir / "retry.parquet")
    (run_dir / "results.parquet").unlink()
    (run_dir / "retry.parquet").unlink()

    rebuilt = rebuild_reports(run_dir)

    assert {p.name for p in rebuilt.written} == {
        "report.html",
        "results.csv",
        "results.parquet",
        "retry.parquet",
    }
    assert pl.read_parquet(run_dir / "results.parquet").equals(before)
    assert pl.read_parquet(run_dir / "retry.parquet").equals(retry_before)


async def test_a_changed_copy_of_the_sheet_rebuilds_the_page_only_and_says_why(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, _ = await finished_run(tmp_path, start_simulator, monkeypatch)
    results = (run_dir / "results.csv").read_bytes()
    (run_dir / "report.html").unlink()
    with (run_dir / "sheet.csv").open("a") as f:
        f.write("org-demo,ws-demo,cmp-999999,10:00,19:00,Mon,x\n")

    with pytest.raises(JournalError, match="differs from the sheet the run started with"):
        rebuild_reports(run_dir)

    assert (run_dir / "report.html").is_file()
    assert (run_dir / "results.csv").read_bytes() == results


async def test_report_waits_for_nobody_it_refuses_while_a_run_holds_the_directory(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, _ = await finished_run(tmp_path, start_simulator, monkeypatch)
    lock = lock_run_dir(run_dir)
    try:
        with pytest.raises(BusyError, match="is working in"):
            rebuild_reports(run_dir)
    finally:
        lock.release()


def test_a_directory_without_a_journal_is_refused_and_a_plans_directory_is_named_as_such(
    tmp_path: Path,
) -> None:
    with pytest.raises(UsageError, match=r"has no journal\.jsonl"):
        rebuild_reports(tmp_path)
    (tmp_path / "plan.csv").write_text("row\n")
    with pytest.raises(UsageError, match="a plan's directory"):
        rebuild_reports(tmp_path)
    with pytest.raises(UsageError, match="is not a directory"):
        rebuild_reports(tmp_path / "nowhere")


async def test_the_command_says_what_it_rebuilt_and_json_gives_it_as_data(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, _ = await finished_run(tmp_path, start_simulator, monkeypatch)
    runner = CliRunner()

    said = runner.invoke(cli, ["report", str(run_dir)])
    assert said.exit_code == 0, said.output
    lines = said.stderr.splitlines()
    assert lines[0] == (
        f"rebuilt in {run_dir} from journal.jsonl and sheet.csv: report.html, results.csv, "
        "retry.csv"
    )
    assert lines[1].startswith(f"{ROWS} rows: updated ")
    assert lines[-1].startswith("summary.json is as the run wrote it")
    assert said.stdout == ""

    data = runner.invoke(cli, ["report", str(run_dir), "--json"])
    assert data.exit_code == 0
    parsed = json.loads(data.stdout)
    assert parsed["rows"] == ROWS
    assert parsed["finished"] is True
    assert [Path(p).name for p in parsed["written"]] == ["report.html", "results.csv", "retry.csv"]
    assert data.stderr == ""

    quiet = runner.invoke(cli, ["report", str(run_dir), "-q"])
    assert (quiet.exit_code, quiet.output) == (0, "")

    missing = runner.invoke(cli, ["report", str(tmp_path)])
    assert missing.exit_code == 2
    assert "has no journal.jsonl: give the directory of a run" in " ".join(missing.stderr.split())
