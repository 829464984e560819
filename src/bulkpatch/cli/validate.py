"""``bulkpatch validate SHEET``: read and check every row offline, print every problem."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import click
from rich.console import Console
from rich.markup import escape

from bulkpatch.cli.exits import guarded
from bulkpatch.cli.group import cli
from bulkpatch.core.outcomes import ExitCode
from bulkpatch.core.rows import Problem
from bulkpatch.core.text import printable
from bulkpatch.ops.validate import SheetCheck, validate_sheet

#: A (column, rule) shared by at least this many rows is printed once, as a group.
GROUP_AT = 5
#: Rows named per group line.
ROWS_PER_GROUP = 8
#: Groups printed at most.
MAX_GROUPS = 30
#: Seconds between progress lines when stderr is not a terminal.
PLAIN_PROGRESS_EVERY = 10.0

_HELP = """Read and check every row of SHEET offline; print every problem, then a summary.

Nothing is sent: no network, no key. Exit 0 when every row is valid, 2 when the sheet has a
problem or cannot be read.

\b
SHEET is a CSV file (UTF-8, comma-separated, a header row), a Parquet
file or an Excel workbook (.xlsx: the first worksheet, or --sheet-name),
chosen by its extension (.csv, .parquet, .xlsx) or by --format. Row
numbers are data rows (row 1 is the first under the header); in an .xlsx
they are Excel's own (the header is row 1).

\b
Columns:
  campaign_id                  required; which campaign the row changes
  org_id, workspace_id         required unless --org / --workspace give them
                               (ids: 1-128 letters, digits, - or _)
  name, description, end_timestamp,
  allowed_schedule.allowed_start_time, .allowed_end_time,
  allowed_schedule.allowed_days, allowed_schedule.timezone,
  app_config.app_version, app_config.attempts_per_second,
  app_config.connection_configs, app_config.retry_config.max_retries,
  app_config.webhook_config.url, ...
                               change columns: a dotted path into the
                               Update Campaign body; an empty cell means
                               "leave this field as it is"
  allowed_schedule, app_config, app_config.retry_config, ...
                               a whole object as JSON text; only the keys
                               given change, the others are kept
  expect.status, expect.<path> a guard: the row is applied only if the
                               campaign's current value equals it
  #..., _...                   notes: ignored (and kept in retry.csv)

\b
Values: numbers and true/false as text; lists and objects as JSON
(["Monday"], {"max_retries": 3}); allowed_days also as Mon,Tue or
monday; tuesday or Mon-Sat; end_timestamp as ISO 8601 with a time zone
(2025-01-31T18:00:00+05:30).

