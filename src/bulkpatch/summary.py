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
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulkpatch.outcomes import ExitCode, Outcome
from bulkpatch.text import shorten
from bulkpatch.version import __version__

if TYPE_CHECKING:
    from bulkpatch.client import Lane
    from bulkpatch.executor import RunControl
    from bulkpatch.options import RunOptions
    from bulkpatch.stats import RunStats

#: Next-step lines shown at most.
MAX_STEPS = 6


def exit_code_for(outcomes: Mapping[str, int], *, aborted: bool, left_paused: int) -> ExitCode:
    """0 every row updated or unchanged; 1 some rows not; 3 aborted or a campaign left paused
    (both resumable)."""
    if aborted or left_paused:
        return ExitCode.ABORTED
    if any(n for name, n in outcomes.items() if not Outcome(name).ok):
        return ExitCode.SOME_ROWS_NOT_OK
    return ExitCode.OK


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
            return ReasonGroup(outcome, "campaign is active, and pausing had stopped", "read")
        if reason.startswith(("campaign is ended", "campaign is cancelled")):
            return ReasonGroup(outcome, "ended or cancelled", "nothing")
        if reason.startswith("stale:"):
            return ReasonGroup(
                outcome, "stale: the campaign differs from the expect. columns", "fix"
            )
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


@dataclass(frozen=True, slots=True)
class NextStep:
    rows: int
    outcome: str
    label: str
    #: What to do, in words, and the exact command when there is one.
    advice: str
    command: str | None = None

    def line(self) -> str:
        text = f"{self.rows:,} {self.outcome}: {self.label} — {self.advice}"
        return f"{text} `{self.command}`" if self.command else text

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "outcome": self.outcome,
            "reason": self.label,
            "advice": self.advice,
            "command": self.command,
        }


def next_steps(
    groups: Mapping[ReasonGroup, int],
    run_dir: Path,
    *,
    retry_name: str = "retry.csv",
    simulated: bool = False,
    resumable: bool = True,
    limit: int = MAX_STEPS,
) -> list[NextStep]:
    """The groups, most rows first, each with what to do about it."""
    retry = shlex.quote(str(run_dir / retry_name))
    sim = " --simulate" if simulated else ""
    resume = (
        f"bulkpatch resume {shlex.quote(str(run_dir))}" if resumable and not simulated else None
    )
    steps: list[NextStep] = []
    for group, rows in sorted(groups.items(), key=lambda item: (-item[1], item[0].label)):
        command: str | None = None
        if group.action == "retry-pause-active":
            advice = "rerun them with"
            command = f"bulkpatch run {retry} --pause-active{sim}"
        elif group.action == "retry":
            advice = "try them again with"
            command = f"bulkpatch run {retry}{sim}"
        elif group.action == "resume":
            advice = "continue the run with" if resume else "start a new run of the sheet"
            command = resume
        elif group.action == "nothing":
            advice = "nothing to do"
        elif group.action == "fix":
            advice = f"see results.csv, fix those rows in {retry_name}, then run it"
        else:
            advice = "the reasons are in results.csv"
        steps.append(NextStep(rows, group.outcome, group.label, advice, command))
    return steps[:limit]


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


def summary_data(
    *,
    mode: str,
    sheet: Mapping[str, str],
    run_dir: Path,
    started: datetime,
    stats: RunStats,
    options: RunOptions,
    lanes: Sequence[Lane],
    shard: str | None,
    control: RunControl,
    earlier: Mapping[str, str],
    steps: Sequence[NextStep],
    code: int,
) -> dict[str, Any]:
    """The content of ``summary.json``: counts, rates, what is left to do (never a key)."""
    first = lanes[0] if lanes else None
    return {
        "bulkpatch": __version__,
        "mode": mode,
        "sheet": dict(sheet),
        "run_dir": str(run_dir),
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        **stats.as_dict(),
        "target_rate": options.rate,
        "final_rate": first.pacer.current_rate if first is not None else options.rate,
        "rate_cuts": sum(lane.pacer.throttle_events for lane in lanes),
        "breaker": {
            "openings": sum(lane.breaker.openings for lane in lanes),
            "paused_seconds": round(sum(lane.breaker.paused_seconds for lane in lanes), 3),
        },
        "shard": shard,
        "keys_refused": dict(control.refused_keys),
        "campaigns_left_paused": {str(k): why for k, (_, why) in control.left_paused.items()},
        "campaigns_paused_by_earlier_runs": dict(earlier),
        "stop_reason": control.stop_reason or None,
        "next_steps": [s.as_dict() for s in steps],
        "options": options.for_journal(),
        "exit_code": code,
    }
