"""``bulkpatch plan``, ``bulkpatch run`` and ``bulkpatch resume``: their options and help.

Light on purpose: ``--help`` and shell completion load this module and nothing heavier than
click; the command's body hands its parsed options to :mod:`bulkpatch.cli.running`, imported
when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bulkpatch.cli.approval import (
    given_options,
    plan_out_option,
    safeguard_options,
    take_safeguards,
)
from bulkpatch.cli.group import cli
from bulkpatch.cli.runoptions import (
    common_options,
    key_options,
    output_options,
    pace_options,
    window_options,
    window_values,
)

SHEET = click.argument("sheet", type=click.Path(dir_okay=False, path_type=Path))


@cli.command("run")
@click.argument("sheet", required=False, type=click.Path(dir_okay=False, path_type=Path))
@common_options
@safeguard_options
@click.option(
    "--pause-active",
    is_flag=True,
    help="Active campaigns: pause, update, resume (resumed even if the update fails). "
    "Without it, active campaigns are `skipped`.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Apply the valid rows and report the invalid ones as `invalid` (default: refuse the "
    "sheet and send nothing).",
)
@click.option(
    "--no-read",
    is_flag=True,
    help="Do not GET each campaign first (half the requests). Only for sheets whose changes are "
    "top-level fields or whole objects; gives up `unchanged`, status checks and undo data.",
)
@window_options(calling=True)
@click.option(
    "--continue",
    "continue_run",
    is_flag=True,
    help="Carry on the unfinished run of this same sheet against the same API in --report-dir "
    "(in its own run directory; --rate, --concurrency and --window given now apply to the rows "
    "left); start one if there is none; if it is complete, say so, send nothing and exit with "
    "its code. With --window, one crontab line carries a migration over many nights.",
)
def run_command(sheet: Path | None, **kwargs: Any) -> None:
    """Apply SHEET to the Scheduling API.

    Every row is validated first; an invalid sheet sends nothing (exit 2). Then each row's
    campaign is read, the row's changes are merged into it, and the campaign is updated only if
    something differs and its status allows it. Results go to a run directory under
    --report-dir: results.csv, retry.csv (the rows to fix and feed back), summary.json and the
    journal that `bulkpatch resume` continues from.

    \b
    Exit codes: 0 every row updated or unchanged (rows a --canary held back do not
                count, see --canary); 1 some rows were not; 2 usage error or invalid
                sheet (nothing sent); 3 aborted, a canary that did not hold, --max-errors
                reached or a campaign left paused (resumable); 70 internal error;
                75 the --window closed (or was closed with --no-wait) or campaigns were
                inside their calling hours, with rows left (resumable).

    \b
    Examples:
      bulkpatch run input_examples/mass-schedule-change.csv --simulate
      SARVAM_API_KEY=... bulkpatch run changes.csv --rate 20 --concurrency 8
      bulkpatch run --plan plans/schedule --approved-by asha --canary 10
      bulkpatch run migration.parquet --continue --window "22:00-06:00 Asia/Kolkata"
    """
    continuing = kwargs.pop("continue_run")
    windows = window_values(kwargs)
    guards = take_safeguards(kwargs, sheet)
    given = given_options(click.get_current_context(), kwargs)

    if guards.plan_dir is not None and (continuing or windows):
        raise click.UsageError(
            "--plan applies one approved plan: run it without --continue and "
            "--window, then `bulkpatch resume` it"
        )
    with cli.loading():
        # start-up cost: the engine and its libraries load only when the command runs
        from bulkpatch.cli.running import run_sheet

    run_sheet(sheet, kwargs, guards, given, windows, continuing)


@cli.command("plan")
@SHEET
@common_options
@click.option("--pause-active", is_flag=True, help="Preview as `run --pause-active` would act.")
@plan_out_option
def plan_command(sheet: Path, **kwargs: Any) -> None:
    """Preview SHEET: read every campaign, show what would change, send nothing.

    Writes plan.csv (per row: the outcome it would get and `field: old -> new`) in a run
    directory under --report-dir. Only GET requests are made. With --out DIR, also a plan
    directory a reviewer approves and `bulkpatch run --plan DIR` applies exactly (written only
    when every row was read).

    \b
    Exit codes: 0 every row would be updated or unchanged; 1 some would not;
                2 usage error or unreadable sheet; 3 aborted; 70 internal error.
    """
    with cli.loading():
        # start-up cost: the engine and its libraries load only when the command runs
        from bulkpatch.cli.running import plan_sheet

    plan_sheet(sheet, kwargs)


@cli.command("resume")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@pace_options(resuming=True)
@window_options(calling=True, resuming=True)
@key_options
@click.option(
    "--notify-url",
    envvar="BULKPATCH_NOTIFY_URL",
    metavar="URL",
    help="POST the summary here at the end (not kept in the journal: it is a secret).",
)
@click.option(
    "--rate-store",
    metavar="redis://HOST:PORT/DB",
    help="The Redis that shares the --rate, instead of the run's own (a moved store, or a "
    "corrected user or password).",
)
@output_options
def resume_command_(run_dir: Path, **kwargs: Any) -> None:
    """Continue an interrupted or crashed run from RUN_DIR's journal.

    Rows that finished keep their outcome; rows sent without an answer are read back and sent
    again only if the campaign does not hold the change yet; campaigns the run paused are
    resumed; the rest of the sheet is applied. The run reads its own copy of the sheet (kept in
    RUN_DIR when it started); the original file may have changed or gone. The reports are
    rewritten for the whole sheet.

    \b
    Exit codes: as for `bulkpatch run`.
    """
    windows = window_values(kwargs)
    with cli.loading():
        # start-up cost: the engine and its libraries load only when the command runs
        from bulkpatch.cli.running import resume_run

    resume_run(run_dir, kwargs, windows)
