"""Text from a sheet or the API is data (issue 10, items 3 and 10).

It is printed literally (never as rich markup), stripped of control characters, capped, and
never lands in a report cell a spreadsheet would run as a formula.  The simulator's
``--hostile-text`` and ``--error-body-bytes`` give the server's side of it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from bulkpatch.core.text import FORMULA_STARTS, MESSAGE_CAP
from support.faketime import FakeTime
from support.runs import (
    StartSimulator,
    bulkpatch,
    campaign_rows,
    only_run_dir,
    run_sheet,
    write_sheet,
)

ORG, WS = "org-txt", "ws-txt"
VERSION = "app_config.app_version"
DIWALI = "Diwali offer [/] ends soon"
STYLED = "[bold red]x[/bold red] and [link=https://example.invalid]click[/link]"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def no_formula_or_control(cell: str) -> bool:
    return not cell.startswith(FORMULA_STARTS) and cell.isprintable()


# -- 3. printed literally -------------------------------------------------------------------------


async def test_plan_shows_markup_like_descriptions_exactly_as_written(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(
        overrides={
            (ORG, WS, c): {"status": "paused", "description": "Old"} for c in ("diwali", "styled")
        }
    )
    sheet = write_sheet(
        tmp_path / "offers.csv",
        [
            {"org_id": ORG, "workspace_id": WS, "campaign_id": "diwali", "description": DIWALI},
            {"org_id": ORG, "workspace_id": WS, "campaign_id": "styled", "description": STYLED},
        ],
    )
    done = await bulkpatch(
        "plan", sheet, "--base-url", sim.base_url, "--report-dir", tmp_path / "reports",
        api_key=sim.config.api_key,
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "Traceback" not in err
    assert f"description: Old -> {DIWALI}" in err
    # The preview shows what will be written, brackets and all.
    assert f"description: Old -> {STYLED}" in err
    assert "\x1b" not in err

    validated = await bulkpatch("validate", sheet)
    assert validated.returncode == 0, validated.stderr.decode()


async def test_an_api_message_with_markup_is_shown_literally_and_the_run_resumes_later(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    # The org may hold one live campaign and one is live: the resume is refused, with a
    # message full of markup, formulas and control characters.
    sim = await start_simulator(
        hostile_text=True,
        live_limit_per_org=1,
        overrides={
            (ORG, WS, "a1"): {"status": "active", VERSION: 1},
            (ORG, WS, "live"): {"status": "scheduled"},
        },
    )
    sheet = write_sheet(tmp_path / "one.csv", campaign_rows(["a1"], ORG, WS, **{VERSION: "4"}))
    reports = tmp_path / "reports"
    first = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--pause-active", "--max-outage", "1",
        "--max-attempts", "2", "--rate", "unlimited", "--report-dir", reports,
        api_key=sim.config.api_key,
    )  # fmt: skip
    err = first.stderr.decode()
    assert first.returncode == 3, err
    assert "Traceback" not in err
    left = next(line for line in err.splitlines() if line.startswith("LEFT PAUSED"))
    assert "[/] [bold red]x[/bold red]" in left  # as the API wrote it
    assert "\x1b" not in err
    assert "\r" not in err
    run_dir = only_run_dir(reports)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "[/]" in summary["campaigns_left_paused"][f"{ORG}/{WS}/a1"]

    sim.state.edit((ORG, WS, "live"), {"status": "paused"})  # room for one live campaign again
    again = await bulkpatch("resume", run_dir, api_key=sim.config.api_key)
    assert again.returncode == 0, again.stderr.decode()
    assert sim.state.status_of((ORG, WS, "a1")) == "scheduled"
    assert json.loads((run_dir / "summary.json").read_text())["campaigns_left_paused"] == {}
    (row,) = read_csv(run_dir / "results.csv")
    assert row["outcome"] == "updated"  # the update was applied, and now it is resumed
    assert "LEFT PAUSED" not in row["reason"]
    assert sim.stats()["patches_applied_total"] == 1


# -- 10. report cells neutralised, control characters stripped, messages capped ---------------


async def test_hostile_and_huge_server_text_is_neutralised_and_capped_in_every_report(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = [f"h{i}" for i in range(12)]
    overrides: dict[Any, dict[str, Any]] = {
        (ORG, WS, c): {"status": "paused", VERSION: 1} for c in names
    }
    sim = await start_simulator(
        hostile_text=True,
        error_body_bytes=5_000_000,
        forbid=["h0"],
        refuse_patches={(ORG, WS, "h1"): "Campaign is locked"},
        overrides=overrides,
    )
    rows = campaign_rows(names, ORG, WS, **{VERSION: "5"})
    rows.append({"org_id": ORG, "workspace_id": WS, "campaign_id": "missing", VERSION: "5"})
    sheet = write_sheet(tmp_path / "hostile.csv", rows)
    reports = tmp_path / "reports"

    done = await bulkpatch(
        "run", sheet, "--base-url", sim.base_url, "--report-dir", reports, "--rate", "unlimited",
        api_key=sim.config.api_key,
    )  # fmt: skip

    output = done.stderr.decode()
    run_dir = only_run_dir(reports)
    csv.field_size_limit(10_000_000)  # to read the cells of older, uncapped reports too
    results = read_csv(run_dir / "results.csv")
    for row in results:
        for cell in row.values():
            assert no_formula_or_control(cell), row
            assert len(cell) < MESSAGE_CAP + 100
    assert done.returncode == 1, output
    outcomes = {r["campaign_id"]: r["outcome"] for r in results}
    assert outcomes["h0"] == outcomes["h1"] == outcomes["missing"] == "rejected"
    assert {outcomes[c] for c in names[2:]} == {"updated"}
    refused = {r["campaign_id"]: r["reason"] for r in results}
    assert "[cut: " in refused["h1"]  # a 5 MB message, cut and saying so
    # The API's stamp began with "=": neutralised in the report, kept raw in the journal.
    assert all(r["updated_at"].startswith("'=") for r in results if r["outcome"] == "updated")
    journal = (run_dir / "journal.jsonl").read_bytes().splitlines()
    assert max(len(line) for line in journal) < 20_000
    finished = [json.loads(line) for line in journal if b'"e":"done"' in line]
    assert any(str(d.get("updated_at", "")).startswith("=") for d in finished)
    assert (run_dir / "summary.json").stat().st_size < 50_000
    assert len(output) < 50_000
    assert "\x1b" not in output


async def test_a_5mb_html_error_page_is_capped_and_the_row_still_gets_its_outcome(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(
        fail_rate=1.0,
        hostile_text=True,
        error_body_bytes=5_000_000,
        overrides={(ORG, WS, "f1"): {"status": "paused"}},
    )
    sheet = write_sheet(tmp_path / "html.csv", campaign_rows(["f1"], ORG, WS, name="New name"))
    run = await run_sheet(
        sheet, sim, monkeypatch, max_attempts=2, max_outage=1.0, timing=FakeTime().timing()
    )
    (row,) = run.results()
    assert row["outcome"] in ("failed", "not_attempted")
    assert no_formula_or_control(row["reason"])
    assert len(row["reason"]) < MESSAGE_CAP + 100
    assert run.run_dir is not None
    journal = (run.run_dir / "journal.jsonl").read_bytes().splitlines()
    assert max(len(line) for line in journal) < 20_000


async def test_formula_note_cells_carried_into_retry_csv_are_warned_about_once(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["e1", "e2", "e3"]
    sim = await start_simulator(overrides={(ORG, WS, c): {"status": "ended"} for c in names})
    rows = campaign_rows(names, ORG, WS, name="New name")
    for row in rows:
        row["#note"] = '=HYPERLINK("https://example.invalid","open")'
    sheet = write_sheet(tmp_path / "notes.csv", rows)
    run = await run_sheet(sheet, sim, monkeypatch)
    assert run.code == 1
    assert run.output.count("note cell(s) in retry.csv start with a formula character") == 1
    retry = read_csv(run.run_dir / "retry.csv") if run.run_dir else []
    # The sheet's own rows, unchanged: they are the user's to feed back.
    assert [r["#note"] for r in retry] == [rows[0]["#note"]] * 3
