"""The end of a run: its exit code, the reasons grouped, and what to do next.

Pure functions of the counts a run gathered.  :func:`reason_group` puts a row's reason in a group
a person can act on; :func:`next_steps` turns the groups into at most a few lines, each with the
exact command to run where there is one.  :class:`RunSummary` is what the library returns (and
``summary.json`` holds, as :meth:`RunSummary.as_dict`).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from bulkpatch.core.errors import BulkpatchError
from bulkpatch.core.options import (
    DEFAULT_KEY_ENV,
    HIDDEN_STORE,
    RunOptions,
    url_has_password,
    without_password,
)
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
    window_closed: bool = False,
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
    ``window_closed``: the change window closed (or was closed at the start) with rows left
    for ``resume`` (75), unless the run was also aborted or left a campaign paused (3).
    Else 0 when every row is ``updated`` or ``unchanged``, 1 when some are not.
    """
    if internal:
        return ExitCode.INTERNAL
    if usage:
        return ExitCode.USAGE
    if aborted or left_paused:
        return ExitCode.ABORTED
    if window_closed:
        return ExitCode.WINDOW_CLOSED
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
        return _not_attempted_group(outcome, reason)
    # rejected: the API's own words, without the request's name
    words = reason.split(": ", 1)[1] if reason.startswith(("PATCH: ", "GET: ")) else reason
    return ReasonGroup(outcome, shorten(words, 60), "read")


#: How the reason of a row left inside its campaign's calling hours begins
#: (``engine/callinghours.py``); what follows, up to ";", says until when.
CALLING_UNTIL = "campaign is active and inside its calling hours until "


def _not_attempted_group(outcome: str, reason: str) -> ReasonGroup:
    if reason.startswith(CALLING_UNTIL):
        until = reason[len(CALLING_UNTIL) :].split(";", 1)[0]
        return ReasonGroup(outcome, f"campaign calling until {until}", "resume")
    if reason.startswith("campaign is active and has no calling hours"):
        return ReasonGroup(outcome, "campaign calls at all hours: not paused", "read")
    return ReasonGroup(outcome, "the run stopped before them", "resume")


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


#: Stands for a rate store's password in a printed command: a password is never printed.
PASSWORD = "PASSWORD"
#: What a step whose command holds :data:`PASSWORD` says of it.
FILL_PASSWORD = (
    f"replace {PASSWORD} in --rate-store with the store's password (and its user, if it has "
    "one): it is never printed or stored"
)
#: What a command reaches its campaigns from: a sheet (``run``/``plan``/``export``), an
#: approved plan (``run --plan``: the plan holds the rest), a run directory (``resume``,
#: ``verify``, ``undo``: its journal holds the rest), or nothing (``validate``, offline: only
#: how the sheet is read).
Reach = Literal["sheet", "plan", "run_dir", "offline"]


def store_placeholder(url: str) -> str:
    """A rate store's URL to print: its password (or a journal's mark that one was left out)
    replaced by :data:`PASSWORD`; a URL without one as it is."""
    hidden = url.startswith(HIDDEN_STORE)
    bare = url[len(HIDDEN_STORE) :] if hidden else url
    if not hidden and not url_has_password(bare):
        return bare
    try:
        parts = urlsplit(bare)
        user = parts.username or ""
    except ValueError:
        return bare
    plain = without_password(bare)
    scheme, _, rest = plain.partition("://")
    return f"{scheme}://{user}:{PASSWORD}@{rest}"


def options_of(stored: Mapping[str, Any] | None) -> RunOptions | None:
    """A journal's (summary.json's) options as :class:`RunOptions` for printing commands: a
    rate store whose password was left out comes back as :func:`store_placeholder`'s URL.
    None when they cannot be read back."""
    if not stored:
        return None
    values = dict(stored)
    store = values.get("rate_store")
    extra = {"rate_store": store_placeholder(store)} if isinstance(store, str) else {}
    try:
        return RunOptions.from_journal(values, **extra)
    except (BulkpatchError, TypeError, ValueError):
        return None


