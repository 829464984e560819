"""The run engine: a fixed pool of workers applying rows, one row at a time each (SPEC section 5).

Shape of a run::

    sheet reader ──(bounded stream)──▶ N workers ──▶ sink: journal + results in sheet order
          │                                 │
          └── rows that need no request ────┘   (invalid, kept from a journal, not attempted)

One anyio task group per run; the feeder waits on the stream before it reads on (backpressure), so
memory does not grow with the sheet.  A row's failure is a :class:`RowResult`, never an exception;
only a bug raises.  Cancellation is re-raised; a campaign this run paused is resumed in a shielded
scope.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream

from bulkpatch.client import ApiClient, Reply
from bulkpatch.health import Health
from bulkpatch.journal import JournalWriter
from bulkpatch.merge import (
    MergeResult,
    decide_status,
    guard_mismatches,
    holds_target,
    merge_change,
)
from bulkpatch.outcomes import Outcome
from bulkpatch.report import RowResult
from bulkpatch.retrying import Verdict, backoff_delay, classify_status, error_message
from bulkpatch.rows import CampaignKey, RowChange
from bulkpatch.runstats import RunStats

#: Statuses a campaign may show once resumed (it turns active on its own inside its window).
_RESUMED = frozenset({"scheduled", "active"})
#: How long a shielded resume of a paused campaign may take when the run is being stopped.
RESUME_DEADLINE = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineOptions:
    max_attempts: int = 5
    pause_active: bool = False
    no_read: bool = False
    #: Plan mode: read only, report what would happen.
    plan: bool = False


@dataclass(frozen=True, slots=True)
class Job:
    """A row to apply.  ``in_doubt``: an earlier run sent it and never learnt the answer."""

    change: RowChange
    in_doubt: bool = False


#: What the feeder hands the engine: a row to apply, or a row whose result is already known.
WorkItem = Job | RowResult


@dataclass
class RunControl:
    """Shared run state: why the run stops (if it does), and campaigns paused right now."""

    stop_reason: str = ""
    #: Exit code 3 when set: the run was aborted (bad key, outage, interrupt).
    aborted: bool = False
    paused_now: dict[str, CampaignKey] = field(default_factory=dict)
    left_paused: dict[str, str] = field(default_factory=dict)

    @property
    def stopping(self) -> bool:
        return bool(self.stop_reason)

    def stop(self, reason: str, *, abort: bool = True) -> None:
        if not self.stop_reason:
            self.stop_reason = reason
        self.aborted = self.aborted or abort


def _elapsed_ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


def _status_of(data: Any) -> str | None:
    return data.get("status") if isinstance(data, Mapping) else None


def _updated_at(data: Any) -> str | None:
    value = data.get("updated_at") if isinstance(data, Mapping) else None
    return str(value) if value is not None else None


def _verdict(reply: Reply) -> Verdict:
    """No answer, or a 2xx that could not be read, is worth another try like a 503."""
    if reply.status is None or reply.unreadable:
        return Verdict.TRANSIENT
    return classify_status(reply.status)


def no_read_body(change: RowChange) -> dict[str, Any]:
    """The PATCH body of a ``--no-read`` row: its top-level fields and whole objects as given."""
    return dict(change.changes)


class RowApplier:
    """Applies one row: GET, merge, decide, PATCH (with pause/resume), reconcile when in doubt."""

    def __init__(
        self,
        client: ApiClient,
        *,
        options: EngineOptions,
        journal: JournalWriter | None,
        stats: RunStats,
        control: RunControl,
        health: Health,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._options = options
        self._journal = journal
        self._stats = stats
        self._control = control
        self._health = health
        self._rng = rng or random.Random()

    # -- helpers ---------------------------------------------------------------------------

    def _log(self, event: str, **fields: Any) -> None:
        if self._journal is not None:
            self._journal.write(event, **fields)

    async def _wait_before_retry(
        self, attempt: int, reply: Reply, *, persist: bool = False
    ) -> bool:
        """Back off before the next try; False when the run is stopping instead.

        ``persist``: keep trying although the run is stopping (resuming a campaign we paused).
        """
        delay = backoff_delay(attempt, retry_after=reply.retry_after, uniform=self._rng.uniform)
        self._stats.retries += 1
        await anyio.sleep(delay)
        if persist:
            return True
        return await self._health.retry_permit() and not self._control.stopping

    def _auth_failure(self, reply: Reply) -> None:
        self._control.stop(
            f"the API refused the key (HTTP {reply.status}); fix the key, then run "
            "`bulkpatch resume` on the run directory"
        )

    async def _call(self, send: Callable[[], Awaitable[Reply]], *, persist: bool = False) -> Reply:
        """Send a read or a status change, retrying transient failures.

        A failure while the whole API is failing (``systemic``) does not use up an attempt.
        """
        strikes = 0
        while True:
            reply = await send()
            if reply.ok or reply.stopped:
                return reply
            verdict = _verdict(reply)
            if verdict is not Verdict.TRANSIENT:
                if verdict is Verdict.AUTH:
                    self._auth_failure(reply)
                return reply
            if not reply.systemic:
                strikes += 1
            if strikes >= self._options.max_attempts:
                return reply
            if not await self._wait_before_retry(max(strikes, 1), reply, persist=persist):
                return reply

    def _refused(
        self, row: int, key: CampaignKey, reply: Reply, *, what: str, attempts: int = 0
    ) -> RowResult:
        """The outcome of a request that did not succeed."""
        verdict = _verdict(reply)
        if reply.stopped or (verdict is Verdict.TRANSIENT and self._control.stopping):
            # The run stopped before this row could finish: resume takes it up again.
            return RowResult(
                row,
                key,
                Outcome.NOT_ATTEMPTED,
                f"{what}: run stopped: {self._control.stop_reason or reply.error}",
                attempts=attempts,
            )
        if reply.status is None or reply.unreadable:
            error = reply.error or f"HTTP {reply.status} with an answer that could not be read"
            return RowResult(
                row,
                key,
                Outcome.FAILED,
                f"{what}: {error} (gave up after retries)",
                http_status=reply.status,
                attempts=attempts,
            )
        message = error_message(reply.status, reply.text)
        outcome = Outcome.REJECTED
        if verdict is Verdict.AUTH:
            outcome, message = Outcome.NOT_ATTEMPTED, f"API key refused ({message})"
        elif verdict is Verdict.TRANSIENT:
            outcome, message = Outcome.FAILED, f"{message} (gave up after retries)"
        elif verdict is Verdict.NOT_FOUND:
            message = f"campaign not found ({message})"
        return RowResult(
            row, key, outcome, f"{what}: {message}", http_status=reply.status, attempts=attempts
        )

    # -- the procedure ---------------------------------------------------------------------

    async def apply(self, job: Job) -> RowResult:
        started = time.monotonic()
        result = await self._apply(job)
        return replace(result, duration_ms=_elapsed_ms(started))

    async def _apply(self, job: Job) -> RowResult:
        change, key, row = job.change, job.change.key, job.change.row
        if self._options.no_read and not job.in_doubt:
            body = no_read_body(change)
            return await self._patch(change, body, tuple(change.changes), before={})

        reply = await self._call(lambda: self._client.get_campaign(key))
        if not reply.ok or not isinstance(reply.data, Mapping):
            if reply.ok:
                return RowResult(row, key, Outcome.FAILED, "GET: the answer was not a JSON object")
            return self._refused(row, key, reply, what="GET")
        current: Mapping[str, Any] = reply.data
        status = _status_of(current)
        if job.in_doubt and holds_target(current, change):
            self._stats.reconciliations += 1
            return RowResult(
                row,
                key,
                Outcome.UPDATED,
                "confirmed by reading back: the change sent before the interruption is in place",
                http_status=reply.status,
                changed_fields=tuple(change.changes),
                campaign_status=status,
                updated_at=_updated_at(current),
            )

        merged = merge_change(current, change)
        if merged.problems:
            return RowResult(
                row,
                key,
                Outcome.INVALID,
                "; ".join(merged.problems),
                campaign_status=status,
                changes=_describe(merged),
            )
        stale = guard_mismatches(current, change.expects)
        if stale:
            return RowResult(
                row,
                key,
                Outcome.SKIPPED,
                "stale: " + "; ".join(stale),
                campaign_status=status,
                changes=_describe(merged),
            )
        if merged.unchanged:
            return RowResult(
                row,
                key,
                Outcome.UNCHANGED,
                "campaign already holds every target value",
                campaign_status=status,
                updated_at=_updated_at(current),
            )
        decision = decide_status(status, pause_active=self._options.pause_active)
        if not decision.patch:
            return RowResult(
                row,
                key,
                Outcome.SKIPPED,
                decision.reason,
                campaign_status=status,
                changed_fields=merged.changed_fields,
                changes=_describe(merged),
            )
        if self._options.plan:
            how = "would pause, update, resume" if decision.pause_first else ""
            return RowResult(
                row,
                key,
                Outcome.UPDATED,
                how,
                campaign_status=status,
                changed_fields=merged.changed_fields,
                changes=_describe(merged),
            )
        if decision.pause_first:
            return await self._pause_patch_resume(change, merged)
        return await self._patch(change, merged.body, merged.changed_fields, merged.before)

    async def _patch(
        self,
        change: RowChange,
        body: dict[str, Any],
        changed: tuple[str, ...],
        before: dict[str, Any],
    ) -> RowResult:
        """PATCH with retries; an unknown outcome is settled by reading the campaign back.

        ``attempts`` counts PATCHes sent (the report's column); ``strikes`` counts the failures
        that use up ``--max-attempts`` (a failure during an API-wide outage does not).
        """
        row, key = change.row, change.key
        attempts = strikes = 0
        last: Reply | None = None
        in_doubt = False

        def done(reply: Reply, reason: str = "") -> RowResult:
            data = reply.data
            return RowResult(
                row,
                key,
                Outcome.UPDATED,
                reason,
                http_status=reply.status,
                attempts=attempts,
                changed_fields=changed,
                campaign_status=_status_of(data),
                updated_at=_updated_at(data),
                before=before,
            )

        while True:
            if in_doubt:
                assert last is not None
                check = await self._call(lambda: self._client.get_campaign(key))
                self._stats.reconciliations += 1
                if not (check.ok and isinstance(check.data, Mapping)):
                    # The PATCH may have landed and nobody can tell: the row stays "sent"
                    # without "done" in the journal, so that resume reads it back first.
                    result = self._refused(
                        row,
                        key,
                        check,
                        what=f"PATCH outcome unknown ({last.describe()}); reading it back",
                        attempts=attempts,
                    )
                    if result.outcome is Outcome.REJECTED:
                        result = replace(result, outcome=Outcome.FAILED)
                    return replace(result, before=before, changed_fields=changed, settled=False)
                if holds_target(check.data, change):
                    return done(check, f"confirmed by reading back after: {last.describe()}")
                in_doubt = False
            if last is not None and (strikes >= self._options.max_attempts or last.stopped):
                return replace(
                    self._refused(row, key, last, what="PATCH", attempts=attempts),
                    changed_fields=changed,
                )
            if attempts:
                assert last is not None
                if not await self._wait_before_retry(max(strikes, 1), last):
                    return replace(
                        self._refused(row, key, last, what="PATCH", attempts=attempts),
                        changed_fields=changed,
                    )
            self._log(
                "sent",
                row=row,
                key=str(key),
                op="patch",
                attempt=attempts + 1,
                fields=list(changed),
                before=before,
            )
            reply = await self._client.patch_campaign(key, body)
            last = reply
            if reply.stopped:
                continue
            attempts += 1
            if reply.ok:
                return done(reply)
            if not reply.systemic:
                strikes += 1
            if reply.outcome_unknown:
                in_doubt = True
                continue
            verdict = _verdict(reply)
            if verdict is Verdict.AUTH:
                self._auth_failure(reply)
            if verdict is not Verdict.TRANSIENT:
                return replace(
                    self._refused(row, key, reply, what="PATCH", attempts=attempts),
                    changed_fields=changed,
                )

    async def _set_status(
        self, key: CampaignKey, row: int, action: str, targets: frozenset[str], *, persist: bool
    ) -> tuple[Reply, bool | None]:
        """PUT a status change; anything but a clear success is settled by reading the status.

        Returns the last reply and whether the campaign is now in one of ``targets``: True,
        False, or None when nobody can tell (no answer, and the read-back failed too).  A lost
        answer may hide a change that was made, and a transport that re-sends a PUT on its own
        gets a refusal ("already paused") for a change that was made: both are read back.
        """
        self._log("sent", row=row, key=str(key), op=action)
        reply = await self._call(lambda: self._client.set_status(key, action), persist=persist)
        if reply.ok:
            return reply, True
        check = await self._call(lambda: self._client.get_campaign(key), persist=persist)
        self._stats.reconciliations += 1
        if check.ok and isinstance(check.data, Mapping):
            if _status_of(check.data) in targets:
                return check, True
            return reply, False
        return reply, None

    async def _pause_patch_resume(self, change: RowChange, merged: MergeResult) -> RowResult:
        row, key = change.row, change.key
        paused, state = await self._set_status(
            key, row, "pause", frozenset({"paused"}), persist=False
        )
        if state is not True:
            refused = replace(
                self._refused(row, key, paused, what="pausing the active campaign"),
                changed_fields=merged.changed_fields,
            )
            if state is False:
                self._log("pause_refused", row=row, key=str(key))
                return replace(refused, campaign_status="active")
            # Nobody can tell whether the pause went through: resume it to be sure (resuming a
            # campaign that is not paused is refused, and the read-back then says it is live).
            if refused.outcome is Outcome.REJECTED:
                refused = replace(refused, outcome=Outcome.FAILED)
            refused = replace(
                refused,
                reason=f"{refused.reason}; could not tell whether the campaign was paused",
            )
            why = await self._resume_shielded(key, row)
            if why is None:
                return refused
            return replace(
                refused,
                reason=f"{refused.reason}, and resuming it failed ({why}): it may be LEFT PAUSED",
            )
        self._log("paused", row=row, key=str(key))
        self._control.paused_now[str(key)] = key
        result: RowResult | None = None
        resumed: str | None = "the resume was never attempted"
        try:
            result = await self._patch(change, merged.body, merged.changed_fields, merged.before)
        finally:
            # Runs when cancelled too: a campaign we paused is never left paused silently.
            resumed = await self._resume_shielded(key, row)
        if resumed is None:
            return replace(result, campaign_status="scheduled")
        outcome = result.outcome if result.outcome is not Outcome.UPDATED else Outcome.FAILED
        note = "the update was applied, but " if result.outcome is Outcome.UPDATED else ""
        return replace(
            result,
            outcome=outcome,
            reason=(f"{result.reason}; " if result.reason else "")
            + f"{note}resuming the campaign failed ({resumed}); it is LEFT PAUSED — "
            "`bulkpatch resume` on the run directory resumes it",
            campaign_status="paused",
        )

    async def _resume_shielded(self, key: CampaignKey, row: int) -> str | None:
        """Resume a campaign, shielded from cancellation, within :data:`RESUME_DEADLINE`."""
        why: str | None = f"no answer within {RESUME_DEADLINE:g} s"
        with anyio.CancelScope(shield=True), anyio.move_on_after(RESUME_DEADLINE):
            why = await self._resume(key, row)
        if why is not None:
            self._control.paused_now.pop(str(key), None)
            self._control.left_paused.setdefault(str(key), why)
        return why

    async def _resume(self, key: CampaignKey, row: int) -> str | None:
        """Resume a campaign this run paused; None when done, else why it failed.

        It keeps trying while the run is stopping: leaving a campaign paused is the failure
        users fear most.
        """
        reply, state = await self._set_status(key, row, "resume", _RESUMED, persist=True)
        name = str(key)
        if state is True:
            self._log("resumed", row=row, key=name)
            self._control.paused_now.pop(name, None)
            return None
        if reply.status is None or reply.unreadable:
            return reply.describe()
        return error_message(reply.status, reply.text)

    async def resume_left_paused(self, key: CampaignKey, row: int) -> str | None:
        """Resume a campaign an earlier run paused and did not resume (``bulkpatch resume``)."""
        return await self._resume_shielded(key, row)


def _describe(merged: MergeResult) -> str:
    return "; ".join(
        f"{path}: {_short(old)} -> {_short(new)}" for path, (old, new) in merged.diff.items()
    )


def _short(value: Any, limit: int = 80) -> str:
    """A value as a person reads it in a plan: lists of words joined, the rest as JSON."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        text = ",".join(str(v) for v in value)
    else:
        text = json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: ``sink(result, journal)``: ``journal`` is False for a result that must not get a ``done`` line
#: (carried over from an earlier run, or cut off in flight so that ``resume`` settles it).
Sink = Callable[[RowResult, bool], None]


#: Rows travel from the feeder to the workers in small batches, so the stream's cost is paid
#: per batch rather than per row; each worker still applies one row at a time.
BATCH = 8


async def run_pool(
    items: Iterator[WorkItem],
    applier: RowApplier,
    *,
    concurrency: int,
    control: RunControl,
    sink: Sink,
    grace: float = 5.0,
    interrupted: anyio.Event | None = None,
) -> None:
    """Feed ``items`` to ``concurrency`` workers; every row reaches ``sink`` exactly once.

    The feeder waits for room in a bounded stream before it reads on (backpressure: at most
    ``concurrency`` batches wait), so memory does not grow with the sheet.

    When ``interrupted`` is set (the caller also calls ``control.stop``), no new row starts: the
    rest of the sheet becomes ``not_attempted``, rows in flight get ``grace`` seconds to finish,
    then they are cancelled (they stay "sent" without "done" in the journal; ``resume`` settles
    them by reading the campaign).
    """
    send, receive = anyio.create_memory_object_stream[list[Job]](max_buffer_size=concurrency)
    workers: set[anyio.CancelScope] = set()

    def give_up(jobs: list[Job]) -> None:
        for job in jobs:
            sink(_not_attempted(job, control), True)

    async def worker(stream: ObjectReceiveStream[list[Job]]) -> None:
        async with stream:
            held: list[Job] = []  # the batch in hand; held[0] is in flight
            with anyio.CancelScope() as scope:
                workers.add(scope)
                async for batch in stream:
                    held = batch
                    while held and not control.stopping:
                        result = await applier.apply(held[0])
                        del held[0]
                        sink(result, result.settled)
                    give_up(held)
                    held = []
            if scope.cancelled_caught:  # cut off after the grace period
                if held:
                    sink(_cut_off(held[0]), False)
                    give_up(held[1:])
                async for batch in stream:  # settle what is still queued
                    give_up(batch)

    async def feed() -> None:
        async with send:
            batch: list[Job] = []
            for item in items:
                if isinstance(item, RowResult):
                    sink(item, False)
                elif control.stopping:
                    give_up([item])
                else:
                    batch.append(item)
                    if len(batch) == BATCH:
                        await send.send(batch)
                        batch = []
            if batch:
                if control.stopping:
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


def _not_attempted(job: Job, control: RunControl) -> RowResult:
    change = job.change
    return RowResult(
        change.row,
        change.key,
        Outcome.NOT_ATTEMPTED,
        f"run stopped before this row: {control.stop_reason}",
    )


def _cut_off(job: Job) -> RowResult:
    change = job.change
    return RowResult(
        change.row,
        change.key,
        Outcome.NOT_ATTEMPTED,
        "interrupted in flight; `bulkpatch resume` reads the campaign back before sending again",
    )
