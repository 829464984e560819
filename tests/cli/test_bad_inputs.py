"""What users hand bulkpatch, at the command line (issue 10, items 12 to 15).

The readers themselves are tested in test_spreadsheet_csvs.py, test_sheet_files.py,
test_credentials.py, test_leaf_rules.py and test_journal.py; here each input goes through the
command a user types, and the server says what was sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

import bulkpatch.cli.commands
from bulkpatch.cli import cli
from support.runs import (
    StartSimulator,
    bulkpatch,
    campaign_rows,
    only_run_dir,
    run_dirs,
    write_sheet,
)

ORG, WS = "org-i", "ws-i"


def said(done: subprocess.CompletedProcess[bytes]) -> str:
    return (done.stdout + done.stderr).decode()


def paused(*names: str) -> dict[tuple[str, str, str], dict[str, object]]:
    return {(ORG, WS, c): {"status": "paused", "app_config.app_version": 1} for c in names}


# -- 12. a CSV as a spreadsheet saves it -----------------------------------------------------------


async def test_a_spreadsheet_csv_with_blank_trailing_columns_runs_and_retry_keeps_its_cells(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(overrides={**paused("c1"), (ORG, WS, "c2"): {"status": "ended"}})
    sheet = tmp_path / "excel.csv"
    sheet.write_bytes(
        b"\xef\xbb\xbforg_id,workspace_id,campaign_id,name,#note,,,\r\n"
        + f"{ORG},{WS},c1,Sale,first,,,\r\n{ORG},{WS},c2,Renewals,second,, ,\r\n".encode()
    )
    reports = tmp_path / "reports"
    done = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--report-dir", reports,
        api_key=sim.config.api_key,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr.decode()  # c2 is ended: skipped
    assert sim.state.get((ORG, WS, "c1"))["name"] == "Sale"
    retry = (only_run_dir(reports) / "retry.csv").read_text(encoding="utf-8")
    assert "Renewals,second" in retry


async def test_validate_names_an_excel_sep_line_and_a_header_slip_as_the_causes(
    tmp_path: Path,
) -> None:
    sep = tmp_path / "sep.csv"
    sep.write_text("sep=,\norg_id,workspace_id,campaign_id,name\no,w,c1,Sale\n")
    done = await bulkpatch("validate", sep)
    assert done.returncode == 2
    assert "a hint some programs write for Excel, not the header" in said(done)

    slip = tmp_path / "slip.csv"
    slip.write_text("Org_ID,workspace_id,campaign_id,name\no,w,c1,Sale\n")
    done = await bulkpatch("validate", slip)
    assert done.returncode == 2
    assert "unknown column `Org_ID` — did you mean `org_id`?" in said(done)


# -- 13. the key file ------------------------------------------------------------------------------


async def test_run_with_dev_zero_as_the_key_file_exits_2_at_once_with_a_clear_message(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(overrides=paused("c1"))
    sheet = write_sheet(tmp_path / "k.csv", campaign_rows(["c1"], ORG, WS, name="New"))
    started = time.monotonic()
    done = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--api-key-file", "/dev/zero",
        "--report-dir", tmp_path / "reports",
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert time.monotonic() - started < 10
    assert "/dev/zero is a device, not a regular file" in err
    assert "Traceback" not in err
    assert "MemoryError" not in err
    assert sim.stats()["requests_total"] == 0
    assert run_dirs(tmp_path / "reports") == []


async def test_a_key_file_saved_with_a_bom_works_and_a_readable_one_is_warned_about(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(overrides=paused("c1"))
    sheet = write_sheet(tmp_path / "k.csv", campaign_rows(["c1"], ORG, WS, name="New"))
    key_file = tmp_path / "key.txt"
    key_file.write_bytes(b"\xef\xbb\xbf" + sim.config.api_key.encode() + b"\r\n")
    os.chmod(key_file, 0o644)
    done = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--api-key-file", key_file,
        "--report-dir", tmp_path / "reports",
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "chmod 600" in err
    assert sim.config.api_key not in err
    assert sim.state.get((ORG, WS, "c1"))["name"] == "New"


# -- 14. a journal this version cannot continue ---------------------------------------------------


async def test_resume_of_a_journal_with_an_unknown_outcome_names_the_version_and_exits_2(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(overrides=paused("c1", "c2"))
    sheet = write_sheet(tmp_path / "j.csv", campaign_rows(["c1", "c2"], ORG, WS, name="New"))
    reports = tmp_path / "reports"
    first = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--report-dir", reports,
        api_key=sim.config.api_key,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr.decode()
    run_dir = only_run_dir(reports)
    journal = run_dir / "journal.jsonl"
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    lines[0]["version"] = "9.1.0"
    for line in lines:
        if line["e"] == "done" and line["row"] == 2:
            line["outcome"] = "deferred"  # an outcome a newer version has
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = sim.stats()["requests_total"]

    done = await bulkpatch("resume", run_dir, api_key=sim.config.api_key)

    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert f"unsupported journal {journal} (written by bulkpatch 9.1.0)" in err
    assert "'deferred'" in err
    assert "Traceback" not in err
    assert sim.stats()["requests_total"] == before


async def test_resume_of_a_journal_of_a_newer_format_is_refused_the_same_way(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    run_dir = tmp_path / "reports" / "j-20260101T000000Z"
    run_dir.mkdir(parents=True)
    start = {"e": "start", "journal": 7, "version": "12.0.0", "sheet": "x.csv", "options": {}}
    (run_dir / "journal.jsonl").write_text(json.dumps(start) + "\n")
    done = await bulkpatch("resume", run_dir, api_key="k")
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "written by bulkpatch 12.0.0, journal format 7" in err


# -- 15. a FIFO as the sheet ----------------------------------------------------------------------


async def test_run_and_validate_refuse_a_named_pipe_as_the_sheet_at_once(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator()
    pipe = tmp_path / "sheet.csv"
    os.mkfifo(pipe)
    reports = tmp_path / "reports"
    with anyio.fail_after(30):  # a read of the pipe would block until this fails the test
        ran = await bulkpatch(
            "run", pipe, "--base-url", sim.base_url, "--report-dir", reports,
            api_key=sim.config.api_key,
        )  # fmt: skip
        validated = await bulkpatch("validate", pipe)
    for done in (ran, validated):
        err = done.stderr.decode()
        assert done.returncode == 2, err
        assert "is a named pipe (FIFO), not a regular file" in err
    assert run_dirs(reports) == []
    assert sim.stats()["requests_total"] == 0


# -- a missing sheet is named before a missing key --------------------------------------------


@pytest.mark.parametrize("command", ["run", "plan"])
def test_run_and_plan_of_a_missing_sheet_without_a_key_name_the_sheet_first(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SARVAM_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)

    done = CliRunner().invoke(cli, [command, "nope.csv"])

    assert done.exit_code == 2
    assert "nope.csv: no such file" in done.output
    assert "no API key" not in done.output


async def test_resume_of_a_run_directory_without_its_sheet_names_it_before_the_key(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(overrides=paused("c1"))
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(["c1"], ORG, WS, name="N"))
    reports = tmp_path / "reports"
    ran = await bulkpatch(
        "run",
        sheet,
        "--base-url",
        sim.base_url,
        "--report-dir",
        reports,
        api_key=sim.config.api_key,
    )
    assert ran.returncode == 0, said(ran)
    run_dir = only_run_dir(reports)
    for copy in run_dir.glob("sheet.*"):
        copy.unlink()

    done = await bulkpatch("resume", run_dir, api_key=None)

    assert done.returncode == 2
    assert "holds no copy of its sheet" in said(done)
    assert "no API key" not in said(done)
