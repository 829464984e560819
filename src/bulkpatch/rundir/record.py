"""A run directory read back after the fact: its journal, its options, its own copy of the sheet.

``verify`` and ``undo`` start here: :func:`open_run` reads the journal (every session of the
run, ``resume`` included) and checks that the sheet copy is the one the run started with;
:func:`row_changes` gives the validated change of chosen rows, as the run applied them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import JournalError, SheetError
from bulkpatch.core.options import RunOptions
from bulkpatch.core.rows import RowChange
from bulkpatch.rundir.journal import JournalState, iter_records, read_journal
from bulkpatch.rundir.names import JOURNAL, PLAN_CSV, SIMULATOR_STATE, sheet_copies
from bulkpatch.sheet import Sheet, file_sha256, open_sheet
from bulkpatch.validation import iter_verdicts


@dataclass(frozen=True)
class RunRecord:
    run_dir: Path
    state: JournalState
    options: RunOptions
    sheet: Sheet

    @property
    def start(self) -> Mapping[str, Any]:
        assert self.state.start is not None
        return self.state.start

    def rows_with(self, *outcomes: str) -> dict[int, dict[str, Any]]:
        """The ``done`` records of the rows that ended with one of ``outcomes``."""
        return {row: rec for row, rec in self.state.done.items() if rec.get("outcome") in outcomes}

    def records(self) -> list[dict[str, Any]]:
        """Every journal record, in order."""
        return [r for r in iter_records(self.run_dir / JOURNAL) if r is not None]


def open_run(
    run_dir: Path,
    *,
    what: str,
    overrides: Mapping[str, Any] | None = None,
    simulate: bool = False,
) -> RunRecord:
    """Read a run directory for ``what`` (``verify``, ``undo``); :class:`JournalError` when it
    is not one, or its sheet copy changed, or ``simulate`` does not match how it ran (a
    ``--simulate`` run is gone back to only with ``--simulate``, from the simulator's state it
    left: :data:`SIMULATOR_STATE`)."""
    journal = run_dir / JOURNAL
    if not journal.is_file():
        if (run_dir / PLAN_CSV).is_file():
            raise JournalError(
                f"{run_dir} is the directory of a plan, which sent nothing: there is nothing to "
                f"{what}"
            )
        raise JournalError(f"{run_dir} has no {JOURNAL}; is it a run directory?")
    state = read_journal(journal)
    if state.start is None:
        raise JournalError(f"{journal} has no start record; it cannot be read")
    try:
        stored = dict(state.start.get("options") or {})
        options = RunOptions.from_journal(stored, **(overrides or {}))
    except (TypeError, ValueError) as exc:
        raise JournalError(f"{journal}: its options cannot be used ({exc})") from None
    _check_simulated(run_dir, options.simulate, simulate, what)
    copies = sheet_copies(run_dir)
    if not copies:
        raise JournalError(f"{run_dir} holds no copy of its sheet (sheet.csv, ...)")
    copy = copies[0]
    try:
        sha = file_sha256(copy)
    except (OSError, SheetError) as exc:
        raise JournalError(f"cannot read {copy}: {exc}") from None
    if sha != state.start.get("sha256"):
        raise JournalError(
            f"{copy} differs from the sheet the run started with (sha256); the run's changes "
            f"cannot be known, so there is nothing to {what} safely"
        )
    sheet = open_sheet(copy, sheet_name=options.sheet_name)
    return RunRecord(run_dir=run_dir, state=state, options=options, sheet=sheet)


def row_changes(record: RunRecord, rows: Collection[int]) -> dict[int, RowChange]:
    """The validated change of each of ``rows`` (rows that no longer validate are left out)."""
    wanted = set(rows)
    found: dict[int, RowChange] = {}
    if not wanted:
        return found
    options = record.options
    for verdict in iter_verdicts(record.sheet, org=options.org, workspace=options.workspace):
        if verdict.row in wanted and verdict.change is not None:
            found[verdict.row] = verdict.change
    return found


def _check_simulated(run_dir: Path, simulated: bool, simulate: bool, what: str) -> None:
    if simulated and not simulate:
        raise JournalError(
            f"this run used --simulate: add --simulate to {what} it against a simulator started "
            f"from the campaigns the run left ({run_dir / SIMULATOR_STATE})"
        )
    if simulate and not simulated:
        raise JournalError(f"this run did not use --simulate: {what} it without --simulate")
    if simulate and not (run_dir / SIMULATOR_STATE).is_file():
        raise JournalError(
            f"this run used --simulate but left no {SIMULATOR_STATE} (an older bulkpatch kept "
            f"none), so there is nothing to {what}"
        )