def carried_options(options: RunOptions, *, planning: bool = False, reach: Reach = "sheet") -> str:
    """The options a next command must repeat to reach the same campaigns the same way, ready
    to append to a command line: `` --base-url URL --org ORG``.  Never a key, never a password
    (a rate store's is :data:`PASSWORD`).

    ``reach="sheet"``: how the run was run (``--pause-active``, ``--simulate``), where (which
    API, org, workspace; with ``planning``, the sheet's format and worksheet: the same sheet
    again), with which key, its reports' directory, and the shared rate (``--rate-store`` with
    its ``--rate``).  ``"plan"``: a plan holds where and how; the key, the reports' directory
    and the shared rate are the run's own.  ``"run_dir"``: a journal holds everything but a
    rate store's password.  ``"offline"``: the org, workspace, format and worksheet alone."""
    pairs: list[tuple[str, object]] = []
    if reach == "offline":
        pairs += [("--org", options.org), ("--workspace", options.workspace)]
        pairs += [("--format", options.fmt), ("--sheet-name", options.sheet_name)]
        return _words(pairs)
    if reach == "sheet":
        pairs += [("--pause-active", options.pause_active), ("--simulate", options.simulate)]
        pairs += [("--outside-calling-hours", options.outside_calling_hours)]
        pairs += [("--window", options.window)]
        if options.simulate:
            pairs.append(("--seed", options.seed))
        elif options.base_url.rstrip("/") != DEFAULT_BASE_URL.rstrip("/"):
            pairs.append(("--base-url", options.base_url))
        pairs += [("--org", options.org), ("--workspace", options.workspace)]
        if planning:  # the sheet itself again (a retry file is named for its format)
            pairs += [("--format", options.fmt), ("--sheet-name", options.sheet_name)]
    if reach != "run_dir":
        if options.keys_file is not None:
            pairs.append(("--keys-file", options.keys_file))
        elif options.api_key_file is not None:
            pairs.append(("--api-key-file", options.api_key_file))
        elif options.api_key_env != DEFAULT_KEY_ENV and not options.simulate:
            pairs.append(("--api-key-env", options.api_key_env))
        if options.report_dir.resolve() != Path("reports").resolve():
            pairs.append(("--report-dir", options.report_dir))
    store = options.rate_store
    if store is not None and (reach != "run_dir" or store_placeholder(store) != store):
        pairs.append(("--rate-store", store_placeholder(store)))
        if reach != "run_dir":
            pairs.append(("--rate", f"{options.rate:g}" if options.rate else None))
    return _words(pairs)


def _words(pairs: list[tuple[str, object]]) -> str:
    """`` --flag value`` for each value given (`` --flag`` for a flag that is on)."""
    words = []
    for flag, value in pairs:
        if value is True:
            words.append(f" {flag}")
        elif value:
            words.append(f" {flag} {shlex.quote(str(value))}")
    return "".join(words)


def command(
    verb: str,
    *args: object,
    options: RunOptions | None = None,
    reach: Reach = "sheet",
    planning: bool = False,
) -> str:
    """``bulkpatch VERB ARGS...`` with :func:`carried_options`: every command bulkpatch prints
    for a person to run next is built here, so each reaches the same campaigns the same way."""
    words = " ".join(shlex.quote(str(a)) for a in ("bulkpatch", verb, *args))
    if options is None:
        return words
    return words + carried_options(options, planning=planning, reach=reach)


def command_note(command_line: str | None) -> str | None:
    """What a person must know of a command before running it (:data:`FILL_PASSWORD`)."""
    if command_line is not None and f":{PASSWORD}@" in command_line:
        return FILL_PASSWORD
    return None


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
    options: RunOptions | None = None,
) -> list[NextStep]:
    """The groups, most rows first, each with what to do about it and the command for it; past
    ``limit`` groups, the rest are folded into one last step.

    After ``run`` / ``resume`` the commands take the run's ``retry`` file (every row that did not
    succeed, as the sheet had it) or resume the run; after ``plan`` (``mode="plan"``) they take
    ``sheet``.  Every command is :func:`command`'s, with the run's ``options`` (or, without
    them, ``simulated``'s).  Under ``--simulate`` a command runs against a fresh simulator, and
    its step says so in ``note``; a simulated run is not resumed (its simulator is gone), its
    rows are run again.
    """
    options = options if options is not None else RunOptions(simulate=simulated)
    simulated = options.simulate
    planning = mode == "plan"
    listing = "plan.csv" if planning else "results.csv"
    ordered = sorted(groups.items(), key=lambda item: (-item[1], item[0].label))
    pausing = any(g.action == "retry-pause-active" for g, _ in ordered)
    retry_options = replace(options, pause_active=options.pause_active or pausing)
    steps: list[NextStep] = []
    for group, rows in ordered:
        advice, which = _advice(
            group.action,
            group.outcome,
            planning=planning,
            simulated=simulated,
            resumable=resumable,
            listing=listing,
            retry_name=retry_name,
        )
        line: str | None = None
        if which == "run-retry" and not planning:
            line = command("run", run_dir / retry_name, options=retry_options)
        elif which == "run-retry" and sheet is not None:
            line = command("run", sheet, options=retry_options, planning=True)
        elif which == "resume":
            line = command("resume", run_dir, options=options, reach="run_dir")
        elif which == "validate" and sheet is not None:
            line = command("validate", sheet, options=options, reach="offline")
        notes = [command_note(line)]
        if line is not None and simulated and not planning:
            notes.insert(0, FRESH_SIMULATOR)
        note = "; ".join(n for n in notes if n) or None
        steps.append(NextStep(rows, group.outcome, group.label, advice, line, note))
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
