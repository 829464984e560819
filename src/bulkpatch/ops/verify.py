"""``bulkpatch verify RUN_DIR``: does every campaign still hold what the run set?

For every row the run ended ``updated`` or ``unchanged``, the campaign is read back (GET only,
at the run's rate, with its retries) and compared with the row's values, the way the run compares
(``merge.same_value``: whole-replaced fields whole, times as instants).  Each row gets a verdict,
written to ``verify.csv`` in the run directory (cells a spreadsheet will not run as formulas):

==========  ==============================================================================
``holds``   the campaign holds every value the row set
``drifted`` it does not: ``details`` says ``field: expected -> now`` for each difference
``gone``    the campaign no longer exists (404)
``unknown`` it could not be read (the reason is in ``details``), or the verify stopped first
==========  ==============================================================================

A ``--simulate`` run is verified with ``simulate=True`` (``verify RUN_DIR --simulate``): against
a simulator started from the campaigns the run's simulator ended with (``simulator-state.json``).

Exit codes: 0 every row holds; 1 some drifted, are gone or unknown; 2 not a run directory (or
``simulate`` not as the run ran); 3 stopped (a refused key, an outage, Ctrl-C): ``verify.csv`` then
says ``unknown`` for the rows not read.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import StorageError
from bulkpatch.core.events import EventSink, Notice, RunStarted, ignore
from bulkpatch.core.loop import sync
from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.rows import RowChange
from bulkpatch.core.stopper import Stopper
from bulkpatch.core.summary import RunSummary, exit_code_for
from bulkpatch.core.text import cap, printable
from bulkpatch.core.timing import REAL, Timing
from bulkpatch.core.values import holds
from bulkpatch.engine.apireads import Reader, from_state, read_all, reading
from bulkpatch.engine.canary import drift
from bulkpatch.engine.planner import answer_problem
from bulkpatch.ops.observe import watched
from bulkpatch.rundir.directory import lock_run_dir
from bulkpatch.rundir.files import atomic_text, report_cell
from bulkpatch.rundir.names import SIMULATOR_STATE, VERIFY_CSV
from bulkpatch.rundir.record import RunRecord, open_run, row_changes
from bulkpatch.transport.replies import Kind
from bulkpatch.transport.retries import Sent

VERIFY_COLUMNS = (
    "row",
    "org_id",
    "workspace_id",
    "campaign_id",
    "outcome",
    "verdict",
    "details",
    "campaign_status",
    "updated_at",
)
VERDICTS = ("holds", "drifted", "gone", "unknown")


def verdict_of(change: RowChange, sent: Sent) -> tuple[str, str, Mapping[str, Any]]:
    """(verdict, details, the campaign as read) for one row."""
    reply = sent.reply
    if reply.kind is Kind.NOT_FOUND:
        return "gone", f"the campaign no longer exists ({reply.describe()})", {}
    data = reply.data
    if not reply.ok or not isinstance(data, Mapping):
        return "unknown", f"could not read it: {reply.describe()}", {}
    wrong = answer_problem(data, change)
    if wrong:
        return "unknown", wrong, {}
    if holds(data, change.changes):
        return "holds", "", data
    return "drifted", "; ".join(drift(data, change.changes)), data


@watched("verify")  # logging, and OpenTelemetry when it is on
async def verify_run_async(
    run_dir: str | os.PathLike[str],
    *,
    overrides: Mapping[str, Any] | None = None,
    on_event: EventSink = ignore,
    stopper: Stopper | None = None,
    api_key: str | None = None,
    timing: Timing = REAL,
    simulate: bool = False,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> RunSummary:
    """Verify a run (see the module's docstring); ``overrides`` as for ``resume``."""
    where = Path(run_dir)
    record = open_run(where, what="verify", overrides=overrides, simulate=simulate)
    options = record.options
    simulator = from_state(options, where / SIMULATOR_STATE) if simulate else None
    sources = reading(
        options, simulator, api_key=api_key, timing=timing, on_event=on_event, stopper=stopper
    )
    async with sources as reader:
        return await _verify(where, record, reader, on_event)


async def _verify(
    where: Path, record: RunRecord, reader: Reader, on_event: EventSink
) -> RunSummary:
    options = record.options
    lock = lock_run_dir(where)
    try:
        done = record.rows_with(Outcome.UPDATED.value, Outcome.UNCHANGED.value)
        changes = row_changes(record, done)
        started = datetime.now(UTC)
        found: dict[int, tuple[str, str, Mapping[str, Any]]] = {}
        reader.progress = lambda: (len(found), len(changes))
        on_event(
            RunStarted(
                run_dir=where,
                mode="verify",
                rows=len(changes),
                resumed=False,
                target_rate=options.rate,
            )
        )

        def keep(row: int, sent: Sent) -> None:
            found[row] = verdict_of(changes[row], sent)

        async with reader.open():
            await reader.guarded(
                lambda: read_all(reader, sorted(changes), lambda r: changes[r].key, keep)
            )
        _write(where / VERIFY_CSV, done, changes, found, reader.control.stop_reason)
    finally:
        lock.release()
    return _finish(where, reader, done, changes, found, started, on_event)


def _write(
    path: Path,
    done: Mapping[int, Mapping[str, Any]],
    changes: Mapping[int, RowChange],
    found: Mapping[int, tuple[str, str, Mapping[str, Any]]],
    stop_reason: str,
) -> None:
    try:
        with atomic_text(path) as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(VERIFY_COLUMNS)
            for row in sorted(done):
                rec = done[row]
                verdict, details, data = found.get(row, ("unknown", "", {}))
                if row not in changes:
                    details = "the row cannot be read from the run's copy of its sheet"
                elif row not in found:
                    details = f"not read: {stop_reason or 'the verify stopped'}"
                values = [
                    row,
                    rec.get("org_id"),
                    rec.get("workspace_id"),
                    rec.get("campaign_id"),
                    rec.get("outcome"),
                    verdict,
                    cap(printable(details)),
                    data.get("status"),
                    data.get("updated_at"),
                ]
                writer.writerow([report_cell(v) for v in values])
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _finish(
    where: Path,
    reader: Reader,
    done: Mapping[int, Mapping[str, Any]],
    changes: Mapping[int, RowChange],
    found: Mapping[int, tuple[str, str, Mapping[str, Any]]],
    started: datetime,
    on_event: EventSink,
) -> RunSummary:
    counts: Counter[str] = Counter({v: 0 for v in VERDICTS})
    for row in done:
        counts[found[row][0] if row in found else "unknown"] += 1
    control = reader.control
    code = exit_code_for({}, aborted=control.stopping, mismatches=len(done) - counts["holds"])
    if not done:
        on_event(
            Notice(
                "info",
                "the run updated no campaign and left none unchanged: nothing to verify",
                "verify_nothing",
            )
        )
    drifted = [row for row in sorted(found) if found[row][0] == "drifted"][:5]
    for row in drifted:
        rec = done[row]
        on_event(
            Notice(
                "warning",
                f"row {row} {rec.get('campaign_id')}: drifted: {found[row][1]}",
                "verify_drifted",
            )
        )
    data: dict[str, Any] = {
        "mode": "verify",
        "run_dir": str(where),
        "report": str(where / VERIFY_CSV),
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "rows": len(done),
        "verdicts": dict(counts),
    }
    return reader.finish("verify", where, int(code), dict(counts), data, on_event)


def verify_run(run_dir: str | os.PathLike[str], **kwargs: Any) -> RunSummary:
    """:func:`verify_run_async` in an event loop of its own."""
    return sync(verify_run_async, run_dir, **kwargs)
