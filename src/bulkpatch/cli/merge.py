"""``bulkpatch merge RUN_DIR... --out DIR``: the shards of one sheet, as one run's reports."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bulkpatch.cli.exits import guarded
from bulkpatch.cli.group import cli
from bulkpatch.core.outcomes import Outcome
from bulkpatch.ops.merge import merge_run_dirs


@cli.command("merge")
@click.argument(
    "run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the merged results.csv, retry.csv and summary.json go.",
)
@click.option("--json", "json_out", is_flag=True, help="Print the merged summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print only problems.")
def merge_command(run_dirs: tuple[Path, ...], out: Path, json_out: bool, quiet: bool) -> None:
    """Combine the run directories of one sheet's shards (`run --shard K/N`) into one
    results.csv (sheet order), retry.csv and summary.json in --out.

    Directories from different sheets, split differently (another N), or two for the same
    shard, are refused, and so is an --out inside one of them. A missing shard's rows are
    reported not_attempted and the merge exits 3. Each shard is resumed on its own
    (`bulkpatch resume RUN_DIR`) before merging again.

    \b
    Exit codes: 0 every row updated or unchanged; 1 some rows were not; 2 usage error;
                3 not complete: a shard is missing, was aborted or left a campaign paused.
    """
    err = Console(stderr=True)
    out_console = Console(soft_wrap=True)

    def body() -> int:
        data, warnings = merge_run_dirs(list(run_dirs), out)
        for warning in warnings:
            err.print(Text(warning, style="yellow"))
        if json_out:
            out_console.print_json(json.dumps(data, default=str))
        elif not quiet:
            table = Table(title=f"bulkpatch merge ({len(run_dirs)} run directories)")
            table.add_column("outcome")
            table.add_column("rows", justify="right")
            for outcome in Outcome:
                n = data["outcomes"].get(outcome.value, 0)
                if n:
                    table.add_row(outcome.value, f"{n:,}")
            table.add_row(Text("total", style="bold"), f"{data['rows']:,}")
            err.print(table)
            for step in data["next_steps"]:
                line = f"{step['rows']:,} {step['outcome']}: {step['reason']} — {step['advice']}"
                if step["command"]:
                    line += f" with `{step['command']}`"
                if step["note"]:
                    line += f" ({step['note']})"
                err.print(Text(line), soft_wrap=True)
        err.print(f"merged reports in {out}", highlight=False, markup=False)
        return int(data["exit_code"])

    sys.exit(guarded(body, err))