Every column, cell format and validation rule: docs/sheet.md.
"""


@dataclass(frozen=True, slots=True)
class _Line:
    text: str
    style: str = ""


def _shown(problem: Problem) -> str:
    column = f"{problem.column}" if problem.column else ""
    value = f' = "{problem.value}"' if problem.value else ""
    if column or value:
        return f"{column}{value}: {problem.rule}"
    return problem.rule


def report_lines(check: SheetCheck, *, limit: int = 100) -> Iterator[_Line]:
    """The problems of a checked sheet, grouped and capped, as styled lines (no summary)."""
    if check.header_problems:
        yield _Line("Sheet problems:", "bold red")
        for problem in check.header_problems:
            if problem.column.startswith("--"):  # an option's value, not a column
                yield _Line(f'  {problem.column} "{problem.value}": {problem.rule}')
            else:
                yield _Line(f"  {problem.rule}")
        yield _Line("")
    if not check.problems:
        return
    groups: dict[tuple[str, str], list[Problem]] = {}
    for problem in check.problems:
        groups.setdefault((problem.column, problem.rule), []).append(problem)
    shared = {key for key, members in groups.items() if len(members) >= GROUP_AT}
    single = [p for p in check.problems if (p.column, p.rule) not in shared]
    unlimited = limit <= 0
    if single:
        yield _Line("Problems by row:", "bold")
        last_row = -1
        for printed, problem in enumerate(single):
            if not unlimited and printed >= limit:
                rest = len(single) - printed
                rows_left = len({p.row for p in single[printed:]})
                yield _Line(
                    f"  … and {rest:,} more problem{'s' if rest != 1 else ''} in "
                    f"{rows_left:,} row{'s' if rows_left != 1 else ''} "
                    "(--limit 0 prints them all)",
                    "yellow",
                )
                break
            if problem.row != last_row:
                yield _Line(f"  row {problem.row}", "bold cyan")
                last_row = problem.row
            yield _Line(f"    {_shown(problem)}")
        yield _Line("")
    if shared:
        yield _Line("Problems shared by many rows:", "bold")
        ordered = sorted(shared, key=lambda key: groups[key][0].row)
        for index, key in enumerate(ordered):
            if not unlimited and index >= MAX_GROUPS:
                yield _Line(f"  … and {len(ordered) - index:,} more groups", "yellow")
                break
            column, rule = key
            members = groups[key]
            rows = sorted({p.row for p in members})
            yield _Line(f"  {column + ': ' if column else ''}{rule}", "cyan")
            count = ROWS_PER_GROUP if not unlimited else len(rows)
            named = ", ".join(str(r) for r in rows[:count])
            more = f" and {len(rows) - count:,} more" if len(rows) > count else ""
            examples = list(dict.fromkeys(p.value for p in members if p.value))[:3]
            sample = ""
            if examples:
                sample = "; for example " + ", ".join(f'"{v}"' for v in examples)
            yield _Line(f"    {len(rows):,} rows: {named}{more}{sample}")
        yield _Line("")


class _Progress:
    """Rows checked so far, on stderr: a live line on a terminal, else a line every 10 s."""

    def __init__(self, err: Console, *, quiet: bool) -> None:
        self.err = err
        self.quiet = quiet
        self.started = time.monotonic()
        self.last_plain = self.started
        self.status: object | None = None

    def __call__(self, rows: int) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        rate = rows / max(now - self.started, 1e-9)
        text = f"checked {rows:,} rows ({rate:,.0f} rows/s)"
        if self.err.is_terminal:
            if self.status is None:
                status = self.err.status(text)
                status.start()
                self.status = status
            else:
                self.status.update(text)  # type: ignore[attr-defined]
        elif now - self.last_plain >= PLAIN_PROGRESS_EVERY:
            self.last_plain = now
            self.err.print(f"validate: {text}", highlight=False, markup=False)

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()  # type: ignore[attr-defined]
            self.status = None


def _consoles() -> tuple[Console, Console]:
    out = Console(file=sys.stdout, soft_wrap=True, highlight=False)
    err = Console(file=sys.stderr, soft_wrap=True, highlight=False)
    return out, err


def _print(console: Console, line: _Line) -> None:
    # Sheet text is data: control characters dropped, markup characters escaped.
    text = escape(printable(line.text))
    console.print(f"[{line.style}]{text}[/]" if line.style else text)


@cli.command("validate", help=_HELP, short_help="Check every row of a sheet offline.")
@click.argument("sheet", type=click.Path(path_type=Path))
@click.option("--org", metavar="ORG", help="org_id for rows without one (no column, or empty).")
@click.option(
    "--workspace",
    metavar="WS",
    help="workspace_id for rows without one (no column, or empty).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "xlsx"]),
    help="Sheet format (default: from the file extension).",
)
@click.option(
    "--sheet-name",
    metavar="NAME",
    help="The worksheet of an .xlsx workbook to read (default: the first).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Most problems printed row by row (0: no limit); the summary always counts them all.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress; problems and the summary only.")
@click.option(
    "--json",
    "json_out",
    is_flag=True,
    help='Print one JSON object on stdout instead: {"ok", "rows", "problems": [{"row", '
    '"column", "message"}], "exit_code"} (row null: the sheet as a whole); no progress.',
)
def validate_command(
    sheet: Path,
    org: str | None,
    workspace: str | None,
    fmt: Literal["csv", "parquet", "xlsx"] | None,
    sheet_name: str | None,
    limit: int,
    quiet: bool,
    json_out: bool,
) -> None:
    out, err = _consoles()
    quiet = quiet or json_out

    def action() -> int:
        def opened(name: str | None) -> None:
            if name is not None and not quiet:
                err.print(
                    f"validate: reading worksheet `{printable(name)}` of {sheet}",
                    highlight=False,
                    markup=False,
                )

        progress = _Progress(err, quiet=quiet)
        try:
            check = validate_sheet(
                sheet,
                fmt=fmt,
                sheet_name=sheet_name,
                org=org,
                workspace=workspace,
                on_open=opened,
                progress=progress,
            )
        finally:
            progress.stop()
        code = int(ExitCode.OK if check.ok else ExitCode.USAGE)
        if json_out:
            _print_json(check_json(check, code))
            return code
        for line in report_lines(check, limit=limit):
            _print(out, line)
        style = "bold green" if check.ok else "bold red"
        _print(out, _Line(check.summary(), style))
        return code

    def failed(code: int, message: str, problems: Sequence[str]) -> None:
        listed = [{"row": None, "column": None, "message": m} for m in (message, *problems)]
        _print_json({"ok": False, "rows": 0, "problems": listed, "exit_code": code})

    raise SystemExit(guarded(action, err, as_json=failed if json_out else None))


def check_json(check: SheetCheck, code: int) -> dict[str, Any]:
    """``validate --json``'s object: every problem (none capped), the sheet's own first."""
    problems: list[dict[str, Any]] = [_problem_json(None, p) for p in check.header_problems]
    problems += [_problem_json(p.row, p) for p in check.problems]
    return {"ok": check.ok, "rows": check.rows, "problems": problems, "exit_code": code}


def _problem_json(row: int | None, problem: Problem) -> dict[str, Any]:
    value = f'"{problem.value}": ' if problem.value else ""
    message = printable(f"{value}{problem.rule}")
    return {"row": row, "column": problem.column or None, "message": message}


def _print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()
