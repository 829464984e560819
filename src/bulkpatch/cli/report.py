"""``bulkpatch report RUN_DIR``: rebuild a run's report.html and CSV files from its journal."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from bulkpatch.cli.display import next_step_lines
from bulkpatch.cli.exits import guarded
from bulkpatch.cli.group import cli
from bulkpatch.core.outcomes import Outcome
from bulkpatch.ops.report import Rebuilt, rebuild_reports


def report_lines(rebuilt: Rebuilt) -> list[str]:
    """What ``bulkpatch report`` says: what it wrote, the rows' outcomes, what to do next."""
    names = ", ".join(p.name for p in rebuilt.written)
    counts = ", ".join(
        f"{o.value} {rebuilt.outcomes[o.value]:,}" for o in Outcome if rebuilt.outcomes.get(o.value)
    )
    lines = [
        f"rebuilt in {rebuilt.run_dir} from journal.jsonl and {rebuilt.sheet_copy.name}: {names}",
        f"{rebuilt.rows:,} rows: {counts or 'none'}",
    ]
    if not rebuilt.finished:
        lines.append(
            "the run's last session has no end (it crashed or was killed)"
            + (
                f": {rebuilt.no_outcome:,} row(s) have no outcome in the journal and are "
                "not_attempted in results.csv"
                if rebuilt.no_outcome
                else ""
            )
        )
    if rebuilt.paused:
        lines.append(
            f"{len(rebuilt.paused):,} campaign(s) the run paused were not resumed: it may have "
            f"LEFT THEM PAUSED; `bulkpatch resume {rebuilt.run_dir}` resumes them"
        )
    lines += next_step_lines(rebuilt.next_steps)
    lines.append(
        "summary.json is as the run wrote it (its request counts and latencies were measured by "
        "the run; the journal does not hold them whole)"
        if rebuilt.summary_kept
        else "no summary.json: the run did not get to write it, and it cannot be rebuilt from "
        "the journal"
    )
    return lines


@cli.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option(
    "--json",
    "json_out",
    is_flag=True,
    help="Print what was rebuilt as JSON on stdout (instead of the lines on stderr).",
)
def report_command(run_dir: Path, quiet: bool, json_out: bool) -> None:
    """Rebuild a run's report.html and CSV files from its journal.

    Writes report.html, results.csv (results.parquet too for a Parquet sheet) and the retry
    file (retry.csv, ...) again, from RUN_DIR's journal.jsonl and its own copy of the sheet --
    also for a run that crashed before it wrote them: a row with no outcome in the journal is
    `not_attempted`. summary.json is left as the run wrote it. Nothing is sent; no key is
    needed. Every file is written whole or not at all, readable by its owner only.

    \b
    Exit codes: 0 rebuilt; 2 not a run directory, an unreadable journal, a missing or
                changed copy of the sheet, or a run working in RUN_DIR; 70 internal error.

    \b
    Example:
      bulkpatch report reports/mass-schedule-change-20261201T031528Z
    """
    err = Console(stderr=True)

    def body() -> int:
        rebuilt = rebuild_reports(run_dir)
        if json_out:
            sys.stdout.write(json.dumps(rebuilt.as_dict(), indent=2) + "\n")
        if not quiet and not json_out:
            for line in report_lines(rebuilt):
                err.print(line, highlight=False, markup=False, soft_wrap=True)
        return 0

    sys.exit(guarded(body, err))
