"""``bulkpatch plan``, ``bulkpatch run`` and ``bulkpatch resume``: the library calls, shown.

This module parses options, builds :class:`~bulkpatch.core.options.RunOptions`, runs the library
call with a display sink, turns SIGINT / SIGTERM into a graceful stop (a second one exits at once),
and exits with the code of :mod:`bulkpatch.cli.exits`.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click
from rich.console import Console

from bulkpatch.cli.approval import (
    given_options,
    plan_out_option,
    run_plan,
    safeguard_options,
    take_safeguards,
)
from bulkpatch.cli.display import ConsoleDisplay, JsonLog, resume_command
from bulkpatch.cli.exits import guarded
from bulkpatch.cli.group import cli
from bulkpatch.cli.readdisplay import pick_display
from bulkpatch.cli.runoptions import (
    common_options,
    key_options,
    output_options,
    pace_options,
    window_options,
    window_values,
)
from bulkpatch.core.events import EventSink, Notice
from bulkpatch.core.loop import run as run_loop
from bulkpatch.core.options import DEFAULT_KEY_ENV, RunOptions
from bulkpatch.core.outcomes import ExitCode
from bulkpatch.core.shards import chosen_shard
from bulkpatch.core.stopper import Stopper
from bulkpatch.core.summary import RunSummary
from bulkpatch.ops.apply import (
    apply_sheet_async,
    continue_sheet_async,
    plan_sheet_async,
    resume_run_async,
)
from bulkpatch.ops.deliver import deliver_failure
from bulkpatch.ops.plan import plan_to_dir_async

F = TypeVar("F", bound=Callable[..., Any])


def _scale(kwargs: dict[str, Any]) -> None:
    """--shards N with JOB_COMPLETION_INDEX -> --shard K/N."""
    shard = chosen_shard(kwargs.get("shard"), kwargs.pop("shards", None), os.environ)
    if shard is not None:
        kwargs["shard"] = str(shard)


def _pace(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The pacing options the user gave (None: not given)."""
    out: dict[str, Any] = {}
    rate = kwargs.pop("rate")
    if rate is not None:
        out["rate"] = None if rate == math.inf else rate
    for name in ("concurrency", "max_attempts", "timeout", "max_outage"):
        value = kwargs.pop(name)
        if value is not None:
            out[name] = value
    return out


def _overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pacing and key source given on the command line, over a run's own (resume, verify)."""
    overrides = _pace(kwargs)
    if kwargs.get("api_key_file") is not None:
        overrides["api_key_file"] = kwargs["api_key_file"]
    elif kwargs.get("api_key_env") != DEFAULT_KEY_ENV:
        overrides["api_key_env"] = kwargs["api_key_env"]
        overrides["api_key_file"] = None
    return overrides


def _display(kwargs: dict[str, Any]) -> tuple[ConsoleDisplay | JsonLog, Console]:
    return pick_display(kwargs, ConsoleDisplay)


def _told(kwargs: dict[str, Any]) -> RunOptions:
    """Where the command's ending is told (--notify-url, --pushgateway), from its options."""
    return RunOptions(
        notify_url=kwargs.get("notify_url"),
        notify_format=kwargs.get("notify_format") or "json",
        pushgateway=kwargs.get("pushgateway"),
        metrics_job=kwargs.get("metrics_job") or "bulkpatch",
        shard=kwargs.get("shard"),
    )


