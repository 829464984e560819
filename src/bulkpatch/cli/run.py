"""``bulkpatch plan``, ``bulkpatch run`` and ``bulkpatch resume``."""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click
from rich.console import Console

from bulkpatch.cli import cli
from bulkpatch.journal import read_journal
from bulkpatch.outcomes import ExitCode
from bulkpatch.runner import (
    DEFAULT_KEY_ENV,
    Mode,
    Runner,
    Settings,
    UsageError,
    settings_from_journal,
)
from bulkpatch.urls import DEFAULT_BASE_URL

F = TypeVar("F", bound=Callable[..., Any])


class RateType(click.ParamType):  # type: ignore[type-arg]
    """A positive number of requests per second, or ``unlimited`` (also 0)."""

    name = "RATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, float):
            return value
        text = str(value).strip().lower()
        if text == "unlimited":
            return math.inf
        try:
            rate = float(text)
        except ValueError:
            self.fail(f"{value!r} is not a number of requests per second (or 'unlimited')")
        if rate <= 0 or math.isnan(rate):
            self.fail("the rate must be above 0; for no limit at all, say 'unlimited'")
        return rate


def key_options(func: F) -> F:
    func = click.option(
        "--api-key-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read the API key from this file (first line). Keep it mode 0600.",
    )(func)
    func = click.option(
        "--api-key-env",
        default=DEFAULT_KEY_ENV,
        show_default=True,
        metavar="NAME",
        help="Read the API key from this environment variable. There is no flag for the key "
        "itself: command lines end up in shell history and process lists.",
    )(func)
    return func


def output_options(func: F) -> F:
    func = click.option(
        "--json",
        "json_out",
        is_flag=True,
        help="Print the summary as JSON on stdout; everything else goes to stderr.",
    )(func)
    func = click.option("--quiet", "-q", is_flag=True, help="No progress, no summary table.")(func)
    return func


