"""A fixed pool of workers applying rows, one row at a time each.

    feeder ──(bounded stream, batches of BATCH)──▶ N workers ──▶ record(result)
       │                                                  ▲
       └── rows that need no request (invalid, kept) ─────┘

One task group; the feeder waits for room in the stream before it reads on (backpressure: at most
``concurrency`` batches wait), so memory does not grow with the sheet.  Every row reaches
``record`` exactly once.  A row's failure is a result, never an exception; only a bug raises.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream

from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import RowResult
from bulkpatch.core.rows import RowChange

#: Rows travel from the feeder to the workers in small batches, so the stream's cost is paid per
#: batch rather than per row; each worker still applies one row at a time.
BATCH = 8
CUT_OFF_REASON = (
    "interrupted in flight; `bulkpatch resume` reads the campaign back before sending again"
)


@dataclass(frozen=True, slots=True)
class Job:
    """A row to apply.  ``in_doubt``: an earlier session sent it and never learnt the answer;
    ``sent_before``: the before-values that write's journal ``sent`` line carries."""

    change: RowChange
    in_doubt: bool = False
    sent_before: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Kept:
    """A row an earlier session finished: its result stands and gets no new ``done`` line."""

    result: RowResult


@dataclass(frozen=True, slots=True)
class Elsewhere:
    """A row of another shard: this process neither applies nor reports it."""

    row: int


#: What the feeder hands the pool: a row to apply, a row whose result is already known now
#: (an invalid row), one kept from an earlier session, or another shard's row.
WorkItem = Job | RowResult | Kept | Elsewhere
#: ``record(result, fresh)``: ``fresh`` is False for a result that must not get a ``done`` line
#: (kept from an earlier session, or cut off in flight so that ``resume`` settles it).
Record = Callable[[RowResult, bool], None]
#: ``skip(row)``: a row of another shard.
Skip = Callable[[int], None]


def _not_attempted(job: Job, why: str) -> RowResult:
    change = job.change
    return RowResult(change.row, change.key, Outcome.NOT_ATTEMPTED, why)


async def run_pool(
    items: Iterator[WorkItem],
    apply: Callable[[Job], Awaitable[RowResult]],
    *,
    concurrency: int,
    stopping: Callable[[], str],
    record: Record,
    skip: Skip = lambda row: None,
    interrupted: anyio.Event | None = None,
    grace: float = 5.0,
    batch_size: int = BATCH,
) -> None:
    """Feed ``items`` to ``concurrency`` workers; every row reaches ``record`` exactly once.

    ``stopping()`` returns why the run stops ("" while it goes on): no new row starts and the
    rest become ``not_attempted``.  When ``interrupted`` is set, rows in flight get ``grace``
    seconds to finish, then they are cancelled (they stay "sent" without "done" in the journal;
    ``resume`` settles them by reading the campaign).  ``batch_size`` rows go to a worker at a
    time (1 keeps the rows in flight the first ones not yet started, in sheet order).
    """
    send, receive = anyio.create_memory_object_stream[list[Job]](max_buffer_size=concurrency)
    workers: set[anyio.CancelScope] = set()

    def give_up(jobs: list[Job]) -> None:
        why = f"run stopped before this row: {stopping()}"
        for job in jobs:
            record(_not_attempted(job, why), True)

    async def worker(stream: ObjectReceiveStream[list[Job]]) -> None:
        async with stream:
            held: list[Job] = []  # the batch in hand; held[0] is in flight
            with anyio.CancelScope() as scope:
                workers.add(scope)
                async for batch in stream:
                    held = batch
                    while held and not stopping():
                        result = await apply(held[0])
                        del held[0]
                        record(result, result.settled)
                    give_up(held)
                    held = []
            if scope.cancelled_caught:  # cut off after the grace period
                if held:
                    record(_not_attempted(held[0], CUT_OFF_REASON), False)
                    give_up(held[1:])
                async for batch in stream:  # settle what is still queued
                    give_up(batch)

    async def feed() -> None:
        async with send:
            batch: list[Job] = []
            for item in items:
                if isinstance(item, Elsewhere):
                    skip(item.row)
                elif isinstance(item, Kept):
                    record(item.result, False)
                elif isinstance(item, RowResult):
                    record(item, True)
                elif stopping():
                    give_up([item])
                else:
                    batch.append(item)
                    if len(batch) >= batch_size:
                        await send.send(batch)
                        batch = []
            if batch:
                if stopping():
                    give_up(batch)
                else:
                    await send.send(batch)

    async def cut_off_after_grace() -> None:
        assert interrupted is not None
        await interrupted.wait()
        await anyio.sleep(grace)
        for scope in workers:
            scope.cancel()

    async with anyio.create_task_group() as outer:
        if interrupted is not None:
            outer.start_soon(cut_off_after_grace)
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker, receive.clone())
            receive.close()
            tg.start_soon(feed)
        outer.cancel_scope.cancel()