def _execute(
    call: Callable[[Stopper, EventSink], Awaitable[RunSummary]],
    display: ConsoleDisplay | JsonLog,
    err: Console,
    *,
    mode: str = "run",
    told: RunOptions | None = None,
) -> None:
    """Run a library call with signal handling; exit with the code of the exit map.  An
    ending the library call did not tell (--notify-url, --pushgateway) is told here."""
    stopper = Stopper()

    async def watch_signals() -> None:
        seen = 0
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                seen += 1
                name = signal.Signals(signum).name
                if seen == 1:
                    err.print(
                        f"{name}: stopping — finishing requests in flight, resuming paused "
                        "campaigns, writing reports. Press Ctrl-C again to exit at once (the "
                        "journal still allows resume).",
                        style="yellow",
                        highlight=False,
                        markup=False,
                    )
                    stopper.stop(f"interrupted by {name}")
                else:
                    stopper.flush()
                    where = display.run_dir
                    err.print(
                        "exiting at once"
                        + (f"; continue later with: {resume_command(where)}" if where else ""),
                        highlight=False,
                        markup=False,
                    )
                    os._exit(int(ExitCode.ABORTED))

    async def main() -> int:
        outcome: list[RunSummary | BaseException] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_signals)
            try:
                outcome.append(await call(stopper, display))
            except (Exception, KeyboardInterrupt) as exc:  # raised below, not grouped
                outcome.append(exc)
                if told is not None:
                    where = display.run_dir
                    await deliver_failure(exc, told, display, mode=mode, run_dir=where)
            finally:
                display.stop()
                tg.cancel_scope.cancel()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0].exit_code

    def run_then_hold_signals() -> int:
        code = run_loop(main)
        # The run is over and its reports are written: a Ctrl-C from here on (a second one,
        # arriving as the process ends) exits at once, as during the run.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: os._exit(int(ExitCode.ABORTED)))
        return code

    as_json = display.error if isinstance(display, JsonLog) else None
    sys.exit(guarded(run_then_hold_signals, err, as_json=as_json))


def _options(sheet_kwargs: dict[str, Any], pace: dict[str, Any], display: Any) -> RunOptions:
    _scale(sheet_kwargs)
    options = RunOptions(**sheet_kwargs, **pace)
    if options.simulate and "rate" not in pace:
        display(
            Notice(
                "info",
                f"simulated API: --rate {options.rate:g} unless you give one",
                "simulate_rate",
            )
        )
    return options


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
    display, err = _display(kwargs)
    pace = _pace(kwargs)
    told = _told(kwargs)

    if guards.plan_dir is not None and (continuing or windows):
        raise click.UsageError(
            "--plan applies one approved plan: run it without --continue and "
            "--window, then `bulkpatch resume` it"
        )

    async def call(stopper: Stopper, sink: EventSink) -> RunSummary:
        if guards.plan_dir is not None:
            _scale(kwargs)
            return await run_plan(guards, sheet, kwargs, pace, given, sink, stopper)
        assert sheet is not None
        options = replace(_options(kwargs, pace, sink), **guards.options(), **windows)
        if continuing:
            carried = {**pace, **{k: v for k, v in windows.items() if k != "outside_calling_hours"}}
            return await continue_sheet_async(
                sheet, options=options, overrides=carried, on_event=sink, stopper=stopper
            )
        return await apply_sheet_async(sheet, options=options, on_event=sink, stopper=stopper)

    _execute(call, display, err, mode="run", told=told)


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
    out = kwargs.pop("out")
    display, err = _display(kwargs)
    pace = _pace(kwargs)
    told = _told(kwargs)

    async def call(stopper: Stopper, sink: EventSink) -> RunSummary:
        options = _options(kwargs, pace, sink)
        if out is not None:
            return await plan_to_dir_async(
                sheet, out, options=options, on_event=sink, stopper=stopper
            )
        return await plan_sheet_async(sheet, options=options, on_event=sink, stopper=stopper)

    _execute(call, display, err, mode="plan", told=told)


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
    display, err = _display(kwargs)
    overrides = _overrides(kwargs)
    if kwargs.get("notify_url"):
        overrides["notify_url"] = kwargs["notify_url"]
    if kwargs.get("rate_store"):
        overrides["rate_store"] = kwargs["rate_store"]
    overrides.update(window_values(kwargs))

    async def call(stopper: Stopper, sink: EventSink) -> RunSummary:
        return await resume_run_async(run_dir, overrides=overrides, on_event=sink, stopper=stopper)

    _execute(call, display, err, mode="resume", told=_told(kwargs))
