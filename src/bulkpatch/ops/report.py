"""``bulkpatch report RUN_DIR``: the run directory's reports, rebuilt from its journal.

The journal is the source of truth; the reports are views of it.  :func:`rebuild_reports`
writes them again -- for a run that finished, and for one that crashed or was killed before it
could write them:

* ``report.html`` from the journal (and summary.json, when it speaks for the last session);
* ``results.csv`` (and ``results.parquet`` for a Parquet sheet): one line per row of the run's
  own copy of the sheet (``sheet.*``; of a ``--shard`` run, per row of its shard), in its
  order, from the row's last ``done`` line -- or, for a row whose PATCH outcome stayed unknown,
  its ``unsettled`` line (the row as its session reported it); a row with neither is
  ``not_attempted`` (its reason says whether its PATCH was sent, and whether its campaign may
  be left paused) -- or ``invalid`` when the sheet check says so, as the run would have
  reported it;
* ``retry.<kind>``: the sheet's own rows whose outcome is not ``updated`` / ``unchanged``.

``summary.json`` is left as the run wrote it: its request counts, retries and latency
percentiles were measured by the run and are not in the journal whole, so they cannot be rebuilt
honestly.

Every file is written whole or not at all, mode 0600, and holds no key (the journal holds none).
The run directory is locked while this runs: a run or resume working in it makes this wait for
nothing and refuse (:class:`~bulkpatch.core.errors.BusyError`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import JournalError, UsageError
from bulkpatch.core.options import RunOptions
from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import invalid, not_attempted, report_row, result_from_done
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.shards import parse_shard
from bulkpatch.core.summary import (
    NextStep,
    ReasonGroup,
    next_steps,
    reason_group,
    summary_content,
)
from bulkpatch.html.reportfile import load_run_report, save_run_report
from bulkpatch.rundir.directory import lock_run_dir, storage_error
from bulkpatch.rundir.files import write_results, write_retry
from bulkpatch.rundir.journal import JournalState, read_journal
from bulkpatch.rundir.names import (
    JOURNAL,
    PLAN_CSV,
    REPORT_HTML,
    RESULTS_CSV,
    SUMMARY_JSON,
    retry_name,
    sheet_copies,
)
from bulkpatch.sheet import Sheet, file_sha256, open_sheet
from bulkpatch.validation import check_sheet, iter_verdicts

#: Reasons of rows the journal gives no outcome.
NO_OUTCOME = "no outcome in the journal: the run stopped before this row"
NO_ANSWER = (
    "no outcome in the journal: the run stopped after sending this row's PATCH, before its "
    "answer was recorded; `bulkpatch resume` reads the campaign back before sending again"
)
MAYBE_PAUSED = (
    "; the run paused this campaign and did not resume it: it may be LEFT PAUSED — "
    "`bulkpatch resume` on the run directory resumes it"
)


@dataclass(frozen=True)
class Rebuilt:
    """What :func:`rebuild_reports` wrote, and what the rows came to."""

    run_dir: Path
    #: The files written, in the order they were.
    written: tuple[Path, ...]
    #: The run's copy of the sheet the rows were read from.
    sheet_copy: Path
    rows: int
    #: outcome -> rows, as results.csv has them
    outcomes: Mapping[str, int]
    #: Rows with no outcome in the journal (counted in ``outcomes`` as not_attempted).
    no_outcome: int
    #: The journal's last session has an ``end`` line.
    finished: bool
    #: summary.json is there (left as it was).
    summary_kept: bool
    next_steps: tuple[NextStep, ...] = ()
    #: Campaigns the run paused and did not resume: "org/ws/campaign" -> row.
    paused: Mapping[str, int] = field(default_factory=dict)
    #: The exit code the journal's ``end`` line gives the run (None: it did not finish).
    exit_code: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """What was rebuilt, with the rows' counts and next steps as summary.json has them."""
        extra = {
            "run_dir": str(self.run_dir),
            "written": [str(p) for p in self.written],
            "sheet_copy": str(self.sheet_copy),
            "no_outcome": self.no_outcome,
            "finished": self.finished,
            "summary_json": "kept as the run wrote it" if self.summary_kept else "none",
            "campaigns_maybe_left_paused": dict(self.paused),
        }
        return summary_content(
            "report", self.outcomes, self.next_steps, self.exit_code, rows=self.rows, fields=extra
        )


# ---------------------------------------------------------------------------------------------
# The pure part: a row's report line from what the journal and the sheet say of it
# ---------------------------------------------------------------------------------------------


def row_record(
    row: int,
    key: CampaignKey | None,
    *,
    said: Mapping[str, Any] | None,
    problems: list[str] | None,
    sent: bool,
    paused: bool,
) -> dict[str, Any]:
    """The results line of one row.

    ``said``: the row's last ``done`` line, or the ``unsettled`` line of a row in doubt (what
    its session reported); ``problems``: the sheet check's rules the row breaks (None when it
    is valid); ``sent``: a PATCH went out with no ``done`` line after it; ``paused``: the run
    paused the row's campaign and did not resume it.
    """
    if said is not None:
        return report_row(result_from_done(said))
    if problems is not None:
        return report_row(invalid(row, key, problems))
    why = (NO_ANSWER if sent else NO_OUTCOME) + (MAYBE_PAUSED if paused else "")
    return report_row(not_attempted(row, key, why))


def _problem_text(column: str, rule: str) -> str:
    return f"{column}: {rule}" if column else rule


