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

from bulkpatch.budget import RetryBudget
from bulkpatch.client import ApiClient, Lane, new_session
from bulkpatch.errors import (
    InvalidSheetError,
    JournalError,
    StorageError,
    UsageError,
)
from bulkpatch.events import EventSink, Notice, Progress, RunFinished, RunStarted
from bulkpatch.executor import Executor, RunControl
from bulkpatch.html.planpage import write_plan_page
from bulkpatch.html.runreport import write_run_report
from bulkpatch.journal import FORMAT, JOURNAL_NAME, JournalState, JournalWriter
from bulkpatch.options import RunOptions
from bulkpatch.outcomes import ExitCode
from bulkpatch.planner import PlanOptions
from bulkpatch.pool import Job, run_pool
from bulkpatch.procedure import apply_row, work_items
from bulkpatch.recorder import Recorder
from bulkpatch.reports import (
    PLAN_COLUMNS,
    RESULT_COLUMNS,
    OrderedResults,
    csv_to_parquet,
    write_json,
)
from bulkpatch.results import RowResult
from bulkpatch.rows import CampaignKey
from bulkpatch.rundir import (
    FileLock,
    earlier_paused,
    lock_run_dir,
    lock_work,
    make_run_dir,
    remove_run_dir,
    storage_error,
)
from bulkpatch.safeguards import Safeguards
from bulkpatch.sheet import Sheet, copy_rows, file_sha256, open_sheet, snapshot_sheet
from bulkpatch.stats import RunStats
from bulkpatch.summary import RunSummary, exit_code_for, next_steps
from bulkpatch.target import api_target, make_lane
from bulkpatch.timing import Timing
from bulkpatch.urls import check_base_url
from bulkpatch.validation import SheetCheck, check_sheet
from bulkpatch.version import __version__

Mode = Literal["run", "plan", "resume"]


def new_run(
    mode: Mode,
    sheet: Path,
    options: RunOptions,
    *,
    api_key: str,
    on_event: EventSink,
    stopper: Any,
    timing: Timing,
) -> Session:
    return Session(
        mode,
        options,
        sheet=sheet,
        api_key=api_key,
        on_event=on_event,
        stopper=stopper,
        timing=timing,
    )


