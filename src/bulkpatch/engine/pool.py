"""A fixed pool of workers applying rows, one row at a time each.

    feeder ──(bounded stream, one row at a time)──▶ N workers ──▶ record(result)
       │                                                  ▲
       └── rows that need no request (invalid, kept) ─────┘

One task group; the feeder waits for room in the stream before it reads on (backpressure: at most
``concurrency`` rows wait), so memory does not grow with the sheet.  A free worker takes the
next row: no row waits behind another's slow answer (a long ``Retry-After``, say).  Every row
reaches ``record`` exactly once.  A row's failure is a result, never an exception; only a bug
raises.  A row that must wait (a campaign inside its calling hours) comes back from its worker as
a :class:`Deferred`: the worker is free at once, and the feeder hands the row out again when it
is due (``bulkpatch.engine.deferred``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import RowResult
from bulkpatch.core.rows import RowChange
from bulkpatch.engine.deferred import Later

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


@dataclass(frozen=True, slots=True)
class Deferred:
    """A row that must not go yet: it comes back after ``delay`` seconds (read again then);
    ``result`` is what it is if the run stops before that."""

    job: Job
    delay: float
    result: RowResult


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


async def _hand_out(send: MemoryObjectSendStream[Job], later: Later[Deferred], job: Job) -> None:
    later.sent()
    try:
        send.send_nowait(job)  # the stream's fast path: room is there
    except anyio.WouldBlock:
        await send.send(job)  # wait for room: backpressure before reading on


async def _feed(
    items: Iterator[WorkItem],
    send: MemoryObjectSendStream[Job],
    later: Later[Deferred],
    record: Record,
    skip: Skip,
    stopping: Callable[[], str],
) -> None:
    """Hand the sheet's rows out in order (deferred ones once due, in between), then the
    deferred ones left until none waits or is in flight; settle the rest if the run stops."""
    async with send:
        for item in items:
            if isinstance(item, Elsewhere):
                skip(item.row)
            elif isinstance(item, Kept):
                record(item.result, False)
            elif isinstance(item, RowResult):
                record(item, True)
            elif stopping():
                record(_not_attempted(item, f"run stopped before this row: {stopping()}"), True)
            else:
                if len(later):
                    for due in list(later.due()):
                        await _hand_out(send, later, due.job)
                await _hand_out(send, later, item)
        while (waited := await later.next(stopping)) is not None:
            await _hand_out(send, later, waited.job)
        for left in later.drain():
            record(left.result, True)


async def run_pool(
    items: Iterator[WorkItem],
    apply: Callable[[Job], Awaitable[RowResult | Deferred]],
    *,
    concurrency: int,
    stopping: Callable[[], str],
    record: Record,
    skip: Skip = lambda row: None,
    interrupted: anyio.Event | None = None,
    grace: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> None:
    """Feed ``items`` to ``concurrency`` workers; every row reaches ``record`` exactly once.

    ``stopping()`` returns why the run stops ("" while it goes on): no new row starts and the
    rest become ``not_attempted``.  When ``interrupted`` is set, rows in flight get ``grace``
    seconds to finish, then they are cancelled (they stay "sent" without "done" in the journal;
    ``resume`` settles them by reading the campaign).  A worker takes the next row as soon as
    it is free, so a slow answer holds up only its own row; the rows waiting in the stream are
    the next ones in sheet order (a canary takes the first rows that write).  A deferred row
    waits on ``clock`` / ``sleep`` in a heap, not in a worker; the run stopping leaves it with
    its own ``result``.
    """
    send, receive = anyio.create_memory_object_stream[Job](max_buffer_size=concurrency)
    workers: set[anyio.CancelScope] = set()
    later: Later[Deferred] = Later(clock, sleep)

    def give_up(job: Job) -> None:
        record(_not_attempted(job, f"run stopped before this row: {stopping()}"), True)
        later.finished()

    def finish(result: RowResult | Deferred) -> None:
        if not isinstance(result, Deferred):
            record(result, result.settled)
        elif later.closed or stopping():
            record(result.result, True)
        else:
            later.add(result, result.delay)
        later.finished()

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
                    finish(result)
            if scope.cancelled_caught:  # cut off after the grace period
                if held is not None:
                    record(_not_attempted(held, CUT_OFF_REASON), False)
                    later.finished()
                async for job in stream:  # settle what is still queued
                    give_up(job)

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
            tg.start_soon(_feed, items, send, later, record, skip, stopping)
        outer.cancel_scope.cancel()
