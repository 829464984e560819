"""The end of a run: its exit code, the reasons grouped, and what to do next.

Pure functions of the counts a run gathered.  :func:`reason_group` puts a row's reason in a group
a person can act on; :func:`next_steps` turns the groups into at most a few lines, each with the
exact command to run where there is one.  :class:`RunSummary` is what the library returns (and
``summary.json`` holds, as :meth:`RunSummary.as_dict`).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkpatch.core.options import DEFAULT_KEY_ENV, RunOptions
from bulkpatch.core.outcomes import ExitCode, Outcome
from bulkpatch.core.text import shorten
from bulkpatch.core.urls import DEFAULT_BASE_URL
from bulkpatch.version import __version__

#: Groups given a step of their own at most; the rest share one last step.
MAX_STEPS = 8
#: Reason groups a notification names (summary.json's ``top_reasons``).
TOP_REASONS = 5


def exit_code_for(
    outcomes: Mapping[str, int],
    *,
    aborted: bool = False,
    left_paused: int = 0,
    canary_held: bool = False,
    mismatches: int = 0,
    usage: bool = False,
    internal: bool = False,
) -> ExitCode:
    """The one place an exit code is decided, from what a command came to.

    ``outcomes``: rows per outcome.  ``internal``: a bug ended it (70).  ``usage``: a usage
    error or an invalid input ended it before anything was sent (2).  ``aborted``: it stopped
    before its end, and ``left_paused``: campaigns it left paused -- both resumable (3).
    ``mismatches``: rows not as they should be that have no outcome of their own (``verify``'s
    campaigns that do not hold the change, ``export``'s campaigns that could not be read): 1.
    ``canary_held``: a canary held and stopped the run as asked; the rows it held back
    (``not_attempted``) do not make it 1 -- a row rejected, failed or skipped before still does.
    Else 0 when every row is ``updated`` or ``unchanged``, 1 when some are not.
    """
    if internal:
        return ExitCode.INTERNAL
    if usage:
        return ExitCode.USAGE
    if aborted or left_paused:
        return ExitCode.ABORTED
    not_ok = {name for name, n in outcomes.items() if n and not Outcome(name).ok}
    if canary_held:
        not_ok.discard(Outcome.NOT_ATTEMPTED.value)
    if not_ok or mismatches:
        return ExitCode.SOME_ROWS_NOT_OK
    return ExitCode.OK


def summary_content(
    mode: str,
    outcomes: Mapping[str, int],
    steps: Sequence[NextStep],
    exit_code: int | None,
    *,
    rows: int | None = None,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of summary.json (and of a command's JSON report of the same kind): what the
    command measured (``fields``), then what every summary says the same way -- the rows, a
    count for every outcome, the next steps, the reasons a notification names, the exit code
    (None: not known, e.g. a rebuild of a run that did not finish).  Never a key."""
    return {
        "bulkpatch": __version__,
        "mode": mode,
        **(fields or {}),
        "rows": sum(outcomes.values()) if rows is None else rows,
        "outcomes": {o.value: int(outcomes.get(o.value, 0)) for o in Outcome},
        "next_steps": [s.as_dict() for s in steps],
        "top_reasons": top_reasons(steps),
        "exit_code": None if exit_code is None else int(exit_code),
    }


def top_reasons(steps: Sequence[NextStep], limit: int = TOP_REASONS) -> list[dict[str, Any]]:
    """The reason groups of the rows that did not succeed, most rows first, at most ``limit``:
    what a notification shows (outcome, rows, reason, the command to run)."""
    ordered = sorted(steps, key=lambda step: -step.rows)  # stable: ties keep their order
    return [
        {"outcome": s.outcome, "rows": s.rows, "reason": s.label, "command": s.command}
        for s in ordered[:limit]
    ]


@dataclass(frozen=True, slots=True)
class ReasonGroup:
    """Rows that share what to do about them."""

    outcome: str
    #: Words for the group: "campaign is active", "ended or cancelled".
    label: str
    #: What to do: ``retry-pause-active``, ``retry``, ``resume``, ``fix``, ``nothing``, ``read``.
    action: str


def reason_group(outcome: str, reason: str) -> ReasonGroup:
    """The group of a row that did not end ``updated`` / ``unchanged``."""
    if outcome == Outcome.SKIPPED.value:
        if reason.startswith("campaign is active; rerun"):
            return ReasonGroup(outcome, "campaign is active", "retry-pause-active")
        if reason.startswith("campaign is active and not paused"):
            return ReasonGroup(
                outcome, "campaign is active; pausing was stopped", "retry-pause-active"
            )
        if reason.startswith(("campaign is ended", "campaign is cancelled")):
            return ReasonGroup(outcome, "campaign ended or cancelled", "nothing")
        if reason.startswith("stale:"):
            return ReasonGroup(outcome, "stale: the campaign differs from an expect. column", "fix")
        return ReasonGroup(outcome, shorten(reason, 60), "read")
    if outcome == Outcome.INVALID.value:
        return ReasonGroup(outcome, "breaks a rule", "fix")
    if outcome == Outcome.FAILED.value:
        if "LEFT PAUSED" in reason:
            return ReasonGroup(outcome, "campaign LEFT PAUSED", "resume")
        return ReasonGroup(outcome, "errors outlasted the retries", "retry")
    if outcome == Outcome.NOT_ATTEMPTED.value:
        return ReasonGroup(outcome, "the run stopped before them", "resume")
    # rejected: the API's own words, without the request's name
    words = reason.split(": ", 1)[1] if reason.startswith(("PATCH: ", "GET: ")) else reason
    return ReasonGroup(outcome, shorten(words, 60), "read")


#: What a step under ``--simulate`` says of its command.
FRESH_SIMULATOR = (
    "--simulate starts a fresh simulator: these campaigns as they were before this run"
)


@dataclass(frozen=True, slots=True)
class NextStep:
    """One group of rows that did not succeed, and what to do about them."""

    rows: int
    outcome: str
    label: str
    #: What to do, in words ("pause, update and resume them"; "nothing to do").
    advice: str
    #: The exact command to run, when there is one.
    command: str | None = None
    #: A remark on the command (under ``--simulate``: the simulator starts fresh).
    note: str | None = None

    @property
    def heading(self) -> str:
        """``46 skipped (campaign is active): pause, update and resume them``"""
        return f"{self.rows:,} {self.outcome} ({self.label}): {self.advice}"

    def line(self) -> str:
        """The step on one line, the command in backquotes."""
        return f"{self.heading} with `{self.command}`" if self.command else self.heading

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "outcome": self.outcome,
            "reason": self.label,
            "advice": self.advice,
            "command": self.command,
            "note": self.note,
        }