def resumed_run(
    run_dir: Path,
    state: JournalState,
    options: RunOptions,
    *,
    api_key: str,
    on_event: EventSink,
    stopper: Any,
    timing: Timing,
) -> Session:
    assert state.start is not None
    return Session(
        "resume",
        options,
        sheet=Path(str(state.start.get("sheet", ""))),
        api_key=api_key,
        on_event=on_event,
        stopper=stopper,
        timing=timing,
        run_dir=run_dir,
        prior=state,
    )


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
        self._sent_writes = prior is not None
        self.safeguards = Safeguards(control=self.control, emit=on_event)

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
        created = False
        try:
            if self.prior is None:
                self.run_dir = make_run_dir(
                    options.report_dir, self.sheet_path.stem, datetime.now(UTC)
                )
                created = True
                self._locks.append(lock_run_dir(self.run_dir))
                sheet, sha = snapshot_sheet(
                    self.sheet_path, self.run_dir, fmt=options.fmt, sheet_name=options.sheet_name
                )
            else:
                assert self.run_dir is not None
                self._locks.append(lock_run_dir(self.run_dir))
                sheet, sha = self._own_copy(self.run_dir, self.prior)
            check = self._check(sheet)
            self.safeguards = Safeguards.prepare(
                self.mode,
                options,
                run_dir=self.run_dir,
                sheet_sha256=sha,
                prior_start=self.prior.start if self.prior is not None else None,
                control=self.control,
                emit=self._emit,
            )
            if not options.simulate:
                self._locks.append(lock_work(options.report_dir, base_url, sha, self.run_dir))
                self._earlier = earlier_paused(
                    options.report_dir, base_url=base_url, exclude=self.run_dir
                )
            return await self._run(sheet, check, sha)
        except (UsageError, StorageError) as exc:
            if created and not self._sent_writes and self.run_dir is not None:
                self._release()
                remove_run_dir(self.run_dir)
                self.run_dir = None
            if isinstance(exc, StorageError) and exc.sent != self._sent_writes:
                raise StorageError(str(exc), sent=self._sent_writes) from None
            raise
        finally:
            self._release()

    def _release(self) -> None:
        while self._locks:
            self._locks.pop().release()

    def _own_copy(self, run_dir: Path, prior: JournalState) -> tuple[Sheet, str]:
        """The run's own copy of the sheet; the original path is only informational."""
        assert prior.start is not None
        copies = sorted(run_dir.glob("sheet.*"))
        if not copies:
            raise JournalError(f"{run_dir} holds no copy of its sheet (sheet.csv, ...)")
        copy = copies[0]
        sha = file_sha256(copy)
        if sha != prior.start.get("sha256"):
            raise JournalError(
                f"{copy} differs from the sheet the run started with (sha256); it cannot be "
                "resumed. Start a new run"
            )
        original = self.sheet_path
        try:
            moved = not original.is_file() or file_sha256(original) != sha
        except OSError:
            moved = True
        if moved:
            self._notice(
                "info",
                f"the sheet {original} is gone or has changed since the run started; resume "
                f"continues the run's own copy {copy}",
                "sheet_changed",
            )
        return open_sheet(copy, sheet_name=self.options.sheet_name), sha

    def _check(self, sheet: Sheet) -> SheetCheck:
        options = self.options
        check = check_sheet(
            sheet,
            org=options.org,
            workspace=options.workspace,
            no_read=options.no_read,
            collect_keys=options.simulate,
        )
        if check.header_problems:
            raise InvalidSheetError(
                "the sheet cannot be applied as it is; nothing was sent", check.header_problems
            )
        if check.invalid_rows and self.mode == "run" and not options.skip_invalid:
            raise InvalidSheetError(
                f"{len(check.invalid_rows)} of {check.rows} rows are invalid; nothing was sent. "
                "Fix them (`bulkpatch validate` lists every problem) or pass --skip-invalid "
                "to apply the valid rows and report the others as invalid",
                check.problems,
            )
        if options.no_read and check.no_read_problems:
            raise InvalidSheetError(
                "--no-read needs every change to be a top-level field or a whole object "
                "(the API replaces allowed_schedule and app_config whole); drop --no-read",
                check.no_read_problems,
            )
        return check

    # -- the run ---------------------------------------------------------------------------

    def _journal_failed(self, why: str) -> None:
        self.control.stop(why)
        self._notice("error", f"stopping: {why}", "storage")

    async def _run(self, sheet: Sheet, check: SheetCheck, sha: str) -> RunSummary:
        options = self.options
        run_dir = self.run_dir
        assert run_dir is not None
        started = datetime.now(UTC)
        self.stats.rows_total = check.rows
        plan_mode = self.mode == "plan"
        if not plan_mode:
            try:
                self.journal = JournalWriter(
                    run_dir / JOURNAL_NAME, on_failure=self._journal_failed
                )
            except OSError as exc:
                raise storage_error("write the journal in", run_dir, exc, sent=False) from None
            if self.prior is None:
                self.journal.write(
                    "start",
                    journal=FORMAT,
                    version=__version__,
                    sheet=str(self.sheet_path.resolve()),
                    sha256=sha,
                    rows=check.rows,
                    options=options.for_journal(),
                    **self.safeguards.journal_fields(),
                )
            else:
                self.journal.write("resume", rows=check.rows, options=options.for_journal())
        self._stopper.attach(self._interrupt, self._flush)
        self._emit(
            RunStarted(
                run_dir=run_dir,
                mode=self.mode,
                rows=check.rows,
                resumed=self.prior is not None,
                target_rate=options.rate,
                simulated=options.simulate,
            )
        )
        if self._earlier:
            self._notice(
                "warning",
                f"{len(self._earlier)} campaign(s) were paused by an earlier bulkpatch run in "
                f"{options.report_dir} and never resumed: "
                + "; ".join(f"`bulkpatch resume {d}`" for d in sorted(set(self._earlier.values())))
                + " resumes them",
                "earlier_paused",
                campaigns=dict(self._earlier),
            )
        name, columns = ("plan.csv", PLAN_COLUMNS) if plan_mode else ("results.csv", RESULT_COLUMNS)
        try:
            results = OrderedResults(run_dir / name, check.row_numbers(), columns)
        except OSError as exc:
            raise storage_error("write the results in", run_dir, exc, sent=False) from None
        recorder = Recorder(
            results=results,
            stats=self.stats,
            journal=self.journal,
            on_event=self._emit,
            plan_mode=plan_mode,
        )
        try:
            async with api_target(self.options, self._api_key, check.keys) as (base_url, api_key):
                await self._pool(sheet, check, recorder, base_url, api_key)
        except BaseException:
            results.abandon()
            if self.journal is not None:
                self.journal.close()
            raise
        self.stats.finished = self._timing.clock()
        return self._finish(sheet, check, sha, results, recorder, started)

    def _make_lane(self, api_key: str) -> Lane:
        def gave_up(reason: str) -> None:
            self.control.stop(reason)
            self._notice("error", f"stopping: {reason}", "outage")

        return make_lane(
            self.options, api_key, self._timing, label="the API key", on_give_up=gave_up
        )

    def _key_refused(self, lane: Lane, why: str) -> None:
        self.control.stop(f"{why}; fix the key, then run `bulkpatch resume` on the run directory")
        self._notice("error", f"stopping: {why}", "key_refused")

    async def _pool(
        self, sheet: Sheet, check: SheetCheck, recorder: Recorder, base_url: str, api_key: str
    ) -> None:
        options, timing, control = self.options, self._timing, self.control
        lane = self._lane = self._make_lane(api_key)
        budget = RetryBudget(clock=timing.clock, sleep=timing.sleep)
        async with new_session(options.concurrency) as http:
            client = ApiClient(
                http,
                base_url=base_url,
                lanes=lambda org: lane,
                budget=budget,
                timeout=options.timeout,
                on_reply=self._on_reply,
                on_refused=self._key_refused,
                clock=timing.clock,
            )
            executor = Executor(
                client,
                control=control,
                budget=budget,
                journal=self.journal,
                max_attempts=options.max_attempts,
                on_retry=self.stats.record_retry,
                clock=timing.clock,
                sleep=timing.sleep,
                uniform=timing.uniform,
            )

            guards = self.safeguards
            guards.bind(executor.read, self.journal.write if self.journal is not None else None)

            async def apply(job: Job) -> RowResult:
                result = await apply_row(
                    job,
                    executor,
                    control=control,
                    no_read=options.no_read,
                    plan_mode=self.mode == "plan",
                    clock=timing.clock,
                    gate=guards.gate,
                )
                await guards.finished(result)
                return result

            def record(result: RowResult, fresh: bool) -> None:
                recorder.record(result, fresh=fresh)

            async with anyio.create_task_group() as tg:
                tg.start_soon(self._tick)
                if self.journal is not None:
                    tg.start_soon(self.journal.keep_synced)
                if self.prior is not None and self.prior.paused:
                    await self._resume_left_paused(executor, self.prior.paused)
                await run_pool(
                    work_items(sheet, check, options, self.prior),
                    apply,
                    concurrency=options.concurrency,
                    stopping=lambda: control.stop_reason,
                    record=record,
                    interrupted=self.interrupted,
                )
                await guards.at_end()
                if control.left_paused and not self.interrupted.is_set():
                    await self._retry_left_paused(executor)
                tg.cancel_scope.cancel()

    def _on_reply(self, reply: Any) -> None:
        self.stats.record_reply(reply)
        if reply.method in ("PATCH", "PUT"):
            self._sent_writes = True

    async def _resume_left_paused(self, executor: Executor, paused: dict[str, int]) -> None:
        """Campaigns an earlier session paused and did not resume: resume them first."""
        for name, row in paused.items():
            key = CampaignKey.parse(name)
            why = await executor.resume_shielded(key, row)
            if why:
                self._notice("error", f"could not resume {name}: {why}", "left_paused")
            else:
                self._notice("info", f"resumed {name}, which the interrupted run had paused")

    async def _retry_left_paused(self, executor: Executor) -> None:
        left = {key: row for key, (row, _) in self.control.left_paused.items()}
        within = self.options.max_outage
        self._notice(
            "warning",
            f"{len(left)} campaign(s) this run paused are still paused; trying to resume them "
            f"for up to {within:g} s (--max-outage)",
            "resuming_left_paused",
        )
        await executor.resume_left_paused(left, within=within)

    async def _tick(self) -> None:
        """Once a second: a ``tick`` journal line and a progress event."""
        while True:
            await anyio.sleep(1.0)
            self._emit_tick()

    def _emit_tick(self) -> None:
        lane = self._lane
        tick = self.stats.take_tick()
        target = lane.pacer.current_rate if lane is not None else self.options.rate
        breaker_open = lane.breaker.is_open if lane is not None else False
        if tick is not None and self.journal is not None:
            self.journal.write(
                "tick", flush=False, **tick, target=target, breaker_open=breaker_open
            )
        stats = self.stats
        self._emit(
            Progress(
                done=stats.rows_done,
                total=stats.rows_total,
                counts=dict(stats.outcomes),
                achieved_rate=stats.achieved_rate(),
                target_rate=target,
                breaker_open=breaker_open,
                elapsed=stats.elapsed,
            )
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
        code = exit_code_for(
            dict(self.stats.outcomes), aborted=control.aborted, left_paused=len(control.left_paused)
        )
        code = ExitCode(self.safeguards.exit_code(code))
        retry_name = f"retry.{sheet.kind}"
        steps = next_steps(
            recorder.groups,
            run_dir,
            retry_name=retry_name,
            simulated=options.simulate,
            resumable=self.mode != "plan",
        )
        left = {str(k): why for k, (_, why) in control.left_paused.items()}
        lane = self._lane
        data: dict[str, Any] = {
            "bulkpatch": __version__,
            "mode": self.mode,
            "sheet": {"path": str(self.sheet_path), "sha256": sha, "copy": str(sheet.path)},
            "run_dir": str(run_dir),
            "started": started.isoformat(),
            "finished": datetime.now(UTC).isoformat(),
            **self.stats.as_dict(),
            "target_rate": options.rate,
            "final_rate": lane.pacer.current_rate if lane is not None else options.rate,
            "rate_cuts": lane.pacer.throttle_events if lane is not None else 0,
            "breaker": {
                "openings": lane.breaker.openings if lane is not None else 0,
                "paused_seconds": round(lane.breaker.paused_seconds, 3) if lane else 0.0,
            },
            "campaigns_left_paused": left,
            "campaigns_paused_by_earlier_runs": dict(self._earlier),
            "stop_reason": control.stop_reason or None,
            "next_steps": [s.as_dict() for s in steps],
            "options": options.for_journal(),
            **self.safeguards.summary_fields(),
            "exit_code": int(code),
        }
        try:
            results.commit()
            if self.mode != "plan":
                self._write_run_reports(sheet, recorder, run_dir)
            if self.journal is not None:
                self.journal.write("end", exit_code=int(code))
                self.journal.close()
            write_json(run_dir / "summary.json", data)
            if self.mode == "plan":
                write_plan_page(
                    run_dir / "plan.html",
                    recorder.page_rows(),
                    {
                        "sheet": str(self.sheet_path),
                        "sha256": sha,
                        "created": started.isoformat(),
                        "options": options.for_journal(),
                        "counts": data["outcomes"],
                    },
                )
            else:
                write_run_report(run_dir)
        except OSError as exc:
            results.abandon()
            raise storage_error(
                "write the reports in", run_dir, exc, sent=self._sent_writes
            ) from None
        if self.journal is not None and self.journal.failure:
            raise StorageError(
                f"{self.journal.failure}; requests were already sent: free the space, then "
                f"`bulkpatch resume {run_dir}`",
                sent=True,
            )
        summary = RunSummary(
            run_dir=run_dir,
            mode=self.mode,
            exit_code=int(code),
            outcomes={k: v for k, v in data["outcomes"].items()},
            stop_reason=control.stop_reason,
            next_steps=tuple(steps),
            left_paused=left,
            earlier_paused=dict(self._earlier),
            data=data,
        )
        self._emit(RunFinished(summary))
        return summary

    def _write_run_reports(self, sheet: Sheet, recorder: Recorder, run_dir: Path) -> None:
        if sheet.kind == "parquet":
            csv_to_parquet(run_dir / "results.csv", run_dir / "results.parquet")
        copied = copy_rows(sheet, recorder.retry_rows, run_dir / f"retry.{sheet.kind}")
        if copied.formula_notes:
            self._notice(
                "warning",
                f"{copied.formula_notes} note cell(s) in retry.{sheet.kind} start with a formula "
                "character (=, +, -, @); a spreadsheet may run them when the file is opened",
                "formula_notes",
            )
