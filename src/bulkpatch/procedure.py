"""One row, from the sheet to its result: what the pool's workers and feeder run.

:func:`work_items` turns the sheet's streaming pass into jobs (and results already known:
invalid rows, rows an earlier session finished); :func:`apply_row` reads a campaign, plans the
row (:func:`~bulkpatch.planner.plan_row`), has the executor carry the plan out, and turns it all
into the row's result (:func:`~bulkpatch.results.row_result`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

from bulkpatch.executor import Executor, RunControl
from bulkpatch.journal import JournalState
from bulkpatch.options import RunOptions
from bulkpatch.outcomes import Outcome
from bulkpatch.planner import plan_row
from bulkpatch.pool import Elsewhere, Job, Kept, WorkItem
from bulkpatch.results import RowResult, invalid, read_failed, result_from_record, row_result
from bulkpatch.shards import Shard
from bulkpatch.sheet import Sheet
from bulkpatch.validation import SheetCheck, iter_verdicts


def work_items(
    sheet: Sheet,
    check: SheetCheck,
    options: RunOptions,
    prior: JournalState | None,
    shard: Shard | None = None,
) -> Iterator[WorkItem]:
    """Every row of the sheet, in order: a job, a result already known, or another shard's."""
    for verdict in iter_verdicts(sheet, org=options.org, workspace=options.workspace, check=check):
        row = verdict.row
        if shard is not None and not shard.holds(verdict.key):
            yield Elsewhere(row)
            continue
        in_doubt = prior is not None and row in prior.in_doubt
        if prior is not None and row in prior.done:
            kept = result_from_record(prior.done[row])
            if kept.outcome is not Outcome.NOT_ATTEMPTED:
                yield Kept(kept)
                continue
            # Stopped after sending: whatever the last answer said, read it back first.
            in_doubt = kept.attempts > 0
        if verdict.change is None:
            reasons = [f"{p.column}: {p.rule}" if p.column else p.rule for p in verdict.problems]
            yield invalid(row, verdict.key, reasons)
            continue
        yield Job(verdict.change, in_doubt=in_doubt)


async def apply_row(
    job: Job,
    executor: Executor,
    *,
    control: RunControl,
    no_read: bool,
    plan_mode: bool,
    clock: Callable[[], float],
) -> RowResult:
    """Read, plan, carry out (not in plan mode), and say what came of it."""
    started = clock()
    change = job.change
    if no_read and not job.in_doubt:
        plan = plan_row(None, change, control.plan_options)
    else:
        read = await executor.read(change.key)
        if not read.reply.ok:
            result = read_failed(change, read, stop_reason=control.stop_reason)
            return replace(result, duration_ms=int((clock() - started) * 1000))
        plan = plan_row(read.reply.data, change, control.plan_options)
    execution = None if plan_mode else await executor.carry_out(plan, change)
    result = row_result(
        change, plan, execution, in_doubt=job.in_doubt, stop_reason=control.stop_reason
    )
    return replace(result, duration_ms=int((clock() - started) * 1000))