def carried_options(options: RunOptions, *, planning: bool = False) -> str:
    """The options a run's next commands must repeat to reach the same campaigns the same way
    (where they are, which API, which key; the sheet's format after a plan), ready to append to
    a command line: `` --base-url URL --org ORG``.  Never a key itself."""

    pairs: list[tuple[str, object]] = []
    if not options.simulate and options.base_url.rstrip("/") != DEFAULT_BASE_URL.rstrip("/"):
        pairs.append(("--base-url", options.base_url))
    pairs += [("--org", options.org), ("--workspace", options.workspace)]
    if planning:  # the sheet itself again (a retry file is named for its format)
        pairs += [("--format", options.fmt), ("--sheet-name", options.sheet_name)]
    if options.keys_file is not None:
        pairs.append(("--keys-file", options.keys_file))
    elif options.api_key_file is not None:
        pairs.append(("--api-key-file", options.api_key_file))
    elif options.api_key_env != DEFAULT_KEY_ENV and not options.simulate:
        pairs.append(("--api-key-env", options.api_key_env))
    if options.report_dir.resolve() != Path("reports").resolve():
        pairs.append(("--report-dir", options.report_dir))
    return "".join(f" {flag} {shlex.quote(str(value))}" for flag, value in pairs if value)


def next_steps(
    groups: Mapping[ReasonGroup, int],
    run_dir: Path,
    *,
    retry_name: str = "retry.csv",
    simulated: bool = False,
    resumable: bool = True,
    mode: str = "run",
    sheet: Path | None = None,
    limit: int = MAX_STEPS,
    carry: str = "",
) -> list[NextStep]:
    """The groups, most rows first, each with what to do about it and the command for it; past
    ``limit`` groups, the rest are folded into one last step.

    After ``run`` / ``resume`` the commands take the run's ``retry`` file (every row that did not
    succeed, as the sheet had it) or resume the run; after ``plan`` (``mode="plan"``) they take
    ``sheet``.  Under ``--simulate`` a command runs against a fresh simulator, and its step says
    so in ``note``; a simulated run is not resumed (its simulator is gone), its rows are run
    again.  ``carry`` (:func:`carried_options`) is appended to each ``run`` command.
    """
    planning = mode == "plan"
    sim = " --simulate" if simulated else ""
    note = FRESH_SIMULATOR if simulated and not planning else None
    retry = shlex.quote(str(run_dir / retry_name))
    target = shlex.quote(str(sheet)) if planning and sheet is not None else None
    listing = "plan.csv" if planning else "results.csv"
    ordered = sorted(groups.items(), key=lambda item: (-item[1], item[0].label))
    pausing = any(g.action == "retry-pause-active" for g, _ in ordered)
    steps: list[NextStep] = []
    for group, rows in ordered:
        advice, command = _advice(
            group.action,
            group.outcome,
            planning=planning,
            simulated=simulated,
            resumable=resumable,
            listing=listing,
            retry_name=retry_name,
        )
        if command == "run-retry":
            extra = " --pause-active" if group.action == "retry-pause-active" or pausing else ""
            command = (
                (f"bulkpatch run {target}{extra}{sim}{carry}" if target else None)
                if planning
                else f"bulkpatch run {retry}{extra}{sim}{carry}"
            )
        elif command == "resume":
            command = f"bulkpatch resume {shlex.quote(str(run_dir))}"
        elif command == "validate":
            command = f"bulkpatch validate {target}" if target else None
        noted = note if command is not None and sim and sim in command else None
        steps.append(NextStep(rows, group.outcome, group.label, advice, command, noted))
    if len(steps) <= limit:
        return steps
    kept, rest = steps[: limit - 1], steps[limit - 1 :]
    outcomes = {s.outcome for s in rest}
    folded = NextStep(
        sum(s.rows for s in rest),
        outcomes.pop() if len(outcomes) == 1 else "other",
        f"{len(rest)} other reasons",
        f"the reasons are in {listing}",
    )
    return [*kept, folded]


