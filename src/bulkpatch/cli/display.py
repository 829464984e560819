"""What a person (or a log collector) sees of a run: the event sinks of the command line.

:class:`ConsoleDisplay` shows a rich progress bar on a terminal (a plain line every 10 s
otherwise), notices as they come, and at the end a short table, the reasons grouped with what to
do next, and where the reports are.  :class:`~bulkpatch.cli.jsonlog.JsonLog` writes the same
events as JSON lines on stderr (``--log-format json``).  Everything goes to stderr except the
summary: with ``--json`` it is the only thing on stdout.

Off a terminal the display writes through :class:`~bulkpatch.cli.screen.PlainConsole`: rich loads
only to draw (a bar on a terminal, the tables at the end of a run that is not ``--quiet``).

Text that came from a sheet or the API is printed literally: rich markup is never built from it.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bulkpatch.cli.jsonlog import JsonLog
from bulkpatch.cli.screen import PlainConsole, open_console, say
from bulkpatch.core.events import (
    Event,
    Notice,
    Progress,
    RowFinished,
    RunFinished,
    RunStarted,
    WindowWait,
)
from bulkpatch.core.options import RunOptions
from bulkpatch.core.outcomes import ExitCode, Outcome
from bulkpatch.core.summary import NextStep, RunSummary, command, command_note, options_of
from bulkpatch.core.text import printable
from bulkpatch.core.windows import countdown

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as Bar
    from rich.progress import TaskID

    from bulkpatch.cli.screen import Screen


LINE_EVERY = 10.0
#: Rows of a plan shown on screen (all of them are in plan.csv).
PLAN_SHOWN = 50
_SHORT = {
    Outcome.UPDATED.value: "upd",
    Outcome.UNCHANGED.value: "same",
    Outcome.SKIPPED.value: "skip",
    Outcome.INVALID.value: "inv",
    Outcome.REJECTED.value: "rej",
    Outcome.FAILED.value: "fail",
    Outcome.NOT_ATTEMPTED.value: "n/a",
}
_NOTICE_STYLE = {"info": "", "warning": "yellow", "error": "red"}
#: The width the plan table is laid out in without a terminal: wide enough for any line.
UNWRAPPED_WIDTH = 100_000
#: Lines of next steps under the summary at most.
STEP_LINES = 8
_REPORT_FILES = ("report.html", "plan.html", "results.csv", "plan.csv")


def outcome_line(counts: Counter[str] | dict[str, int]) -> str:
    return " ".join(f"{_SHORT[o.value]} {counts[o.value]}" for o in Outcome if counts.get(o.value))


def rate_text(event: Progress) -> str:
    if event.breaker_open:
        return "paused: the API is failing, probing"
    target = f"{event.target_rate:.0f}/s" if event.target_rate is not None else "unlimited"
    return f"{event.achieved_rate:.1f} req/s (target {target})"


def resume_command(run_dir: Path, options: RunOptions | None = None) -> str:
    """``bulkpatch resume RUN_DIR``, with what the journal does not hold (a rate store's
    password, as a placeholder to fill)."""
    return command("resume", run_dir, options=options, reach="run_dir")


def resume_line(summary: RunSummary) -> str:
    """The run's resume command, and what to fill in before running it."""
    line = resume_command(summary.run_dir, options_of(summary.data.get("options")))
    note = command_note(line)
    return f"{line}\n({note})" if note else line


#: Campaigns named per earlier run at the end of a run (all of them are in summary.json).
EARLIER_NAMED = 5


def earlier_paused_lines(earlier: Mapping[str, str]) -> list[str]:
    """Per earlier run in the report directory: the campaigns it left paused, and its resume."""
    by_run: dict[str, list[str]] = {}
    for campaign, run_dir in earlier.items():
        by_run.setdefault(run_dir, []).append(campaign)
    lines = []
    for run_dir, campaigns in sorted(by_run.items()):
        named = ", ".join(printable(c) for c in campaigns[:EARLIER_NAMED])
        if len(campaigns) > EARLIER_NAMED:
            named += f" and {len(campaigns) - EARLIER_NAMED:,} more"
        lines.append(
            f"STILL PAUSED by an earlier run: {len(campaigns):,} campaign(s) ({named}); "
            f"resume them with: {resume_command(Path(run_dir))}"
        )
    return lines


