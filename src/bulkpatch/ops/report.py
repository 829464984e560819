"""``bulkpatch report RUN_DIR``: the run directory's reports, rebuilt from its journal.

The journal is the source of truth; the reports are views of it.  :func:`rebuild_reports`
writes them again -- for a run that finished, and for one that crashed or was killed before it
could write them:

* ``report.html`` from the journal (and summary.json, when it speaks for the last session);
* ``results.csv`` (and ``results.parquet`` for a Parquet sheet): one line per row of the run's
  own copy of the sheet (``sheet.*``; of a ``--shard`` run, per row of its shard), in its
  order, from the row's last ``done`` line; a row
  with none is ``not_attempted`` (its reason says whether its PATCH was sent, and whether its
  campaign may be left paused) -- or ``invalid`` when the sheet check says so, as the run
  would have reported it;
* ``retry.<kind>``: the sheet's own rows whose outcome is not ``updated`` / ``unchanged``.

``summary.json`` is left as the run wrote it: its request counts, retries and latency
percentiles were measured by the run and are not in the journal whole, so they cannot be rebuilt
honestly.

Every file is written whole or not at all, mode 0600, and holds no key (the journal holds none).
The run directory is locked while this runs: a run or resume working in it makes this wait for
nothing and refuse (:class:`~bulkpatch.core.errors.BusyError`).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import JournalError, UsageError
from bulkpatch.core.options import RunOptions
from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import invalid, not_attempted, result_record
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.shards import parse_shard
from bulkpatch.core.summary import NextStep, ReasonGroup, next_steps, reason_group
from bulkpatch.html.runreport import REPORT_NAME, load_run_report, save_run_report
from bulkpatch.rundir.directory import lock_run_dir, storage_error
from bulkpatch.rundir.files import RESULT_COLUMNS, atomic_text, csv_to_parquet, report_cell
from bulkpatch.rundir.journal import JOURNAL_NAME, JournalState, read_journal
from bulkpatch.sheet import Sheet, copy_rows, file_sha256, open_sheet
from bulkpatch.validation import check_sheet, iter_verdicts

RESULTS_NAME = "results.csv"
SUMMARY_NAME = "summary.json"

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
    #: Rows with no ``done`` line in the journal (counted in ``outcomes`` as not_attempted).
    no_outcome: int
    #: The journal's last session has an ``end`` line.
    finished: bool
    #: summary.json is there (left as it was).
    summary_kept: bool
    next_steps: tuple[NextStep, ...] = ()
    #: Campaigns the run paused and did not resume: "org/ws/campaign" -> row.
    paused: Mapping[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "written": [str(p) for p in self.written],
            "sheet_copy": str(self.sheet_copy),
            "rows": self.rows,
            "outcomes": {o.value: self.outcomes.get(o.value, 0) for o in Outcome},
            "no_outcome": self.no_outcome,
            "finished": self.finished,
            "summary_json": "kept as the run wrote it" if self.summary_kept else "none",
            "campaigns_maybe_left_paused": dict(self.paused),
            "next_steps": [s.as_dict() for s in self.next_steps],
        }


# ---------------------------------------------------------------------------------------------
# The pure part: a row's report line from what the journal and the sheet say of it
# ---------------------------------------------------------------------------------------------


def row_record(
    row: int,
    key: CampaignKey | None,
    *,
    done: Mapping[str, Any] | None,
    problems: list[str] | None,
    sent: bool,
    paused: bool,
) -> dict[str, Any]:
    """The results line of one row.

    ``done``: the row's last ``done`` line; ``problems``: the sheet check's rules the row breaks
    (None when it is valid); ``sent``: a PATCH went out with no ``done`` line after it;
    ``paused``: the run paused the row's campaign and did not resume it.
    """
    if done is not None:
        return {c: done.get(c) for c in RESULT_COLUMNS}
    if problems is not None:
        return result_record(invalid(row, key, problems))
    why = (NO_ANSWER if sent else NO_OUTCOME) + (MAYBE_PAUSED if paused else "")
    return result_record(not_attempted(row, key, why))


def _problem_text(column: str, rule: str) -> str:
    return f"{column}: {rule}" if column else rule


# ---------------------------------------------------------------------------------------------
# The shell
# ---------------------------------------------------------------------------------------------


def rebuild_reports(run_dir: str | Path) -> Rebuilt:
    """Write ``run_dir``'s report.html, results.csv (and .parquet), and retry file again from
    its journal and its copy of the sheet.  Raises :class:`UsageError` (or a subclass) when
    ``run_dir`` is not a run's directory, its journal cannot be read, its sheet copy is gone or
    changed, or another bulkpatch is working in it."""
    folder = Path(run_dir)
    journal = folder / JOURNAL_NAME
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a directory: give the directory of a run.")
    if not journal.is_file():
        if (folder / "plan.csv").is_file():
            raise UsageError(
                f"{folder} is a plan's directory: `bulkpatch plan` wrote plan.csv and plan.html "
                "there whole; there is no journal to rebuild them from."
            )
        raise UsageError(
            f"{folder} has no {JOURNAL_NAME}: give the directory of a run (one that `bulkpatch "
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
    shard = parse_shard(options.shard) if options.shard else None
    sheet = _own_copy(folder, state)
    retry_rows: set[int] = set()
    outcomes: Counter[str] = Counter()
    groups: Counter[ReasonGroup] = Counter()
    no_outcome = 0
    paused_rows = set(state.paused.values())
    results = folder / RESULTS_NAME

    def lines() -> Iterator[dict[str, Any]]:
        nonlocal no_outcome
        check = check_sheet(
            sheet, org=options.org, workspace=options.workspace, no_read=options.no_read
        )
        for verdict in iter_verdicts(
            sheet, org=options.org, workspace=options.workspace, check=check
        ):
            if shard is not None and not shard.holds(verdict.key):
                continue  # another shard's row: in that shard's reports
            row = verdict.row
            done = state.done.get(row)
            problems = (
                [_problem_text(p.column, p.rule) for p in verdict.problems]
                if verdict.change is None
                else None
            )
            record = row_record(
                row,
                verdict.key,
                done=done,
                problems=problems,
                sent=row in state.in_doubt,
                paused=row in paused_rows,
            )
            if done is None and problems is None:
                no_outcome += 1
            outcome = str(record["outcome"])
            outcomes[outcome] += 1
            if not Outcome(outcome).ok:
                retry_rows.add(row)
                groups[reason_group(outcome, str(record.get("reason") or ""))] += 1
            yield record

    try:
        with atomic_text(results) as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(RESULT_COLUMNS)
            for record in lines():
                writer.writerow([report_cell(record.get(c)) for c in RESULT_COLUMNS])
        written.append(results)
        if sheet.kind == "parquet":
            parquet = folder / "results.parquet"
            csv_to_parquet(results, parquet)
            written.append(parquet)
    except OSError as exc:
        raise storage_error("write the reports in", folder, exc, sent=False) from None
    retry_name = f"retry.{sheet.kind}"
    written.append(copy_rows(sheet, retry_rows, folder / retry_name).path)
    steps = next_steps(
        groups,
        folder,
        retry_name=retry_name,
        simulated=options.simulate,
        resumable=True,
        options=options,
    )
    return Rebuilt(
        run_dir=folder,
        written=tuple(written),
        sheet_copy=sheet.path,
        rows=sum(outcomes.values()),
        outcomes=dict(outcomes),
        no_outcome=no_outcome,
        finished=report.finished,
        summary_kept=(folder / SUMMARY_NAME).is_file(),
        next_steps=tuple(steps),
        paused=dict(state.paused),
    )


def _own_copy(folder: Path, state: JournalState) -> Sheet:
    """The run's own copy of its sheet, checked against the journal's sha256."""
    assert state.start is not None
    copies = sorted(p for p in folder.glob("sheet.*") if p.is_file())
    if not copies:
        raise JournalError(
            f"{folder} holds no copy of its sheet (sheet.csv, ...), so the rows' order and ids "
            f"are unknown: {REPORT_NAME} was rebuilt, {RESULTS_NAME} and the retry file were not."
        )
    copy = copies[0]
    try:
        sha = file_sha256(copy)
    except OSError as exc:
        raise JournalError(f"cannot read {copy}: {exc.strerror or exc}") from None
    if sha != state.start.get("sha256"):
        raise JournalError(
            f"{copy} differs from the sheet the run started with (sha256): {REPORT_NAME} was "
            f"rebuilt, {RESULTS_NAME} and the retry file were not."
        )
    options = RunOptions.from_journal(dict(state.start.get("options") or {}))
    return open_sheet(copy, sheet_name=options.sheet_name)