def _advice(
    action: str,
    outcome: str,
    *,
    planning: bool,
    simulated: bool,
    resumable: bool,
    listing: str,
    retry_name: str,
) -> tuple[str, str | None]:
    """(advice, which command: ``run-retry``, ``resume``, ``validate`` or None)."""
    if action == "retry-pause-active":
        if planning:
            return "to pause, update and resume them, run the sheet", "run-retry"
        return "pause, update and resume them", "run-retry"
    if action == "retry":
        return "try them again", None if planning else "run-retry"
    if action == "resume":
        if planning:
            return "the plan stopped before them; plan again", None
        if resumable and not simulated:
            return "continue the run", "resume"
        return "run them again", "run-retry"
    if action == "nothing":
        return "nothing to do", None
    if action == "fix":
        if planning and outcome == Outcome.INVALID.value:
            return "fix them in the sheet; list every problem", "validate"
        if planning:
            return f"check them (the reasons are in {listing})", None
        return f"fix them in {retry_name} (the reasons are in {listing}), then run it", None
    return f"the reasons are in {listing}", None


@dataclass(frozen=True)
class RunSummary:
    """What a run came to.  ``data`` is summary.json's content."""

    run_dir: Path
    mode: str
    exit_code: int
    outcomes: Mapping[str, int]
    stop_reason: str = ""
    next_steps: tuple[NextStep, ...] = ()
    #: Campaigns this run paused and could not resume: "org/ws/campaign" -> why.
    left_paused: Mapping[str, str] = field(default_factory=dict)
    #: Campaigns an earlier bulkpatch run in the same report directory left paused:
    #: "org/ws/campaign" -> that run's directory.
    earlier_paused: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return dict(self.data)
