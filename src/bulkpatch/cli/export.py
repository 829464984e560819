"""``bulkpatch export``: the live campaigns to a sheet you can edit and feed back to ``run``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from bulkpatch.cli.group import cli
from bulkpatch.cli.readdisplay import make_display, requests_line
from bulkpatch.cli.running import _execute, _options, _pace
from bulkpatch.cli.runoptions import key_options, output_options, pace_options
from bulkpatch.core.events import EventSink
from bulkpatch.core.options import RunOptions
from bulkpatch.core.stopper import Stopper
from bulkpatch.core.summary import RunSummary, command
from bulkpatch.core.urls import DEFAULT_BASE_URL
from bulkpatch.ops.export import DEFAULT_COLUMNS, SIMULATED_CAMPAIGNS, STATUSES, where_conditions
from bulkpatch.ops.export import export_campaigns_async as export_async


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _closing(summary: RunSummary, options: RunOptions | None) -> list[str]:
    data = summary.data
    counts = data.get("counts") or {}
    lines = []
    if data.get("written"):
        lines.append(
            f"exported {counts.get('exported', 0):,} campaigns to {data.get('sheet')} "
            f"(listed {counts.get('listed', 0):,}; left out by --status/--where "
            f"{counts.get('filtered_out', 0):,}; gone {counts.get('gone', 0):,}; could not be "
            f"read {counts.get('unreadable', 0):,})"
        )
        # The sheet has its org and workspace columns: only which API and which key go on.
        reach = replace(options, org=None, workspace=None) if options is not None else None
        plan = command("plan", data.get("sheet"), "--out", "PLAN_DIR", options=reach)
        lines.append(f"edit it, then: {plan}")
    lines.append(requests_line(data))
    return lines


@cli.command("export")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--org", required=True, metavar="ORG", help="The org whose campaigns to export.")
@click.option("--workspace", required=True, metavar="WS", help="The workspace to export.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    metavar="STATUS[,STATUS]",
    help=f"Only campaigns with these statuses ({', '.join(STATUSES)}); repeatable.",
)
@click.option("--search", metavar="TEXT", help="Only campaigns the API finds for TEXT.")
@click.option(
    "--where",
    "where",
    multiple=True,
    metavar="EXPR",
    help="Only campaigns whose detail matches PATH OP VALUE, OP one of = != < <= > >= ~ !~ "
    "(e.g. allowed_schedule.timezone=Asia/Kolkata, app_config.app_version<7, name~^Diwali); "
    "repeatable, all must hold.",
)
@click.option(
    "--columns",
    multiple=True,
    metavar="COL[,COL]",
    help=f"The change columns to write [default: {','.join(DEFAULT_COLUMNS)}].",
)
@click.option(
    "--base-url",
    envvar="BULKPATCH_BASE_URL",
    default=DEFAULT_BASE_URL,
    show_default=True,
    metavar="URL",
    help="The Scheduling API (env BULKPATCH_BASE_URL).",
)
@click.option(
    "--simulate",
    is_flag=True,
    help=f"Export from the embedded simulator holding {SIMULATED_CAMPAIGNS} generated campaigns "
    "in ORG/WS (what `bulkpatch simulate` serves); the sheet then runs with `run --simulate`.",
)
@pace_options(resuming=False)
@click.option("--seed", type=int, default=0, hidden=True, help="Seed of the --simulate campaigns.")
@key_options
@output_options
def export_command(out: Path, **kwargs: Any) -> None:
    """Write the live campaigns of a workspace to OUT (.csv, .parquet or .xlsx).

    One row per campaign: its keys; the change columns holding its current values, written so
    that bulkpatch reads them back exactly (run the untouched sheet and every row is
    `unchanged`); `expect.updated_at` and an `expect.` copy of each column, so that a campaign
    someone changes before the edited sheet runs is `skipped` as stale, never overwritten.
    Edit the cells to change, then `plan` and `run` the sheet. The list is paged (its
    next_page_uri is followed only on the API itself) and each campaign is read at --rate, with
    the run's retries. An .xlsx export holds at most 1,048,575 campaigns.

    \b
    Exit codes: 0 written, every campaign read; 1 written, but some campaigns could not be
                read (named, left out); 2 usage error (nothing sent); 3 stopped (refused key,
                outage, list unreadable, Ctrl-C): nothing written; 70 internal error.

    \b
    Example:
      bulkpatch export live.csv --org org-a --workspace ws-1 --status paused,scheduled \\
          --where allowed_schedule.timezone=Asia/Kolkata --columns allowed_schedule
    """
    used: list[RunOptions] = []
    display, err = make_display(
        kwargs, label="exporting", closing=lambda s: _closing(s, used[0] if used else None)
    )
    pace = _pace(kwargs)
    org, workspace = kwargs.pop("org"), kwargs.pop("workspace")
    statuses = _split(kwargs.pop("statuses"))
    columns = _split(kwargs.pop("columns")) or None
    search = kwargs.pop("search")
    try:
        where = where_conditions(kwargs.pop("where"))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    async def call(stopper: Stopper, sink: EventSink) -> RunSummary:
        used.append(_options(kwargs, pace, sink))
        return await export_async(
            out,
            org=org,
            workspace=workspace,
            statuses=statuses,
            search=search,
            where=where,
            columns=columns,
            options=used[0],
            on_event=sink,
            stopper=stopper,
        )

    _execute(call, display, err)  # type: ignore[arg-type]
