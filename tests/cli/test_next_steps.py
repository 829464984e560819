"""The lines under the summary: the rows that did not succeed, grouped, each with what to do and
the exact command for it.  Pure: groups in, steps and lines out."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from bulkpatch.cli.display import STEP_LINES, next_step_lines
from bulkpatch.core.summary import FRESH_SIMULATOR, ReasonGroup, next_steps, reason_group
from support.runs import StartSimulator, bulkpatch

RUN_DIR = Path("reports/sheet-20261201T031528Z")
ACTIVE = reason_group(
    "skipped", "campaign is active; rerun with --pause-active to pause, edit, resume"
)
ENDED = reason_group("skipped", "campaign is ended; it can no longer change")
CANCELLED = reason_group("skipped", "campaign is cancelled; it can no longer change")
FAILED = reason_group("failed", "PATCH: HTTP 503: Service Unavailable (gave up after retries)")
STOPPED = reason_group("not_attempted", "run stopped before this row: interrupted by SIGINT")
INVALID = reason_group("invalid", "allowed_schedule.timezone: not a valid IANA time zone")
STALE = reason_group("skipped", "stale: expect.status: paused, now scheduled")


def test_ended_and_cancelled_rows_fall_in_one_group_with_nothing_to_do() -> None:
    assert ENDED == CANCELLED
    (step,) = next_steps({ENDED: 31}, RUN_DIR)
    assert step.heading == "31 skipped (campaign ended or cancelled): nothing to do"
    assert step.command is None
    assert next_step_lines([step]) == [step.heading]


def test_active_rows_under_simulate_get_the_command_and_hear_the_simulator_starts_fresh() -> None:
    steps = next_steps({ACTIVE: 46, ENDED: 31}, RUN_DIR, simulated=True)

    assert [s.rows for s in steps] == [46, 31]  # most rows first
    active = steps[0]
    assert active.command == (
        "bulkpatch run reports/sheet-20261201T031528Z/retry.csv --pause-active --simulate"
    )
    assert active.note == FRESH_SIMULATOR
    assert steps[1].note is None
    assert next_step_lines(steps) == [
        "46 skipped (campaign is active): pause, update and resume them with:",
        "    bulkpatch run reports/sheet-20261201T031528Z/retry.csv --pause-active --simulate",
        f"    ({FRESH_SIMULATOR})",
        "31 skipped (campaign ended or cancelled): nothing to do",
    ]


def test_against_a_real_api_no_simulator_note_is_given() -> None:
    (step,) = next_steps({ACTIVE: 3}, RUN_DIR)
    assert step.command == "bulkpatch run reports/sheet-20261201T031528Z/retry.csv --pause-active"
    assert step.note is None


def test_failed_rows_beside_active_ones_are_pointed_at_the_same_command_once() -> None:
    steps = next_steps({ACTIVE: 10, FAILED: 4}, RUN_DIR, retry_name="retry.parquet")

    assert steps[0].command == steps[1].command
    assert str(steps[1].command).endswith("retry.parquet --pause-active")
    lines = next_step_lines(steps)
    assert lines[-1] == (
        "4 failed (errors outlasted the retries): try them again: the command above takes them too"
    )
    assert sum(1 for line in lines if line.startswith("    bulkpatch")) == 1


def test_rows_the_run_never_reached_resume_the_run_but_a_simulated_run_runs_them_again() -> None:
    (real,) = next_steps({STOPPED: 120}, RUN_DIR)
    assert real.command == "bulkpatch resume reports/sheet-20261201T031528Z"
    assert real.advice == "continue the run"

    (simulated,) = next_steps({STOPPED: 120}, RUN_DIR, simulated=True)
    assert simulated.command == (
        "bulkpatch run reports/sheet-20261201T031528Z/retry.csv --simulate"
    )


def test_a_plan_points_its_commands_at_the_sheet_and_its_invalid_rows_at_validate() -> None:
    sheet = Path("my sheets/changes.csv")
    steps = next_steps(
        {ACTIVE: 5, INVALID: 2, STALE: 1},
        RUN_DIR,
        mode="plan",
        sheet=sheet,
        simulated=True,
        resumable=False,
    )

    by_outcome = {s.outcome: s for s in steps}
    assert steps[0].command == "bulkpatch run 'my sheets/changes.csv' --pause-active --simulate"
    assert steps[0].note is None  # a plan changed nothing: no need to say the simulator is fresh
    assert by_outcome["invalid"].command == "bulkpatch validate 'my sheets/changes.csv'"
    stale = next(s for s in steps if s.label.startswith("stale"))
    assert stale.command is None
    assert "plan.csv" in stale.advice


def test_a_run_directory_with_a_space_is_quoted_so_the_command_can_be_pasted() -> None:
    (step,) = next_steps({FAILED: 1}, Path("my reports/run-1"))
    assert step.command == "bulkpatch run 'my reports/run-1/retry.csv'"


def test_the_lines_stay_within_eight_and_count_the_groups_left_out() -> None:
    groups = {
        ACTIVE: 40,
        STOPPED: 30,
        FAILED: 20,
        ENDED: 10,
        INVALID: 5,
        STALE: 4,
        reason_group("rejected", "PATCH: HTTP 422: end time must be after start time"): 3,
    }
    steps = next_steps(groups, RUN_DIR, simulated=True)
    lines = next_step_lines(steps)

    assert len(lines) == STEP_LINES
    headings = [line for line in lines if not line.startswith(("    ", "…"))]
    shown = sum(int(line.split(" ", 1)[0]) for line in headings)
    assert lines[-1] == (
        f"… {sum(groups.values()) - shown:,} more row(s) in {len(steps) - len(headings)} "
        "other group(s): see results.csv or report.html"
    )


def test_past_the_limit_the_groups_share_one_last_step_and_every_row_is_counted() -> None:
    groups = {reason_group("rejected", f"PATCH: HTTP 422: rule {n}"): 20 - n for n in range(12)}
    steps = next_steps(groups, RUN_DIR, limit=4)

    assert len(steps) == 4
    assert sum(s.rows for s in steps) == sum(groups.values())
    assert steps[-1].label == "9 other reasons"
    assert steps[-1].outcome == "rejected"


def test_a_rejected_group_is_named_in_the_apis_words_without_the_requests_name() -> None:
    group = reason_group("rejected", "PATCH: HTTP 422: end time must be after start time")
    assert group.label == "HTTP 422: end time must be after start time"
    assert group == reason_group("rejected", "GET: HTTP 422: end time must be after start time")
    (step,) = next_steps({group: 2}, RUN_DIR)
    assert step.advice == "the reasons are in results.csv"


def test_as_data_a_step_carries_the_same_words_and_command() -> None:
    (step,) = next_steps({ACTIVE: 46}, RUN_DIR, simulated=True)
    assert step.as_dict() == {
        "rows": 46,
        "outcome": "skipped",
        "reason": "campaign is active",
        "advice": "pause, update and resume them",
        "command": step.command,
        "note": FRESH_SIMULATOR,
    }
    assert step.line() == f"{step.heading} with `{step.command}`"


def test_groups_are_sorted_by_rows_then_by_name() -> None:
    a = ReasonGroup("rejected", "a", "read")
    b = ReasonGroup("rejected", "b", "read")
    assert [s.label for s in next_steps({b: 2, a: 2, ENDED: 3}, RUN_DIR)] == [ENDED.label, "a", "b"]


def test_the_run_commands_repeat_what_reaches_the_same_campaigns_and_never_a_key() -> None:
    from bulkpatch.core.options import RunOptions
    from bulkpatch.core.summary import carried_options

    options = RunOptions(
        base_url="http://127.0.0.1:8080/api/scheduling",
        org="org a",
        workspace="ws-1",
        api_key_env="MY_KEY",
        fmt="csv",
    )
    assert carried_options(options) == (
        " --base-url http://127.0.0.1:8080/api/scheduling --org 'org a' --workspace ws-1"
        " --api-key-env MY_KEY"
    )
    assert " --format csv" in carried_options(options, planning=True)
    assert carried_options(RunOptions()) == ""  # the defaults need not be said
    assert carried_options(RunOptions(simulate=True, org="o")) == " --simulate --org o"


async def test_a_next_step_command_run_as_printed_reaches_the_same_campaigns(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = [f"c{i}" for i in range(6)]
    sim = await start_simulator(
        overrides={
            ("org-n", "ws-n", c): {"status": "active" if i % 2 else "paused"}
            for i, c in enumerate(names)
        }
    )
    sheet = tmp_path / "noorg.csv"
    sheet.write_text("campaign_id,name\n" + "".join(f"{c},Next {c}\n" for c in names))
    common = ["--base-url", sim.base_url, "--report-dir", tmp_path / "r", "--rate", "unlimited"]
    first = await bulkpatch(
        "run", sheet, "--org", "org-n", "--workspace", "ws-n", *common, "--json",
        api_key=sim.config.api_key,
    )  # fmt: skip
    assert first.returncode == 1, first.stderr.decode()
    [step] = json.loads(first.stdout)["next_steps"]
    argv = shlex.split(step["command"])
    assert argv[:2] == ["bulkpatch", "run"]
    assert "--org" in argv
    assert sim.base_url in argv

    again = await bulkpatch(*argv[1:], api_key=sim.config.api_key)

    assert again.returncode == 0, again.stderr.decode()
    assert all(sim.state.get(("org-n", "ws-n", c))["name"] == f"Next {c}" for c in names)


def test_a_session_that_sent_nothing_shows_no_latency_rather_than_none(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from bulkpatch.cli.display import ConsoleDisplay
    from bulkpatch.core.events import RunFinished
    from bulkpatch.core.summary import RunSummary

    buffer = io.StringIO()
    console = Console(file=buffer, width=160)
    display = ConsoleDisplay(console, console, quiet=False, json_out=False)
    data = {"requests": {"total": 0, "by_method": {}}, "latency": {"p50_ms": None}}
    display(RunFinished(RunSummary(tmp_path, "resume", 0, {"updated": 3}, data=data)))
    text = buffer.getvalue()
    assert "requests 0 ()" in text
    assert "None" not in text


def test_a_rate_stores_password_is_never_printed_but_a_placeholder_to_fill_is() -> None:
    from bulkpatch.core.options import RunOptions
    from bulkpatch.core.summary import FILL_PASSWORD, command, options_of, store_placeholder

    assert store_placeholder("redis://u:pw@h:6379/1") == "redis://u:PASSWORD@h:6379/1"
    assert store_placeholder("redis://h:6379/1") == "redis://h:6379/1"
    options = RunOptions(rate_store="redis://:pw@h:6379/0", rate=20.0, pause_active=True)
    stored = options_of(options.for_journal())
    assert stored is not None
    line = command("run", "s.csv", options=stored)
    assert line == (
        "bulkpatch run s.csv --pause-active --rate-store redis://:PASSWORD@h:6379/0 --rate 20"
    )
    (step,) = next_steps({FAILED: 2}, RUN_DIR, options=options)
    assert step.command is not None
    assert "pw" not in step.command
    assert step.note == FILL_PASSWORD
    resume = command("resume", RUN_DIR, options=options, reach="run_dir")
    assert resume == f"bulkpatch resume {RUN_DIR} --rate-store redis://:PASSWORD@h:6379/0"


def test_the_run_report_shows_the_next_steps_and_says_a_simulated_run_was_simulated(
    tmp_path: Path,
) -> None:
    import html

    from bulkpatch.core.options import RunOptions
    from bulkpatch.core.urls import DEFAULT_BASE_URL
    from bulkpatch.ops.apply import apply_sheet

    sheet = tmp_path / "s.csv"
    sheet.write_text("org_id,workspace_id,campaign_id,name\n" + "".join(
        f"o,w,c{i},N{i}\n" for i in range(40)
    ))  # fmt: skip
    summary = apply_sheet(sheet, options=RunOptions(simulate=True, report_dir=tmp_path / "r"))
    assert summary.next_steps, "the simulated population has active or ended campaigns"

    page = html.unescape((summary.run_dir / "report.html").read_text())

    assert "<h2>Next steps</h2>" in page
    for step in summary.next_steps:
        assert step.heading in page
        if step.command:
            assert step.command in page
    assert "<th>base_url</th><td>simulated</td>" in page
    assert DEFAULT_BASE_URL not in page
