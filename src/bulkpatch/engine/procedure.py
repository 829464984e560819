"""One row, from the sheet to its result: what the pool's workers and feeder run.

:func:`work_items` turns the sheet's streaming pass into jobs (and results already known:
invalid rows, rows an earlier session finished); :func:`apply_row` reads a campaign, plans the
row (:func:`~bulkpatch.engine.planner.plan_row`), has the executor carry the plan out, and turns it
all into the row's result (:func:`~bulkpatch.engine.results.row_result`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterator
from typing import Any

from bulkpatch.core.options import RunOptions
from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import (
    RowResult,
    invalid,
    not_attempted,
    result_from_done,
    resumed_later,
    with_duration,
)
from bulkpatch.core.shards import Shard
from bulkpatch.core.telemetry import traced_row
from bulkpatch.engine.executor import Executor, RunControl
from bulkpatch.engine.planner import PausePatchResume, RowPlan, plan_row
from bulkpatch.engine.pool import Deferred, Elsewhere, Job, Kept, WorkItem
from bulkpatch.engine.results import read_failed, row_result
from bulkpatch.rundir.journal import JournalState
from bulkpatch.sheet import Sheet
from bulkpatch.validation import SheetCheck, iter_verdicts

#: Asked after a row is planned, before anything is sent (``bulkpatch.engine.safeguards``): the plan
#: to carry out, or None when the row must not start (it is ``not_attempted``).
Gate = Callable[..., Awaitable[RowPlan | None]]
#: Asked before a row pauses an active campaign (``bulkpatch.engine.callinghours``): None to go
#: on, else the row's deferral or its result (nothing but the GET was sent).
Hold = Callable[[Job, Any], "RowResult | Deferred | None"]


def work_items(
    sheet: Sheet,
    check: SheetCheck,
    options: RunOptions,
    prior: JournalState | None,
    shard: Shard | None = None,
    *,
    resumed: Collection[int] = (),
) -> Iterator[WorkItem]:
    """Every row of the sheet, in order: a job, a result already known, or another shard's.

    ``resumed``: rows whose campaign an earlier session left paused and this one resumed: their
    kept result no longer says LEFT PAUSED (and gets a new ``done`` line saying so).
    """
    for verdict in iter_verdicts(sheet, org=options.org, workspace=options.workspace, check=check):
        row = verdict.row
        if shard is not None and not shard.holds(verdict.key):
            yield Elsewhere(row)
            continue
        in_doubt = prior is not None and row in prior.in_doubt
        sent = prior.in_doubt[row].get("before") if prior is not None and in_doubt else None
        if prior is not None and row in prior.done:
            kept = result_from_done(prior.done[row])
            if kept.outcome is not Outcome.NOT_ATTEMPTED:
                if row in resumed and (now := resumed_later(kept)) is not kept:
                    yield now  # with its before-values: the undo data stays
                else:
                    yield Kept(kept)
                continue
            # Stopped after sending: whatever the last answer said, read it back first.
            in_doubt, sent = kept.attempts > 0, kept.before
        if verdict.change is None:
            reasons = [f"{p.column}: {p.rule}" if p.column else p.rule for p in verdict.problems]
            yield invalid(row, verdict.key, reasons)
            continue
        before = dict(sent) if isinstance(sent, dict) else {}
        yield Job(verdict.change, in_doubt=in_doubt, sent_before=before)


@traced_row  # with telemetry on, the row's span
async def apply_row(
    job: Job,
    executor: Executor,
    *,
    control: RunControl,
    no_read: bool,
    plan_mode: bool,
    clock: Callable[[], float],
    gate: Gate | None = None,
    hold: Hold | None = None,
) -> RowResult | Deferred:
    """Read, plan, pass the ``hold`` and the ``gate``, carry out (not in plan mode), and say
    what came of it."""
    started = clock()
    change = job.change
    if no_read and not job.in_doubt:
        plan = plan_row(None, change, control.options_for(change.key.org_id))
    else:
        read = await executor.read(change.key)
        if not read.reply.ok:
            result = read_failed(change, read, stop_reason=control.stop_reason)
            return with_duration(result, int((clock() - started) * 1000))
        sent = job.sent_before if job.in_doubt else None
        options = control.options_for(change.key.org_id)
        plan = plan_row(read.reply.data, change, options, sent=sent)
        if hold is not None and isinstance(plan, PausePatchResume):
            held = hold(job, read.reply.data)
            if isinstance(held, RowResult):
                return _timed(held, started, clock)
            if held is not None:
                return held
    if gate is not None:
        gated = await gate(plan, change, in_doubt=job.in_doubt)
        if gated is None:
            why = f"run stopped before this row: {control.stop_reason or 'held back'}"
            return _timed(not_attempted(change.row, change.key, why), started, clock)
        plan = gated
    execution = None if plan_mode else await executor.carry_out(plan, change)
    result = row_result(
        change, plan, execution, in_doubt=job.in_doubt, stop_reason=control.stop_reason
    )
    return _timed(result, started, clock)


def _timed(result: RowResult, started: float, clock: Callable[[], float]) -> RowResult:
    return with_duration(result, int((clock() - started) * 1000))
