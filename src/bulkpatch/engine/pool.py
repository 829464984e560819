"""A fixed pool of workers applying rows, one row at a time each.

    feeder ──(bounded stream, one row at a time)──▶ N workers ──▶ record(result)
       │                                                  ▲
       └── rows that need no request (invalid, kept) ─────┘

One task group; the feeder waits for room in the stream before it reads on (backpressure: at most
``concurrency`` rows wait), so memory does not grow with the sheet.  A free worker takes the
next row: no row waits behind another's slow answer (a long ``Retry-After``, say).  Every row
reaches ``record`` exactly once.  A row's failure is a result, never an exception; only a bug
raises.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import RowResult
from bulkpatch.core.rows import RowChange

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


async def _next(stream: MemoryObjectReceiveStream[Job]) -> Job | None:
    """The next row from the stream (None once it is closed and empty), without a turn of the
    event loop when one is waiting: a row costs the stream next to nothing."""
    try:
        return stream.receive_nowait()
    except anyio.WouldBlock:
        try:
            return await stream.receive()
        except anyio.EndOfStream:
            return None
    except anyio.EndOfStream:
        return None


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
) -> None:
    """Feed ``items`` to ``concurrency`` workers; every row reaches ``record`` exactly once.

    ``stopping()`` returns why the run stops ("" while it goes on): no new row starts and the
    rest become ``not_attempted``.  When ``interrupted`` is set, rows in flight get ``grace``
    seconds to finish, then they are cancelled (they stay "sent" without "done" in the journal;
    ``resume`` settles them by reading the campaign).  A worker takes the next row as soon as
    it is free, so a slow answer holds up only its own row; the rows waiting in the stream are
    the next ones in sheet order (a canary takes the first rows that write).
    """
    send, receive = anyio.create_memory_object_stream[Job](max_buffer_size=concurrency)
    workers: set[anyio.CancelScope] = set()

    def give_up(job: Job) -> None:
        record(_not_attempted(job, f"run stopped before this row: {stopping()}"), True)

    async def worker(stream: MemoryObjectReceiveStream[Job]) -> None:
        async with stream:
            held: Job | None = None  # the row in flight
            with anyio.CancelScope() as scope:
                workers.add(scope)
                while (job := await _next(stream)) is not None:
                    if stopping():
                        give_up(job)
                        continue
                    held = job
                    result = await apply(job)
                    held = None
                    record(result, result.settled)
            if scope.cancelled_caught:  # cut off after the grace period
                if held is not None:
                    record(_not_attempted(held, CUT_OFF_REASON), False)
                async for job in stream:  # settle what is still queued
                    give_up(job)

    async def feed() -> None:
        async with send:
            for item in items:
                if isinstance(item, Elsewhere):
                    skip(item.row)
                elif isinstance(item, Kept):
                    record(item.result, False)
                elif isinstance(item, RowResult):
                    record(item, True)
                elif stopping():
                    give_up(item)
                else:
                    try:
                        send.send_nowait(item)  # the stream's fast path: room is there
                    except anyio.WouldBlock:
                        await send.send(item)  # wait for room: backpressure before reading on

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