def next_step_lines(steps: Sequence[NextStep], budget: int = STEP_LINES) -> list[str]:
    """The next steps as a person reads them: one line per group, its command on the next line
    (indented, nothing around it, to copy as it is), a note once; at most ``budget`` lines, the
    groups left out counted on the last one."""
    lines: list[str] = []
    noted: set[str] = set()
    commands: set[str] = set()
    for i, step in enumerate(steps):
        block = [step.heading + (" with:" if step.command else "")]
        if step.command in commands:
            block = [f"{step.heading}: the command above takes them too"]
        elif step.command:
            block.append(f"    {step.command}")
            if step.note and step.note not in noted:
                block.append(f"    ({step.note})")
        left = steps[i + 1 :]
        room = budget - len(lines) - (1 if left else 0)
        if len(block) > room:
            rest = steps[i:]
            rows = sum(s.rows for s in rest)
            lines.append(
                f"… {rows:,} more row(s) in {len(rest)} other group(s): "
                "see results.csv or report.html"
            )
            break
        lines += block
        if step.command:
            commands.add(step.command)
        if step.note and step.command:
            noted.add(step.note)
    return lines


def reports_line(summary: RunSummary) -> str:
    """Where the reports are, and which of them a person opens."""
    run_dir = summary.run_dir
    names = [n for n in _REPORT_FILES if (run_dir / n).is_file()]
    names += sorted(p.name for p in run_dir.glob("retry.*") if p.is_file())
    return f"reports in {run_dir}" + (f": {', '.join(names)}" if names else "")


