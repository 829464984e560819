"""One session of a run: set up, run the pool, write the reports.

A new run (``run`` / ``plan``) first makes its run directory and copies the sheet into it (the
copy is what gets checked, applied, retried and resumed); a resumed run opens that copy again.
Then the sheet is checked once, the pool applies the rows, and the reports are written.  All
output goes to the event sink; nothing here prints or exits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio

from bulkpatch.core.errors import StorageError, UsageError
from bulkpatch.core.events import EventSink, Notice, RunFinished, RunStarted
from bulkpatch.core.options import RunOptions
from bulkpatch.core.results import RowResult
from bulkpatch.core.shards import Shard, parse_shard
from bulkpatch.core.summary import RunSummary
from bulkpatch.core.timing import Timing
from bulkpatch.core.urls import check_base_url
from bulkpatch.engine.amends import Amends
from bulkpatch.engine.closing import close_reports, emit_tick, formula_warning
from bulkpatch.engine.ending import closing_summary
from bulkpatch.engine.executor import Executor, RunControl, still_paused
from bulkpatch.engine.planner import PlanOptions
from bulkpatch.engine.pool import Deferred, Job, Record, run_pool
from bulkpatch.engine.preflight import checked_sheet, own_copy
from bulkpatch.engine.procedure import apply_row, work_items
from bulkpatch.engine.recorder import Recorder
from bulkpatch.engine.results import ANSWER_DIFFERS
from bulkpatch.engine.safeguards import Safeguards
from bulkpatch.engine.stats import RunStats
from bulkpatch.engine.stops import Stops
from bulkpatch.engine.target import Lanes, api_target, build_lanes, read_keys
from bulkpatch.engine.windowing import RunWindow
from bulkpatch.rundir.directory import (
    FileLock,
    earlier_paused,
    earlier_paused_notice,
    lock_run_dir,
    lock_work,
    make_run_dir,
    remove_run_dir,
    storage_error,
    with_next_step,
)
from bulkpatch.rundir.files import PLAN_COLUMNS, RESULT_COLUMNS, OrderedResults
from bulkpatch.rundir.journal import JournalState, JournalWriter, begin_journal
from bulkpatch.rundir.names import JOURNAL, PLAN_CSV, RESULTS_CSV, SIMULATOR_STATE, retry_name
from bulkpatch.sheet import Sheet, snapshot_sheet
from bulkpatch.transport.client import ApiClient, Lane, new_session
from bulkpatch.transport.keysfile import ResolvedKey
from bulkpatch.transport.retrybudget import RetryBudget
from bulkpatch.validation import SheetCheck

Mode = Literal["run", "plan", "resume"]


class Session:
    def __init__(
        self,
        mode: Mode,
        options: RunOptions,
        *,
        sheet: Path,
        api_key: str,
        on_event: EventSink,
        stopper: Any,
        timing: Timing,
        run_dir: Path | None = None,
        prior: JournalState | None = None,
    ) -> None:
        self.mode = mode
        self.options = options
        self.sheet_path = sheet
        self._api_key = api_key
        self._emit = on_event
        self._stopper = stopper
        self._timing = timing
        self.run_dir = run_dir
        self.prior = prior
        self.control = RunControl(plan_options=PlanOptions(pause_active=options.pause_active))
        self.stats = RunStats(clock=timing.clock)
        self.interrupted = anyio.Event()
        self.journal: JournalWriter | None = None
        self._locks: list[FileLock] = []
        self._earlier: dict[str, str] = {}
        self._lane: Lane | None = None
        self._lanes: Lanes | None = None
        self._shard: Shard | None = None
        self._sheet_rows = 0
        self._org_keys: dict[str, ResolvedKey] = {}
        self._sent_writes = prior is not None
        #: Rows that left a campaign paused, amended if it is resumed after the last row.
        self._amends = Amends()
        self.safeguards = Safeguards(control=self.control, emit=on_event)
        self.stops = Stops(self.control, notice=self._notice, amends=self._amends, stats=self.stats)
        #: Rows whose PATCH was accepted with an answer that differs from what was sent.
        self._answers_differing = 0
        self.window = RunWindow.of(options, timing, sending=mode != "plan")

    # -- set-up ----------------------------------------------------------------------------

    def _notice(self, level: Any, text: str, code: str = "", **data: Any) -> None:
        self._emit(Notice(level, text, code, data))

    def _interrupt(self, reason: str) -> None:
        self.control.stop(reason)
        self.interrupted.set()

    def _flush(self) -> None:
        if self.journal is not None:
            self.journal.sync()

    async def execute(self) -> RunSummary:
        options = self.options
        base_url = options.base_url
        if not options.simulate:
            try:
                base_url = check_base_url(options.base_url)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        self._shard = parse_shard(options.shard) if options.shard else None
        self._org_keys = read_keys(options)
        for resolved in self._org_keys.values():
            for warning in resolved.warnings:
                self._notice("warning", warning, "key_file")
        await self.window.open(self._emit, lambda: str(self._stopper.reason))
        created = False
        try:
            if self.prior is None:
                self.run_dir = make_run_dir(
                    options.report_dir,
                    self.sheet_path.stem,
                    datetime.now(UTC),
                    shard=str(self._shard) if self._shard else None,
                )
                created = True
                self._locks.append(lock_run_dir(self.run_dir))
                sheet, sha = snapshot_sheet(
                    self.sheet_path, self.run_dir, fmt=options.fmt, sheet_name=options.sheet_name
                )
            else:
                assert self.run_dir is not None
                self._locks.append(lock_run_dir(self.run_dir))
                sheet, sha, moved = own_copy(
                    self.run_dir, self.prior, self.sheet_path, self.options.sheet_name
                )
                if moved:
                    self._notice("info", moved, "sheet_changed")
            check = checked_sheet(sheet, options, self.mode, self._org_keys, self._shard)
            self.safeguards = Safeguards.prepare(
                self.mode,
                options,
                run_dir=self.run_dir,
                sheet_sha256=sha,
                prior_start=self.prior.start if self.prior is not None else None,
                control=self.control,
                emit=self._emit,
                retry_name=retry_name(sheet.kind),
            )
            if not options.simulate:
                work = f"{sha}|shard {self._shard}" if self._shard else sha
                if self.mode != "plan":  # a plan only reads: it holds no run back
                    self._locks.append(lock_work(options.report_dir, base_url, work, self.run_dir))
                self._earlier = earlier_paused(
                    options.report_dir, base_url=base_url, exclude=self.run_dir
                )
            return await self._run(sheet, check, sha)
        except (UsageError, StorageError) as exc:
            if created and not self._sent_writes and self.run_dir is not None:
                self._release()
                remove_run_dir(self.run_dir)
                self.run_dir = None
            if isinstance(exc, StorageError):
                raise with_next_step(
                    exc,
                    sent=self._sent_writes,
                    run_dir=self.run_dir,
                    simulated=self.options.simulate,
                ) from None
            raise
        finally:
            self._release()

    def _release(self) -> None:
        while self._locks:
            self._locks.pop().release()

    # -- the run ---------------------------------------------------------------------------

    async def _run(self, sheet: Sheet, check: SheetCheck, sha: str) -> RunSummary:
        options = self.options
        run_dir = self.run_dir
        assert run_dir is not None
        started = datetime.now(UTC)
        # A shard counts its own rows (progress, start lines, summary); the sheet's are kept too.
        self._sheet_rows = check.rows
        rows = check.shard_rows if check.shard_rows is not None else check.rows
        self.stats.rows_total = rows
        plan_mode = self.mode == "plan"
        if not plan_mode:
            try:
                self.journal = JournalWriter(
                    run_dir / JOURNAL, on_failure=self.stops.journal_failed
                )
            except OSError as exc:
                raise storage_error("write the journal in", run_dir, exc) from None
            begin_journal(
                self.journal,
                resumed=self.prior is not None,
                sheet=self.sheet_path,
                sha256=sha,
                rows=rows,
                options=options.for_journal(),
                safeguards=self.safeguards.journal_fields(),
            )
        name, columns = (PLAN_CSV, PLAN_COLUMNS) if plan_mode else (RESULTS_CSV, RESULT_COLUMNS)
        try:
            results = OrderedResults(run_dir / name, check.row_numbers(), columns)
        except OSError as exc:
            if self.journal is not None:
                self.journal.close()
            raise storage_error("write the results in", run_dir, exc) from None
        self._stopper.attach(self._interrupt, self._flush)
        self._emit(
            RunStarted(
                run_dir=run_dir,
                mode=self.mode,
                rows=rows,
                resumed=self.prior is not None,
                target_rate=options.rate,
                simulated=options.simulate,
                estimate=self.window.first_estimate(
                    rows, len(self.prior.done) if self.prior else 0
                ),
            )
        )
        if self._earlier:
            self._notice(
                "warning",
                earlier_paused_notice(self._earlier, options.report_dir),
                "earlier_paused",
                campaigns=dict(self._earlier),
            )
        recorder = Recorder(
            results=results,
            stats=self.stats,
            journal=self.journal,
            on_event=self._emit,
            plan_mode=plan_mode,
        )
        self.stops.recorder, self.stops.journal = recorder, self.journal
        try:
            state_file = run_dir / SIMULATOR_STATE  # kept by a --simulate run
            target = api_target(
                self.options, self._api_key, check.keys, self._org_keys, save_to=state_file
            )
            async with target as (base_url, api_key):
                await self._pool(sheet, check, recorder, base_url, api_key)
        except BaseException:
            results.abandon()
            if self.journal is not None:
                self.journal.close()
            raise
        self.stats.finished = self._timing.clock()
        return self._finish(sheet, check, sha, results, recorder, started)

    async def _pool(
        self, sheet: Sheet, check: SheetCheck, recorder: Recorder, base_url: str, api_key: str
    ) -> None:
        options, timing = self.options, self._timing
        lanes = self._lanes = build_lanes(
            options, api_key, self._org_keys, timing, on_give_up=self.stops.gave_up
        )
        self._lane, self.stops.lanes = lanes.all()[0], lanes
        budget = RetryBudget(clock=timing.clock, sleep=timing.sleep)
        try:
            if options.rate_store:
                why = await lanes.share_rate(
                    options.rate_store,
                    base_url,
                    max_outage=options.max_outage,
                    timing=timing,
                    on_outage=lambda text: self._notice("warning", text, "rate_store"),
                    on_recover=lambda: self._notice(
                        "info", "the rate store answers again; going on", "rate_store"
                    ),
                )
                if why:  # nothing sent: the rows end not_attempted, the reports are written
                    self.control.stop(why)
                    self._notice("error", f"stopping: {why}", "rate_store")
            await self._serve(sheet, check, recorder, base_url, lanes, budget)
        finally:
            with anyio.CancelScope(shield=True):
                await lanes.aclose()

    async def _serve(
        self,
        sheet: Sheet,
        check: SheetCheck,
        recorder: Recorder,
        base_url: str,
        lanes: Lanes,
        budget: RetryBudget,
    ) -> None:
        options, timing, control = self.options, self._timing, self.control
        async with new_session(options.concurrency) as http:
            executor = self._executor(http, base_url, lanes, budget)
            guards = self.safeguards
            guards.bind(executor.read, self.journal.write if self.journal is not None else None)

            async def apply(job: Job) -> RowResult | Deferred:
                result = await apply_row(
                    job,
                    executor,
                    control=control,
                    no_read=options.no_read,
                    plan_mode=self.mode == "plan",
                    clock=timing.clock,
                    gate=guards.gate,
                    hold=self.window.hold,
                )
                if isinstance(result, RowResult):
                    await guards.finished(result)
                return result

            async with anyio.create_task_group() as tg:
                tg.start_soon(self._tick)
                self.window.watch(tg, control, self._notice)
                tg.start_soon(recorder.report_rows)
                if self.journal is not None:
                    tg.start_soon(self.journal.keep_synced)
                resumed: set[int] = set()
                if self.prior is not None and self.prior.paused:
                    resumed = await executor.resume_earlier(
                        self.prior.paused,
                        notice=lambda level, text: self._notice(level, text, "left_paused"),
                    )
                await run_pool(
                    work_items(sheet, check, options, self.prior, self._shard, resumed=resumed),
                    apply,
                    concurrency=options.concurrency,
                    stopping=lambda: control.stop_reason,
                    record=self._recording(recorder, lanes),
                    skip=recorder.skip,
                    interrupted=self.interrupted,
                    clock=timing.clock,
                    sleep=timing.sleep,
                )
                recorder.report_pending()
                await guards.at_end()
                await self.stops.after_rows(
                    executor, within=options.max_outage, interrupted=self.interrupted
                )
                tg.cancel_scope.cancel()
            recorder.report_pending()

    def _executor(self, http: Any, base_url: str, lanes: Lanes, budget: RetryBudget) -> Executor:
        options, timing = self.options, self._timing
        client = ApiClient(
            http,
            base_url=base_url,
            lanes=lanes,
            budget=budget,
            timeout=options.timeout,
            on_reply=self._on_reply,
            on_start=self.stats.request_started,
            on_refused=self.stops.key_refused,
            on_store_failed=self.stops.store_failed,
            clock=timing.clock,
        )
        return Executor(
            client,
            control=self.control,
            budget=budget,
            journal=self.journal,
            max_attempts=options.max_attempts,
            on_retry=self.stats.record_retry,
            clock=timing.clock,
            sleep=timing.sleep,
            uniform=timing.uniform,
        )

    def _recording(self, recorder: Recorder, lanes: Lanes) -> Record:
        """What the pool calls with each finished row."""
        where, stops, left_paused = self.run_dir, self.stops, self.control.left_paused
        assert where is not None

        def record(result: RowResult, fresh: bool) -> None:
            if fresh:
                result = stops.forbidden.check(result, lanes)
            self._amends.note(result, left_paused)
            self.window.note(result)
            if ANSWER_DIFFERS in result.reason:
                self._answers_differing += 1
            try:
                recorder.record(result, fresh=fresh)
            except OSError as exc:  # the results file: the disk is full, say
                stops.stop_storing(storage_error("write the results in", where, exc))

        return record

    def _on_reply(self, reply: Any) -> None:
        self.stats.record_reply(reply)
        if reply.method in ("PATCH", "PUT"):
            self._sent_writes = True

    async def _tick(self) -> None:
        """Once a second: a ``tick`` journal line and a progress event."""
        while True:
            await anyio.sleep(1.0)
            self._emit_tick()

    def _emit_tick(self) -> None:
        lane = self._lane
        emit_tick(
            self.stats,
            self.journal,
            self._emit,
            target=lane.pacer.current_rate if lane is not None else self.options.rate,
            breaker_open=lane.breaker.is_open if lane is not None else False,
        )

    # -- the end -----------------------------------------------------------------------------

    def _finish(
        self,
        sheet: Sheet,
        check: SheetCheck,
        sha: str,
        results: OrderedResults,
        recorder: Recorder,
        started: datetime,
    ) -> RunSummary:
        options, control = self.options, self.control
        run_dir = self.run_dir
        assert run_dir is not None
        self._emit_tick()
        code, steps, data = closing_summary(
            mode=self.mode,
            options=options,
            stats=self.stats,
            control=control,
            safeguards=self.safeguards,
            groups=recorder.groups,
            run_dir=run_dir,
            sheet={"path": str(self.sheet_path), "sha256": sha, "copy": str(sheet.path)},
            retry_name=retry_name(sheet.kind),
            started=started,
            lanes=self._lanes.all() if self._lanes is not None else [],
            shard=str(self._shard) if self._shard else None,
            earlier=self._earlier,
            window_closed=self.window.left_for_later(self.stats.outcomes),
        )
        data.update(
            self.window.summary_fields(self.mode, self.stats.rows_total, self.stats.outcomes)
        )
        data["sheet_rows"] = self._sheet_rows
        data["answers_differing"] = self._answers_differing
        formula_notes = close_reports(
            self.mode,
            sheet,
            recorder,
            run_dir,
            data,
            results=results,
            amends=self._amends,
            journal=self.journal,
            exit_code=int(code),
            plan_meta={
                "sheet": str(self.sheet_path),
                "sha256": sha,
                "created": started.isoformat(),
                "options": options.for_journal(),
                "counts": data["outcomes"],
            },
        )
        if formula_notes:
            self._notice("warning", formula_warning(formula_notes, sheet.kind), "formula_notes")
        failure = self.stops.storage_failure or (self.journal.failure if self.journal else "")
        if failure:
            raise StorageError(failure + still_paused(control))
        summary = RunSummary(
            run_dir=run_dir,
            mode=self.mode,
            exit_code=int(code),
            outcomes=dict(data["outcomes"]),
            stop_reason=control.stop_reason,
            next_steps=tuple(steps),
            left_paused={str(k): why for k, (_, why) in control.left_paused.items()},
            earlier_paused=dict(self._earlier),
            data=data,
        )
        self._emit(RunFinished(summary))
        return summary
