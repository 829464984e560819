"""`bulkpatch run` as a user runs it: a child process, its exit code, its output, its files."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from support.runs import (
    StartSimulator,
    bulkpatch,
    campaign_rows,
    only_run_dir,
    run_dirs,
    write_sheet,
)

ORG, WS = "org-cli", "ws-cli"
SECRET = "sk-live-7f3c9a1b2d4e6f8091a2b3c4d5e6f708"
WRONG = "sk-live-00000000wrongwrongwrong0000000"
REPO = Path(__file__).resolve().parents[2]


def every_file_text(directory: Path) -> str:
    return "".join(
        p.read_bytes().decode("utf-8", "replace") for p in directory.rglob("*") if p.is_file()
    )


@pytest.mark.slow
async def test_the_key_never_appears_in_any_output_or_file(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    ids = [f"c{i}" for i in range(40)]
    sim = await start_simulator(
        api_key=SECRET,
        fail_rate=0.1,
        reset_rate=0.1,
        overrides={
            (ORG, WS, c): {"status": "paused" if i % 4 else "active"} for i, c in enumerate(ids)
        },
    )
    sheet = write_sheet(tmp_path / "keyed.csv", campaign_rows(ids, ORG, WS, name="Key test"))
    reports = tmp_path / "reports"
    runs = {0: (SECRET, ["--pause-active"]), 1: (SECRET, ["--json"]), 2: (WRONG, [])}
    seen: dict[int, int] = {}

    async def run(n: int) -> None:  # the three runs go side by side, each in its own directory
        key, extra = runs[n]
        done = await bulkpatch(
            "run",
            sheet,
            "--base-url",
            sim.base_url,
            "--rate",
            "unlimited",
            "--report-dir",
            reports / str(n),
            *extra,
            api_key=key,
        )
        seen[n] = done.returncode
        text = (done.stdout + done.stderr).decode("utf-8", "replace")
        assert SECRET not in text
        assert WRONG not in text

    async with anyio.create_task_group() as tg:
        for n in runs:
            tg.start_soon(run, n)
    assert seen[2] == 3  # the wrong key stops the run
    assert sim.stats()["injected_failures"] > 0  # error paths were taken too
    files = every_file_text(reports)
    assert files.count('"e":"start"') == 3  # every run's journal was read
    assert SECRET not in files
    assert WRONG not in files
    assert sum(len(run_dirs(reports / str(n))) for n in runs) == 3


async def test_json_puts_only_the_summary_on_stdout(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(overrides={(ORG, WS, "j1"): {"status": "paused"}})
    sheet = write_sheet(tmp_path / "j.csv", campaign_rows(["j1"], ORG, WS, name="Json run"))
    done = await bulkpatch(
        "run",
        sheet,
        "--base-url",
        sim.base_url,
        "--json",
        "--report-dir",
        tmp_path / "r",
        api_key=sim.config.api_key,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["outcomes"]["updated"] == 1
    assert summary["exit_code"] == 0
    assert "run directory" in done.stderr.decode()


async def test_without_a_key_the_run_stops_before_sending_and_says_how_to_give_one(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(overrides={(ORG, WS, "n1"): {"status": "paused"}})
    sheet = write_sheet(tmp_path / "n.csv", campaign_rows(["n1"], ORG, WS, name="No key"))
    done = await bulkpatch("run", sheet, "--base-url", sim.base_url, api_key=None, cwd=tmp_path)
    assert done.returncode == 2
    assert b"SARVAM_API_KEY" in done.stderr
    assert b"Traceback" not in done.stderr
    assert sim.stats()["requests_total"] == 0


async def test_plain_http_to_a_host_that_is_not_loopback_is_refused(tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "h.csv", campaign_rows(["h1"], ORG, WS, name="Http"))
    done = await bulkpatch(
        "run",
        sheet,
        "--base-url",
        "http://example.com/api/scheduling",
        api_key="fake-key",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert b"https://" in done.stderr
    assert b"Traceback" not in done.stderr


async def test_a_missing_sheet_is_a_usage_error_without_a_traceback(tmp_path: Path) -> None:
    done = await bulkpatch("run", tmp_path / "nope.csv", "--simulate", cwd=tmp_path)
    assert done.returncode == 2
    assert b"nope.csv" in done.stderr
    assert b"Traceback" not in done.stderr


async def test_the_readme_first_command_runs_the_main_job_on_the_embedded_simulator(
    tmp_path: Path,
) -> None:
    sheet = REPO / "input_examples" / "mass-schedule-change.csv"
    done = await bulkpatch(
        "run", sheet, "--simulate", "--rate", "unlimited", "--report-dir", tmp_path, cwd=tmp_path
    )
    assert done.returncode in (0, 1), done.stderr
    run_dir = only_run_dir(tmp_path)
    results = (run_dir / "results.csv").read_text().splitlines()
    assert len(results) == 1 + 300
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["outcomes"]["updated"] > 150
    assert summary["exit_code"] == done.returncode
    for name in ("journal.jsonl", "results.csv", "retry.csv", "summary.json"):
        assert (run_dir / name).stat().st_mode & 0o777 == 0o600


def test_without_a_terminal_the_plan_table_wraps_no_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import bulkpatch.cli.commands  # noqa: F401  (registers the commands)
    from bulkpatch.cli import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COLUMNS", raising=False)
    name = "Weekend renewals for Saturday and Sunday, north and south regions, phase two"
    (tmp_path / "d.csv").write_text(
        f'org_id,workspace_id,campaign_id,description\no,w,c1,"{name}"\n'
    )

    done = CliRunner().invoke(cli, ["plan", "d.csv", "--simulate"])

    assert done.exit_code == 0, done.output
    [line] = [x for x in done.output.splitlines() if "description:" in x]
    assert f"-> {name} │" in line