def pace_options(*, resuming: bool) -> Callable[[F], F]:
    """How hard to push the API.  ``resume`` takes them too, defaulting to the run's own."""

    def default(value: Any) -> Any:
        return None if resuming else value

    def show(help_text: str) -> str:
        return help_text + (" Default: as the run had it." if resuming else "")

    def decorate(func: F) -> F:
        options = [
            click.option(
                "--rate",
                type=RateType(),
                default=default("10"),
                show_default=not resuming,
                help=show(
                    "Most HTTP requests per second, every kind together (GET, PATCH, PUT, "
                    "retries). 'unlimited' for no limit."
                ),
            ),
            click.option(
                "--concurrency",
                type=click.IntRange(1, 1000),
                default=default(8),
                show_default=not resuming,
                help=show("Most requests in flight (the number of workers)."),
            ),
            click.option(
                "--max-attempts",
                type=click.IntRange(1, 100),
                default=default(5),
                show_default=not resuming,
                help=show("Tries per request before a row is `failed`."),
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(0.1, 600),
                default=default(30.0),
                show_default=not resuming,
                help=show("Seconds per request."),
            ),
            click.option(
                "--max-outage",
                type=click.FloatRange(1, 86400),
                default=default(600.0),
                show_default=not resuming,
                help=show(
                    "Seconds the API may fail as a whole before the run stops (exit 3, resumable)."
                ),
            ),
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def common_options(func: F) -> F:
    options = [
        click.option("--org", metavar="ORG", help="org_id for rows without an org_id column."),
        click.option(
            "--workspace", metavar="WS", help="workspace_id for rows without a workspace_id column."
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["csv", "parquet"]),
            help="Sheet format (default: from the file extension).",
        ),
        click.option(
            "--base-url",
            envvar="BULKPATCH_BASE_URL",
            default=DEFAULT_BASE_URL,
            show_default=True,
            metavar="URL",
            help="The Scheduling API (env BULKPATCH_BASE_URL). https:// only, except "
            "for a loopback host.",
        ),
        click.option(
            "--simulate",
            is_flag=True,
            help="Run against the embedded simulator, started here on a free loopback port and "
            "seeded with the sheet's campaigns. No key, no network.",
        ),
        pace_options(resuming=False),
        click.option(
            "--report-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path("reports"),
            show_default=True,
            help="Where the run directory is made.",
        ),
        click.option(
            "--seed", type=int, default=0, hidden=True, help="Seed of the --simulate population."
        ),
        key_options,
        output_options,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _execute(runner_factory: Callable[[], Runner], run_dir: Path | None = None) -> None:
    runner = runner_factory()
    try:
        code = anyio.run(functools.partial(runner.execute, run_dir))
    except UsageError as exc:
        runner.console.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(int(ExitCode.USAGE))
    except KeyboardInterrupt:
        sys.exit(int(ExitCode.ABORTED))
    sys.exit(code)


def _settings(sheet: Path, kwargs: dict[str, Any]) -> Settings:
    rate = kwargs.pop("rate")
    return Settings(sheet=sheet, rate=None if rate == math.inf else rate, **kwargs)


def _make_runner(settings: Settings, mode: Mode) -> Runner:
    stderr = Console(stderr=True)
    stdout = Console(soft_wrap=True)
    return Runner(settings, mode, console=stderr, out=stdout)


SHEET = click.argument("sheet", type=click.Path(dir_okay=False, path_type=Path))


@cli.command("run")
@SHEET
@common_options
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
def run_command(sheet: Path, **kwargs: Any) -> None:
    """Apply SHEET to the Scheduling API.

    Every row is validated first; an invalid sheet sends nothing (exit 2). Then each row's
    campaign is read, the row's changes are merged into it, and the campaign is updated only if
    something differs and its status allows it. Results go to a run directory under
    --report-dir: results.csv, retry.csv (the rows to fix and feed back), summary.json and the
    journal that `bulkpatch resume` continues from.

    \b
    Exit codes: 0 every row updated or unchanged; 1 some rows were not;
                2 usage error or invalid sheet (nothing sent); 3 aborted, resumable.

    \b
    Examples:
      bulkpatch run input_examples/mass-schedule-change.csv --simulate
      SARVAM_API_KEY=... bulkpatch run changes.csv --rate 20 --concurrency 8
    """
    settings = _settings(sheet, kwargs)
    _execute(lambda: _make_runner(settings, "run"))


@cli.command("plan")
@SHEET
@common_options
@click.option("--pause-active", is_flag=True, help="Preview as `run --pause-active` would act.")
def plan_command(sheet: Path, **kwargs: Any) -> None:
    """Preview SHEET: read every campaign, show what would change, send nothing.

    Writes plan.csv (per row: the outcome it would get and `field: old -> new`) in a run
    directory under --report-dir. Only GET requests are made.
    """
    settings = _settings(sheet, kwargs)
    _execute(lambda: _make_runner(settings, "plan"))


@cli.command("resume")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@pace_options(resuming=True)
@key_options
@output_options
def resume_command(run_dir: Path, **kwargs: Any) -> None:
    """Continue an interrupted or crashed run from RUN_DIR's journal.

    Rows that finished keep their outcome; rows sent without an answer are read back and sent
    again only if the campaign does not hold the change yet; campaigns the run paused are
    resumed; the rest of the sheet is applied. The reports are rewritten for the whole sheet.
    The sheet must be unchanged (its sha256 is checked).
    """
    console = Console(stderr=True)
    journal_path = run_dir / "journal.jsonl"
    if not journal_path.is_file():
        console.print(f"error: {run_dir} has no journal.jsonl; is it a run directory?")
        sys.exit(int(ExitCode.USAGE))
    state = read_journal(journal_path)
    if state.start is None:
        console.print(f"error: {journal_path} has no start record; it cannot be resumed")
        sys.exit(int(ExitCode.USAGE))
    overrides: dict[str, Any] = {"quiet": kwargs["quiet"], "json_out": kwargs["json_out"]}
    for name in ("concurrency", "max_attempts", "timeout", "max_outage"):
        if kwargs[name] is not None:
            overrides[name] = kwargs[name]
    if kwargs["rate"] is not None:
        overrides["rate"] = None if kwargs["rate"] == math.inf else kwargs["rate"]
    if kwargs.get("api_key_file") is not None:
        overrides["api_key_file"] = kwargs["api_key_file"]
    elif kwargs.get("api_key_env") != DEFAULT_KEY_ENV:
        overrides["api_key_env"] = kwargs["api_key_env"]
        overrides["api_key_file"] = None
    settings = settings_from_journal(state.start, **overrides)
    if settings.simulate:
        console.print(
            "error: this run used --simulate; the in-process simulator ended with it, so there "
            "is nothing to resume against. Start a new run instead."
        )
        sys.exit(int(ExitCode.USAGE))
    _execute(lambda: _make_runner(settings, "resume"), run_dir)