@dataclass
class _Tally:
    """What the rebuilt rows come to, counted as they are written."""

    outcomes: Counter[str] = field(default_factory=Counter)
    groups: Counter[ReasonGroup] = field(default_factory=Counter)
    retry_rows: set[int] = field(default_factory=set)
    no_outcome: int = 0

    def add(self, record: Mapping[str, Any], *, said: bool) -> None:
        outcome = str(record["outcome"])
        self.outcomes[outcome] += 1
        if not said and outcome == Outcome.NOT_ATTEMPTED.value:
            self.no_outcome += 1
        if not Outcome(outcome).ok:
            self.retry_rows.add(int(record["row"]))
            self.groups[reason_group(outcome, str(record.get("reason") or ""))] += 1


def rows_of(
    sheet: Sheet, state: JournalState, options: RunOptions, tally: _Tally
) -> Iterator[dict[str, Any]]:
    """The results lines of the run's rows (of its shard), in sheet order, counted in
    ``tally`` as they go."""
    shard = parse_shard(options.shard) if options.shard else None
    paused_rows = set(state.paused.values())
    check = check_sheet(
        sheet, org=options.org, workspace=options.workspace, no_read=options.no_read
    )
    for verdict in iter_verdicts(sheet, org=options.org, workspace=options.workspace, check=check):
        if shard is not None and not shard.holds(verdict.key):
            continue  # another shard's row: in that shard's reports
        row = verdict.row
        said = state.done.get(row) or state.unsettled.get(row)
        problems = (
            [_problem_text(p.column, p.rule) for p in verdict.problems]
            if verdict.change is None
            else None
        )
        record = row_record(
            row,
            verdict.key,
            said=said,
            problems=problems,
            sent=row in state.in_doubt,
            paused=row in paused_rows,
        )
        tally.add(record, said=said is not None)
        yield record


# ---------------------------------------------------------------------------------------------
# The shell
# ---------------------------------------------------------------------------------------------


def rebuild_reports(run_dir: str | Path) -> Rebuilt:
    """Write ``run_dir``'s report.html, results.csv (and .parquet), and retry file again from
    its journal and its copy of the sheet.  Raises :class:`UsageError` (or a subclass) when
    ``run_dir`` is not a run's directory, its journal cannot be read, its sheet copy is gone or
    changed, or another bulkpatch is working in it."""
    folder = Path(run_dir)
    journal = folder / JOURNAL
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a directory: give the directory of a run.")
    if not journal.is_file():
        if (folder / PLAN_CSV).is_file():
            raise UsageError(
                f"{folder} is a plan's directory: `bulkpatch plan` wrote plan.csv and plan.html "
                "there whole; there is no journal to rebuild them from."
            )
        raise UsageError(
            f"{folder} has no {JOURNAL}: give the directory of a run (one that `bulkpatch "
            "run` made)."
        )
    lock = lock_run_dir(folder)
    try:
        return _rebuild(folder, journal)
    finally:
        lock.release()


def _rebuild(folder: Path, journal: Path) -> Rebuilt:
    state = read_journal(journal)
    if state.start is None:
        raise JournalError(
            f"{journal} has no start record (its first line is lost), so the sheet and options "
            "of the run are unknown; the reports cannot be rebuilt."
        )
    report = load_run_report(folder)
    try:
        written = [save_run_report(folder, report)]
    except OSError as exc:
        raise storage_error("write the reports in", folder, exc, sent=False) from None
    options = RunOptions.from_journal(dict(state.start.get("options") or {}))
    sheet = _own_copy(folder, state)
    tally = _Tally()
    try:
        written += write_results(
            folder / RESULTS_CSV,
            rows_of(sheet, state, options, tally),
            parquet=sheet.kind == "parquet",
        )
    except OSError as exc:
        raise storage_error("write the reports in", folder, exc, sent=False) from None
    written.append(write_retry(sheet, tally.retry_rows, folder).path)
    steps = next_steps(
        tally.groups,
        folder,
        retry_name=retry_name(sheet.kind),
        simulated=options.simulate,
        resumable=True,
        options=options,
    )
    return Rebuilt(
        run_dir=folder,
        written=tuple(written),
        sheet_copy=sheet.path,
        rows=sum(tally.outcomes.values()),
        outcomes=dict(tally.outcomes),
        no_outcome=tally.no_outcome,
        finished=report.finished,
        summary_kept=(folder / SUMMARY_JSON).is_file(),
        next_steps=tuple(steps),
        paused=dict(state.paused),
        exit_code=report.exit_code if report.finished else None,
    )


def _own_copy(folder: Path, state: JournalState) -> Sheet:
    """The run's own copy of its sheet, checked against the journal's sha256."""
    assert state.start is not None
    copies = sheet_copies(folder)
    if not copies:
        raise JournalError(
            f"{folder} holds no copy of its sheet (sheet.csv, ...), so the rows' order and ids "
            f"are unknown: {REPORT_HTML} was rebuilt, {RESULTS_CSV} and the retry file were not."
        )
    copy = copies[0]
    try:
        sha = file_sha256(copy)
    except OSError as exc:
        raise JournalError(f"cannot read {copy}: {exc.strerror or exc}") from None
    if sha != state.start.get("sha256"):
        raise JournalError(
            f"{copy} differs from the sheet the run started with (sha256): {REPORT_HTML} was "
            f"rebuilt, {RESULTS_CSV} and the retry file were not."
        )
    options = RunOptions.from_journal(dict(state.start.get("options") or {}))
    return open_sheet(copy, sheet_name=options.sheet_name)