class ConsoleDisplay:
    """The event sink behind ``plan``, ``run`` and ``resume`` on a console."""

    def __init__(self, err: Screen, out: Screen, *, quiet: bool, json_out: bool) -> None:
        self.err = err
        self.out = out
        self.quiet = quiet
        self.json_out = json_out
        self.run_dir: Path | None = None
        self.mode = "run"
        self.counts: Counter[str] = Counter()
        self.done = 0
        self.total = 0
        self._bar: Bar | None = None
        self._task: TaskID | None = None
        self._last_line = time.monotonic()
        self._started = time.monotonic()
        self._rate = ""
        self._status: Any = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RowFinished):
            self.done += 1
            self.counts[event.result.outcome.value] += 1
            if self._bar is not None and (self.done % 25 == 0 or self.done == self.total):
                self._refresh()
        elif isinstance(event, Progress):
            self._rate = rate_text(event)
            self._progress()
        elif isinstance(event, Notice):
            self.notice(event)
        elif isinstance(event, RunStarted):
            self.started(event)
        elif isinstance(event, RunFinished):
            self.finished(event.summary)
        elif isinstance(event, WindowWait):
            self.waiting(event)

    def waiting(self, event: WindowWait) -> None:
        """A countdown on a terminal (the notice before it is the line a log keeps)."""
        if self.quiet or isinstance(self.err, PlainConsole) or not self.err.is_terminal:
            return
        left = countdown(event.seconds_left)
        text = f"waiting for the change window {event.window}: it opens in {left}"
        if self._status is None:
            self._status = self.err.status(text)
            self._status.start()
        else:
            self._status.update(text)

    # -- the run -------------------------------------------------------------------------------

    def started(self, event: RunStarted) -> None:
        self.run_dir = event.run_dir
        self.mode = event.mode
        self.total = event.rows
        self._started = self._last_line = time.monotonic()
        self.stop_countdown()
        self.err.print(f"run directory: {event.run_dir}", highlight=False, markup=False)
        if event.estimate and not self.quiet:
            self.err.print(f"estimate: {event.estimate}", highlight=False, markup=False)
        if not self.quiet and not isinstance(self.err, PlainConsole) and self.err.is_terminal:
            self._bar = _run_bar(self.err)
            self._bar.start()
            label = "planning" if event.mode == "plan" else "applying"
            self._task = self._bar.add_task(label, total=self.total, outcomes="", rate="")

    def stop_countdown(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def stop(self) -> None:
        """Stop the bar (also when the run ends with an error)."""
        self.stop_countdown()
        if self._bar is not None:
            self._refresh()
            self._bar.stop()
            self._bar = None

    def _refresh(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task,
                completed=self.done,
                outcomes=outcome_line(self.counts),
                rate=self._rate,
            )

    def _progress(self) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._refresh()
            return
        now = time.monotonic()
        if now - self._last_line < LINE_EVERY:
            return
        self._last_line = now
        elapsed = now - self._started
        speed = self.done / elapsed if elapsed > 0 else 0.0
        eta = f"{(self.total - self.done) / speed:.0f} s" if speed > 0 else "?"
        label = "planning" if self.mode == "plan" else "applying"
        self.err.print(
            f"{label}: {self.done}/{self.total} rows  {outcome_line(self.counts)}  "
            f"{self._rate}  ETA {eta}",
            highlight=False,
            markup=False,
        )

    def notice(self, event: Notice) -> None:
        if self.quiet and event.level == "info":
            return
        # kept whole (paths and commands, to copy)
        say(self.err, printable(event.text), _NOTICE_STYLE[event.level])

    # -- the end -------------------------------------------------------------------------------

    def finished(self, summary: RunSummary) -> None:
        self.stop()
        data = summary.data
        if self.json_out:
            self.out.print_json(json.dumps(data, default=str))
        elif not self.quiet:
            if summary.mode == "plan":
                self.plan_table(summary.run_dir / "plan.csv")
            self.summary_table(summary)
        for name, why in summary.left_paused.items():
            say(self.err, f"LEFT PAUSED: {name} ({printable(why)})", "bold red")
        if summary.left_paused and (self.quiet or self.json_out) and not summary.stop_reason:
            # The next steps are not shown: say here how to resume them.
            say(self.err, f"resume them with: {resume_line(summary)}", "bold red")
        for line in earlier_paused_lines(summary.earlier_paused):
            say(self.err, line, "yellow")
        for label, why in (data.get("keys_refused") or {}).items():
            say(
                self.err,
                f"REFUSED: the API refused {label} ({printable(why)}); its rows are "
                f"not_attempted. Fix it, then: {resume_line(summary)}",
                "bold red",
            )
        if summary.exit_code == ExitCode.ABORTED and summary.stop_reason:
            say(
                self.err,
                f"stopped: {printable(summary.stop_reason)}\ncontinue with: {resume_line(summary)}",
            )
        if summary.exit_code == ExitCode.WINDOW_CLOSED:
            left = summary.outcomes.get(Outcome.NOT_ATTEMPTED.value, 0)
            say(
                self.err,
                f"stopped at the window's end; {left:,} rows left"
                + (f" ({printable(summary.stop_reason)})" if summary.stop_reason else "")
                + f"\ncontinue with: {resume_line(summary)}",
                "yellow",
            )
        if not self.quiet and not self.json_out:
            for line in next_step_lines(summary.next_steps):
                say(self.err, line)
        self.err.print(reports_line(summary), highlight=False, markup=False, soft_wrap=True)

    def summary_table(self, summary: RunSummary) -> None:
        # rich loads at the end of a run that shows its table
        from rich.table import Table
        from rich.text import Text  # as above

        data = summary.data
        table = Table(title=f"bulkpatch {summary.mode}", show_header=True)
        table.add_column("outcome")
        table.add_column("rows", justify="right")
        total = 0
        for outcome in Outcome:
            n = int(summary.outcomes.get(outcome.value, 0))
            total += n
            if n:
                table.add_row(outcome.value, f"{n:,}")
        table.add_row(Text("total", style="bold"), f"{total:,}")
        self.err.print(table)
        lat = data.get("latency") or {}
        requests = data.get("requests") or {}
        by_method = requests.get("by_method") or {}
        self.err.print(
            f"requests {requests.get('total', 0):,} "
            f"({', '.join(f'{m} {n:,}' for m, n in sorted(by_method.items()))}); "
            f"retries {data.get('retries', 0):,}; 429s {data.get('throttled_429', 0):,}; "
            f"{data.get('achieved_rate', 0.0):.1f} req/s; "
            + (
                f"latency p50 {lat.get('p50_ms')} ms, p95 {lat.get('p95_ms')} ms; "
                if lat.get("p50_ms") is not None
                else ""
            )
            + f"{data.get('duration_s', 0.0):.1f} s",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        breaker = data.get("breaker") or {}
        if breaker.get("openings"):
            self.err.print(
                f"the API failed as a whole {breaker['openings']} time(s); workers paused "
                f"{breaker.get('paused_seconds', 0.0):.1f} s in all",
                highlight=False,
                markup=False,
            )

        differing = int(data.get("answers_differing") or 0)
        if differing:
            self.err.print(
                f"{differing:,} update(s) were accepted with an answer naming another campaign "
                "or other values than sent (reason 'answer differs:' in results.csv)",
                highlight=False,
                markup=False,
            )

    def plan_table(self, plan_csv: Path, limit: int = PLAN_SHOWN) -> None:
        """The first rows of the plan: per row its outcome and ``field: old -> new``."""
        # rich loads at the end of a plan that shows its table
        from rich.console import Console
        from rich.table import Table  # as above
        from rich.text import Text  # as above

        # On a terminal the table fits its width; without one (a log, a pipe) no cell is
        # wrapped or cut: a line is as long as it needs to be.
        tty = self.err.is_terminal
        table = Table(title="plan (nothing was sent)", show_lines=False)
        table.add_column("row", justify="right", no_wrap=not tty)
        table.add_column("campaign", no_wrap=not tty)
        table.add_column("outcome", no_wrap=not tty)
        table.add_column("changes (old -> new) or reason", overflow="fold", no_wrap=not tty)
        shown = total = 0
        with plan_csv.open(newline="", encoding="utf-8") as f:
            for record in csv.DictReader(f):
                total += 1
                if shown >= limit:
                    continue
                shown += 1
                parts = (record["reason"], *record["changes"].split("; "))
                table.add_row(
                    Text(record["row"]),
                    Text(record["campaign_id"]),
                    Text(record["outcome"]),
                    Text("\n".join(p for p in parts if p)),
                )
        if tty:
            self.err.print(table)
        else:
            Console(file=self.err.file, width=UNWRAPPED_WIDTH, color_system=None).print(table)
        if total > shown:
            self.err.print(
                f"… {total - shown:,} more rows in {plan_csv}", highlight=False, markup=False
            )


def _run_bar(console: Console) -> Bar:
    """The progress bar of a run on a terminal."""
    # rich's progress bar loads only on a terminal
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar  # as above

    return Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[outcomes]}", markup=False),
        TextColumn("{task.fields[rate]}", style="cyan", markup=False),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


D = TypeVar("D", covariant=True)


class _Shown(Protocol[D]):
    def __call__(self, err: Screen, out: Screen, *, quiet: bool, json_out: bool) -> D: ...


def pick_display(kwargs: dict[str, Any], shown: _Shown[D]) -> tuple[D | JsonLog, Screen]:
    """The display ``shown`` makes, or :class:`JsonLog` for ``--log-format json``; and the
    error console (rich on a terminal, plain text elsewhere).  ``--quiet``, ``--json`` and
    ``--log-format`` are popped from ``kwargs``."""
    quiet, json_out = kwargs.pop("quiet"), kwargs.pop("json_out")
    log_format = kwargs.pop("log_format")
    err = open_console(stderr=True)
    out = open_console(soft_wrap=True)
    if log_format == "json":
        return JsonLog(sys.stderr, out, json_out=json_out), err
    return shown(err, out, quiet=quiet, json_out=json_out), err
