"""``bulkpatch verify RUN_DIR`` and ``bulkpatch undo RUN_DIR``: after a run, look and go back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bulkpatch.cli.group import cli
from bulkpatch.cli.readdisplay import make_display, requests_line
from bulkpatch.cli.running import _display, _execute, _overrides
from bulkpatch.cli.runoptions import (
    key_options,
    output_options,
    pace_options,
    window_options,
    window_values,
)
from bulkpatch.core.events import EventSink
from bulkpatch.core.stopper import Stopper
from bulkpatch.core.summary import RunSummary
from bulkpatch.ops.undo import undo_run_async
from bulkpatch.ops.verify import VERDICTS, verify_run_async

RUN_DIR = click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
SIMULATE = click.option(
    "--simulate",
    is_flag=True,
    help="For a --simulate run: against a simulator started from the campaigns the run's "
    "simulator ended with (RUN_DIR/simulator-state.json). No key, no network.",
)


def _verify_closing(summary: RunSummary) -> list[str]:
    data = summary.data
    verdicts = data.get("verdicts") or {}
    shown = ", ".join(f"{v} {verdicts.get(v, 0):,}" for v in VERDICTS)
    lines = [f"verified {data.get('rows', 0):,} rows: {shown}", requests_line(data)]
    if data.get("stop_reason"):
        lines.append(f"stopped: {data['stop_reason']}")
    lines.append(f"per row: {data.get('report')}")
    return lines


@cli.command("verify")
@RUN_DIR
@SIMULATE
@pace_options(resuming=True)
@key_options
@output_options
def verify_command(run_dir: Path, **kwargs: Any) -> None:
    """Read back every campaign RUN_DIR's run updated or left unchanged: does it still hold
    what the run set?

    Each row gets a verdict in RUN_DIR/verify.csv: `holds`; `drifted` (with `field: expected
    -> now` for each difference); `gone` (the campaign no longer exists); `unknown` (it could
    not be read). GET only, at the run's rate unless --rate says otherwise. For a nightly job:
    did last night's change stick?

    \b
    Exit codes: 0 every row holds; 1 some drifted, are gone or could not be read;
                2 not a run directory, or --simulate not as the run ran; 3 stopped
                (refused key, outage, Ctrl-C; rows not read are `unknown`); 70 internal error.
    """
    simulate = kwargs.pop("simulate")
    display, err = make_display(kwargs, label="verifying", closing=_verify_closing)
    overrides = _overrides(kwargs)

    async def call(stopper: Stopper, sink: EventSink) -> RunSummary:
        return await verify_run_async(
            run_dir, overrides=overrides, on_event=sink, stopper=stopper, simulate=simulate
        )

    _execute(call, display, err)  # type: ignore[arg-type]


@cli.command("undo")
@RUN_DIR
@click.option(
    "--plan-only",
    is_flag=True,
    help="Write undo.csv and show what it would do (GET only); send no change.",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the undo's run directory is made [default: the run's own report directory].",
)
@SIMULATE
@pace_options(resuming=True)
@window_options(calling=False, resuming=True)
@key_options
@output_options
def undo_command(run_dir: Path, **kwargs: Any) -> None:
    """Put back what RUN_DIR's run changed, unless someone changed it since.

    Builds RUN_DIR/undo.csv from the journal: for every row the run updated, the fields it
    changed set back to their values before the run, guarded by `expect.` columns holding what
    the run wrote and `expect.updated_at` the campaign's stamp after the run, so a campaign
    anyone changed since is `skipped` as stale, never overwritten. Then runs it as a normal run
    with the run's own options (its own run directory; `--pause-active` runs pause, restore and
    resume again). Works after `resume`; undoing an undo is a normal undo. A field that was
    empty before the run cannot be emptied again and is named. A --no-read run kept no
    before-values: undo refuses it.

    \b
    Exit codes: as for `bulkpatch run` (of the undo run); 2 also when the run cannot be
                undone (--no-read, not finished: resume it first, --simulate not as the
                run ran). With --simulate the simulator's campaigns are written back to
                RUN_DIR/simulator-state.json after the undo.
    """
    report_dir = kwargs.pop("report_dir")
    plan_only = kwargs.pop("plan_only")
    simulate = kwargs.pop("simulate")
    windows = window_values(kwargs)
    display, err = _display(kwargs)
    overrides = {**_overrides(kwargs), **windows}
    if report_dir is not None:
        overrides["report_dir"] = report_dir

    async def call(stopper: Stopper, sink: EventSink) -> RunSummary:
        return await undo_run_async(
            run_dir,
            plan_only=plan_only,
            overrides=overrides,
            on_event=sink,
            stopper=stopper,
            simulate=simulate,
        )

    _execute(call, display, err)
