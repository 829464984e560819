"""``bulkpatch undo RUN_DIR``: put back what a run changed, and nothing anyone changed since.

From the run's journal (every session, ``resume`` included) and its own copy of the sheet,
:func:`build_undo` makes one row per campaign the run ``updated``:

* each field the run changed is set back to its value before the run (``done`` lines carry the
  ``before`` values; a row settled by reading back after an interruption takes them from its
  ``sent`` line);
* ``expect.<field>`` holds what the run wrote, and ``expect.updated_at`` the ``updated_at`` the
  run saw after writing -- after its own resume, for a campaign it paused (``--pause-active``),
  as the journal's ``resumed`` line records -- so a campaign that anyone changed since is
  ``skipped`` as stale, never overwritten.

It is written to ``undo.csv`` in the run directory and run as a normal run, with the run's own
options (``--pause-active`` too, so that a campaign the run paused, changed and resumed is paused,
restored and resumed again: it ends in the status it had, as the first run left it).  Its run
directory is new; undoing it is a normal undo.

What cannot be undone is said, never guessed: a run with ``--no-read`` kept no before-values (the
whole undo is refused); a field that was empty before the run cannot be emptied again through
the API (that field is left as it is); a run that did not finish (a write in doubt, a campaign
left paused) must be resumed first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bulkpatch.core.columns import CHANGE_PATHS
from bulkpatch.core.errors import UsageError
from bulkpatch.core.events import EventSink, Notice, ignore
from bulkpatch.core.loop import sync
from bulkpatch.core.outcomes import ExitCode, Outcome
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.stopper import Stopper
from bulkpatch.core.summary import RunSummary, command, exit_code_for, summary_content
from bulkpatch.core.text import shorten
from bulkpatch.core.timing import REAL, Timing
from bulkpatch.core.values import merges_key_by_key
from bulkpatch.ops.apply import apply_sheet_async, plan_sheet_async
from bulkpatch.ops.observe import watched
from bulkpatch.rundir.files import write_summary
from bulkpatch.rundir.names import SIMULATOR_STATE, SUMMARY_JSON, UNDO_CSV
from bulkpatch.rundir.record import RunRecord, open_run, row_changes
from bulkpatch.sheet import write_table
from bulkpatch.validation.cellvalues import exact_cell, is_formula

UNDO_NOTE = "#undo_of_row"
#: Problems named one by one at most (all are counted).
NAMED = 20
_ORDER = {path: i for i, path in enumerate(CHANGE_PATHS)}


@dataclass
class UndoRow:
    row: int
    key: CampaignKey
    #: path -> the exact cell that puts the value before the run back.
    restore: dict[str, str] = field(default_factory=dict)
    #: path -> the exact cell of what the run wrote (the guard).
    written: dict[str, str] = field(default_factory=dict)
    #: ``updated_at`` after the run's write (None: no such guard).
    stamp: str | None = None


@dataclass
class UndoPlan:
    rows: list[UndoRow]
    #: What cannot be undone, in words.
    problems: list[str]
    #: Rows the run updated.
    updated: int
    #: The run's sheet's columns: the undo sheet keeps their order.
    order: tuple[str, ...] = ()


def _journal_facts(
    record: RunRecord,
) -> tuple[dict[int, dict[str, Any]], dict[str, str | None], set[str]]:
    """From the journal: the last ``before`` sent per row, the stamp after each resume per
    campaign, and the campaigns the run paused."""
    sent_before: dict[int, dict[str, Any]] = {}
    resumed: dict[str, str | None] = {}
    paused: set[str] = set()
    for rec in record.records():
        kind = rec.get("e")
        if kind == "sent" and rec.get("op") == "patch" and isinstance(rec.get("row"), int):
            before = rec.get("before")
            if isinstance(before, dict) and before:
                sent_before[rec["row"]] = before
        elif kind == "paused" and isinstance(rec.get("key"), str):
            paused.add(rec["key"])
        elif kind == "resumed" and isinstance(rec.get("key"), str):
            stamp = rec.get("updated_at")
            resumed[rec["key"]] = stamp if isinstance(stamp, str) and stamp else None
    return sent_before, resumed, paused


def added_fields(path: str, before: Any, written: Any) -> list[str]:
    """Fields inside the object at ``path`` that the run's change added where the campaign held
    none: a merged object keeps them when the value from before is written back, so undo
    cannot remove them (objects that are replaced whole are put back as they were)."""
    if not (
        isinstance(before, Mapping) and isinstance(written, Mapping) and merges_key_by_key(path)
    ):
        return []
    added: list[str] = []
    for name, value in written.items():
        inner = f"{path}.{name}"
        if before.get(name) is None:
            if value is not None:
                added.append(inner)
        else:
            added.extend(added_fields(inner, before[name], value))
    return added


def build_undo(record: RunRecord) -> UndoPlan:
    """The undo rows of a finished run (see the module's docstring).  Raises
    :class:`UsageError` for a run that cannot be undone."""
    where = record.run_dir
    if record.options.no_read:
        raise UsageError(
            f"the run in {where} used --no-read, so it never read the campaigns and kept no "
            "values from before its changes: undo cannot know what to put back. Restore them "
            "from an export taken before the run, if there is one"
        )
    state = record.state
    if state.in_doubt or state.paused:
        what = []
        if state.in_doubt:
            what.append(f"{len(state.in_doubt)} write(s) whose outcome is not known yet")
        if state.paused:
            what.append(f"{len(state.paused)} campaign(s) it paused and did not resume")
        raise UsageError(
            f"the run in {where} did not finish ({'; '.join(what)}): "
            f"`{command('resume', where, options=record.options, reach='run_dir')}` first, then "
            "undo it"
        )
    done = record.rows_with(Outcome.UPDATED.value)
    changes = row_changes(record, done)
    sent_before, resumed, paused = _journal_facts(record)
    rows: list[UndoRow] = []
    problems: list[str] = []
    for number in sorted(done):
        rec = done[number]
        key = CampaignKey(str(rec["org_id"]), str(rec["workspace_id"]), str(rec["campaign_id"]))
        change = changes.get(number)
        if change is None:
            problems.append(f"row {number} {key}: the row cannot be read from the run's sheet")
            continue
        before = rec.get("before") or sent_before.get(number) or {}
        paths = [p for p in str(rec.get("changed_fields") or "").split(";") if p]
        undo = UndoRow(number, key)
        for path in paths:
            if path not in CHANGE_PATHS:
                continue
            if path not in before:
                problems.append(f"row {number} {key}: no value from before the run for `{path}`")
                continue
            cell = exact_cell(path, before[path])
            if cell is None:
                was = "empty" if before[path] is None else f"{shorten(before[path])!r}"
                problems.append(
                    f"row {number} {key}: `{path}` was {was} before the run, which a sheet "
                    "cannot set back; it stays as the run set it"
                )
                continue
            undo.restore[path] = cell
            if path in change.changes:
                for added in added_fields(path, before[path], change.changes[path]):
                    problems.append(
                        f"row {number} {key}: the run added `{added}`, which was not there "
                        "before; a sheet cannot remove a field, so it stays as the run set it"
                    )
                guard = exact_cell(path, change.changes[path], expect=True)
                if guard is not None:
                    undo.written[path] = guard
        # A whole object put back holds its inner fields already: one column per field.
        for path in list(undo.restore):
            if any(path.startswith(outer + ".") for outer in undo.restore if outer != path):
                del undo.restore[path]
        if not undo.restore:
            continue
        name = str(key)
        undo.stamp = resumed.get(name) if name in paused else rec.get("updated_at")
        if name in paused and undo.stamp is None:
            problems.append(
                f"row {number} {key}: the run paused and resumed it, and the journal does not "
                "say its updated_at after the resume; it is guarded by its values only"
            )
        rows.append(undo)
    return UndoPlan(
        rows=rows, problems=problems, updated=len(done), order=tuple(record.sheet.columns)
    )


def undo_table(
    rows: list[UndoRow], order: tuple[str, ...] = ()
) -> tuple[list[str], list[list[Any]]]:
    """The undo sheet: its columns (in the run's sheet's order) and rows (None: empty)."""
    at = {name: i for i, name in enumerate(order)}

    def place(path: str) -> tuple[int, int]:
        return (at.get(path, len(at)), _ORDER.get(path, 1 << 30))

    paths = sorted({p for r in rows for p in r.restore}, key=place)
    guards = sorted({p for r in rows for p in r.written}, key=place)
    columns = [
        "org_id",
        "workspace_id",
        "campaign_id",
        UNDO_NOTE,
        *paths,
        "expect.updated_at",
        *(f"expect.{p}" for p in guards),
    ]
    table = [
        [
            r.key.org_id,
            r.key.workspace_id,
            r.key.campaign_id,
            str(r.row),
            *(r.restore.get(p) for p in paths),
            r.stamp,
            *(r.written.get(p) for p in guards),
        ]
        for r in rows
    ]
    return columns, table


def write_undo(record: RunRecord, on_event: EventSink = ignore) -> tuple[Path, UndoPlan]:
    """Build ``undo.csv`` in the run directory; say what cannot be undone."""
    plan = build_undo(record)
    where = record.run_dir
    for text in plan.problems[:NAMED]:
        on_event(Notice("warning", text, "undo_cannot"))
    if len(plan.problems) > NAMED:
        on_event(Notice("warning", f"… and {len(plan.problems) - NAMED} more", "undo_cannot"))
    if plan.updated and not plan.rows:
        raise UsageError(
            f"none of the {plan.updated} row(s) the run in {where} updated can be undone "
            "(see above); nothing was sent"
        )
    path = where / UNDO_CSV
    columns, table = undo_table(plan.rows, plan.order)
    write_table(path, columns, table)
    formulas = sum(1 for row in table for cell in row if isinstance(cell, str) and is_formula(cell))
    if formulas:
        on_event(
            Notice(
                "warning",
                f"{formulas} cell(s) of {UNDO_CSV} start with a formula character (=, +, -, @); "
                "a spreadsheet may run them when it opens the file",
                "formula_cells",
            )
        )
    return path, plan


@watched("undo")  # logging, and OpenTelemetry when it is on
async def undo_run_async(
    run_dir: str | os.PathLike[str],
    *,
    plan_only: bool = False,
    overrides: Mapping[str, Any] | None = None,
    on_event: EventSink = ignore,
    stopper: Stopper | None = None,
    api_key: str | None = None,
    timing: Timing = REAL,
    simulate: bool = False,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> RunSummary:
    """Undo a run: write ``undo.csv`` and run it (``plan_only``: plan it, send nothing).

    ``simulate``: the run used ``--simulate``; the undo runs against a simulator started from
    the campaigns the run's simulator ended with, and writes them back there after it (so a
    ``verify --simulate`` of the run then sees the undo).  ``overrides`` change how the undo
    goes (``rate``, ``concurrency``, ``report_dir``, the key source, ``max_errors``).  Returns
    the undo run's summary (or, when the run updated nothing, an empty one)."""
    where = Path(run_dir)
    record = open_run(where, what="undo", simulate=simulate)
    path, plan = write_undo(record, on_event)
    if not plan.rows:
        on_event(Notice("info", f"the run in {where} updated no campaign: nothing to undo"))
        nothing = summary_content("undo", {}, (), exit_code_for({}), fields={"undo": str(path)})
        return RunSummary(
            run_dir=where, mode="undo", exit_code=nothing["exit_code"], outcomes={}, data=nothing
        )
    on_event(
        Notice(
            "info",
            f"{path} puts back {len(plan.rows)} of the {plan.updated} campaign(s) the run "
            "updated; a campaign changed since the run is skipped as stale",
            "undo_written",
        )
    )
    options = replace(
        record.options,
        org=None,
        workspace=None,
        fmt=None,
        sheet_name=None,
        skip_invalid=False,
        plan_dir=None,
        approved_by=None,
        canary=None,
        canary_continue=False,
        max_errors=None,
        simulator_state=(where / SIMULATOR_STATE) if simulate else None,
    )
    options = replace(options, **dict(overrides or {}))
    call = plan_sheet_async if plan_only else apply_sheet_async
    summary = await call(
        path, options=options, on_event=on_event, stopper=stopper, api_key=api_key, timing=timing
    )
    data = {**summary.data, "undo_of": str(where), "undo": str(path)}
    if plan.problems and summary.exit_code == ExitCode.OK and not plan_only:
        # Every row went well, yet something the run did stays (said above): not a full undo.
        code = int(exit_code_for(summary.outcomes, mismatches=len(plan.problems)))
        on_event(
            Notice(
                "warning",
                f"not a full undo: {len(plan.problems)} change(s) of the run stay as it made "
                "them (named before the undo ran); exit 1",
                "undo_incomplete",
            )
        )
        data = summary_content(
            str(data["mode"]),
            summary.outcomes,
            summary.next_steps,
            code,
            rows=data.get("rows"),
            fields={**data, "not_undone": plan.problems},
        )
        write_summary(summary.run_dir / SUMMARY_JSON, data)
        return replace(summary, exit_code=code, data=data)
    return replace(summary, data=data)


def undo_run(run_dir: str | os.PathLike[str], **kwargs: Any) -> RunSummary:
    """:func:`undo_run_async` in an event loop of its own."""
    return sync(undo_run_async, run_dir, **kwargs)
