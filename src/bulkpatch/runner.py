"""The imperative shell of ``plan``, ``run`` and ``resume``: set up, run the pool, write reports.

Everything that touches the outside world for a run lives here: the run directory, the journal,
the HTTP session, the in-process simulator, signals, progress and the final summary.  The
decisions themselves are made by the pure modules (``merge``, ``retrying``, ``report``).
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import secrets
import shutil
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio
from rich.console import Console
from rich.table import Table

from bulkpatch import __version__
from bulkpatch.client import ApiClient, new_session
from bulkpatch.engine import EngineOptions, Job, RowApplier, RunControl, WorkItem, run_pool
from bulkpatch.health import Health
from bulkpatch.journal import JournalState, JournalWriter, read_journal
from bulkpatch.outcomes import ExitCode, Outcome
from bulkpatch.pacing import Pacer
from bulkpatch.progress import RunProgress
from bulkpatch.report import (
    PLAN_COLUMNS,
    OrderedResults,
    RowResult,
    csv_to_parquet,
    result_from_record,
    result_record,
    write_json,
    write_retry_sheet,
)
from bulkpatch.rows import CampaignKey, Problem
from bulkpatch.runstats import RunStats
from bulkpatch.sheet import Sheet, SheetError, file_sha256, open_sheet
from bulkpatch.urls import DEFAULT_BASE_URL, check_base_url
from bulkpatch.validation import SheetCheck, check_sheet, iter_verdicts, no_read_problems

Mode = Literal["run", "plan", "resume"]
#: Rows of a plan shown on screen (all of them are in plan.csv).
PLAN_SHOWN = 50
DEFAULT_KEY_ENV = "SARVAM_API_KEY"


class UsageError(Exception):
    """Bad input from the user: the message says what to do. Exit 2, nothing sent."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a run was asked to do (never the key itself)."""

    sheet: Path
    fmt: Literal["csv", "parquet"] | None = None
    org: str | None = None
    workspace: str | None = None
    base_url: str = DEFAULT_BASE_URL
    simulate: bool = False
    api_key_env: str = DEFAULT_KEY_ENV
    api_key_file: Path | None = None
    rate: float | None = 10.0
    concurrency: int = 8
    max_attempts: int = 5
    timeout: float = 30.0
    max_outage: float = 600.0
    report_dir: Path = Path("reports")
    quiet: bool = False
    json_out: bool = False
    pause_active: bool = False
    skip_invalid: bool = False
    no_read: bool = False
    seed: int = 0

    def for_journal(self) -> dict[str, Any]:
        """The options as plain values, paths made absolute so resume works from anywhere."""
        data = asdict(self)
        return {k: (str(v.resolve()) if isinstance(v, Path) else v) for k, v in data.items()}


def settings_from_journal(start: dict[str, Any], **overrides: Any) -> Settings:
    stored = dict(start.get("options") or {})
    for name in ("sheet", "report_dir", "api_key_file"):
        if stored.get(name) is not None:
            stored[name] = Path(stored[name])
    known = {k: v for k, v in stored.items() if k in Settings.__dataclass_fields__}
    known.update(overrides)
    return Settings(**known)


# ----------------------------------------------------------------------------------------------
# The key
# ----------------------------------------------------------------------------------------------


def load_api_key(settings: Settings) -> str:
    """The key, from a file or the environment; never from a flag, never printed."""
    if settings.api_key_file is not None:
        path = settings.api_key_file
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise UsageError(f"cannot read the API key file {path}: {why}") from None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            raise UsageError(f"the API key file {path} is empty")
        return _checked_key(lines[0], f"the first line of {path}")
    key = os.environ.get(settings.api_key_env, "").strip()
    if not key:
        raise UsageError(
            f"no API key: set the environment variable {settings.api_key_env} "
            "(or pass --api-key-env NAME / --api-key-file PATH), "
            "or try the embedded simulator with --simulate"
        )
    return _checked_key(key, f"the environment variable {settings.api_key_env}")


def _checked_key(key: str, where: str) -> str:
    """A key that can travel in a header; the message never quotes it."""
    if any(not 33 <= ord(c) <= 126 for c in key):
        raise UsageError(
            f"the API key in {where} holds spaces, control characters or non-ASCII "
            "characters; an HTTP header cannot carry it. Check for a stray quote or paste"
        )
    return key


# ----------------------------------------------------------------------------------------------
# Checking the sheet before anything is sent
# ----------------------------------------------------------------------------------------------


def print_problems(console: Console, problems: list[Problem], *, limit: int = 50) -> None:
    for problem in problems[:limit]:
        console.print(f"  {problem}", highlight=False, markup=False)
    if len(problems) > limit:
        console.print(f"  … and {len(problems) - limit} more (see `bulkpatch validate`)")


def checked_sheet(settings: Settings, console: Console, mode: Mode) -> tuple[Sheet, SheetCheck]:
    """Open and check the sheet; raise :class:`UsageError` when the run must not start."""
    try:
        sheet = open_sheet(settings.sheet, fmt=settings.fmt)
        check = check_sheet(sheet, org=settings.org, workspace=settings.workspace)
    except SheetError as exc:
        raise UsageError(str(exc)) from None
    if check.header_problems:
        print_problems(console, list(check.header_problems))
        raise UsageError("the sheet cannot be applied as it is; nothing was sent")
    if check.invalid_rows and mode != "plan" and not settings.skip_invalid:
        print_problems(console, list(check.problems))
        raise UsageError(
            f"{len(check.invalid_rows)} of {check.rows} rows are invalid; nothing was sent. "
            "Fix them (`bulkpatch validate` lists every problem) or pass --skip-invalid "
            "to apply the valid rows and report the others as invalid"
        )
    if settings.no_read:
        blocking: list[Problem] = []
        for verdict in iter_verdicts(sheet, org=settings.org, workspace=settings.workspace):
            if verdict.change is not None and verdict.row not in check.invalid_rows:
                blocking.extend(no_read_problems(verdict.change))
            if len(blocking) > 50:
                break
        if blocking:
            print_problems(console, blocking)
            raise UsageError(
                "--no-read needs every change to be a top-level field or a whole object "
                "(the API replaces allowed_schedule and app_config whole); drop --no-read"
            )
    return sheet, check


# ----------------------------------------------------------------------------------------------
# The run directory
# ----------------------------------------------------------------------------------------------


def make_run_dir(report_dir: Path, stem: str, now: datetime) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    base = f"{stem}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    for n in range(1, 1000):
        path = report_dir / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return path
    raise UsageError(f"cannot create a run directory in {report_dir}")


def snapshot_sheet(sheet: Sheet, run_dir: Path, sha: str) -> Sheet:
    """The run reads its own copy of the sheet, kept in the run directory (0600).

    A nightly export may rewrite the sheet while a run is going; the copy is what was checked,
    so no row is applied that was not validated, and ``retry.csv`` and ``resume`` read the
    same rows.  The copy must hash like the sheet did before it was checked.
    """
    target = run_dir / f"sheet.{sheet.kind}"
    if target.exists() and file_sha256(target) == sha:
        return open_sheet(target, fmt=sheet.kind)
    tmp = run_dir / f".sheet.{sheet.kind}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out, sheet.path.open("rb") as source:
        shutil.copyfileobj(source, out, 1 << 20)
    if file_sha256(tmp) != sha:
        tmp.unlink()
        raise UsageError(
            f"{sheet.path} changed while it was being checked; nothing was sent. "
            "Run again once whatever writes it has finished"
        )
    os.replace(tmp, target)
    return open_sheet(target, fmt=sheet.kind)


class RunDirLock:
    """One bulkpatch at a time per run directory (two resumes at once would PATCH twice)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def take(cls, run_dir: Path) -> RunDirLock:
        fd = os.open(run_dir / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(
                f"another bulkpatch is working in {run_dir}; wait for it to finish"
            ) from None
        return cls(fd)

    def release(self) -> None:
        os.close(self._fd)


def resume_command(run_dir: Path, settings: Settings) -> str:
    parts = ["bulkpatch", "resume", str(run_dir)]
    if settings.api_key_file is not None:
        parts += ["--api-key-file", str(settings.api_key_file)]
    elif settings.api_key_env != DEFAULT_KEY_ENV:
        parts += ["--api-key-env", settings.api_key_env]
    return " ".join(parts)


def exit_code_for(stats_outcomes: dict[str, int], control: RunControl) -> ExitCode:
    if control.aborted:
        return ExitCode.ABORTED
    not_ok = sum(n for name, n in stats_outcomes.items() if not Outcome(name).ok)
    if not_ok or control.left_paused:
        return ExitCode.SOME_ROWS_NOT_OK
    return ExitCode.OK


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------


def _work_items(
    sheet: Sheet,
    check: SheetCheck,
    settings: Settings,
    prior: JournalState | None,
    results: OrderedResults,
) -> Iterator[WorkItem]:
    """Every row of the sheet, in order: a job to do, or a result already known."""
    for verdict in iter_verdicts(
        sheet, org=settings.org, workspace=settings.workspace, check=check
    ):
        row = verdict.row
        results.expect(row)
        in_doubt = prior is not None and row in prior.in_doubt
        if prior is not None and row in prior.done:
            kept = result_from_record(prior.done[row])
            if kept.outcome is not Outcome.NOT_ATTEMPTED:
                yield kept
                continue
            # Stopped after sending: whatever the last answer said, read it back first.
            in_doubt = kept.attempts > 0
        if verdict.change is None:
            reasons = [f"{p.column}: {p.rule}" if p.column else p.rule for p in verdict.problems]
            yield RowResult(row, verdict.key, Outcome.INVALID, "; ".join(reasons))
            continue
        yield Job(verdict.change, in_doubt=in_doubt)


@asynccontextmanager
async def _target(
    settings: Settings, check_keys: Iterator[tuple[CampaignKey, dict[str, Any]]]
) -> AsyncIterator[tuple[str, str]]:
    """(base URL, key): the real API, or a simulator started here seeded with the sheet."""
    if not settings.simulate:
        yield check_base_url(settings.base_url), ""
        return
    from bulkpatch.simulator import SimulatorConfig, serve_simulator

    key = "sim-" + secrets.token_hex(8)
    keys: list[tuple[str, str, str]] = []
    overrides: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row_key, expects in check_keys:
        triple = (row_key.org_id, row_key.workspace_id, row_key.campaign_id)
        keys.append(triple)
        if expects:
            overrides[triple] = dict(expects)
    config = SimulatorConfig(
        api_key=key, seed=settings.seed, campaigns=tuple(keys), overrides=overrides
    )
    async with serve_simulator(config) as sim:
        yield sim.base_url, key


def _sheet_keys(sheet: Sheet, settings: Settings) -> Iterator[tuple[CampaignKey, dict[str, Any]]]:
    for verdict in iter_verdicts(sheet, org=settings.org, workspace=settings.workspace):
        if verdict.change is not None:
            yield verdict.change.key, verdict.change.expects
        elif verdict.key is not None:
            yield verdict.key, {}


class Runner:
    """One run of ``plan``, ``run`` or ``resume``."""

    def __init__(self, settings: Settings, mode: Mode, *, console: Console, out: Console) -> None:
        self.settings = settings
        self.mode = mode
        self.console = console  # stderr: progress, messages
        self.out = out  # stdout: the summary (table, or JSON with --json)
        self.control = RunControl()
        self.stats = RunStats()
        self.interrupted = anyio.Event()
        self.signals_seen = 0
        self.run_dir: Path | None = None
        self.pacer = Pacer(settings.rate)
        self.health = Health(max_outage=settings.max_outage, on_outage=self._outage)
        self.summary: dict[str, Any] | None = None

    def say(self, text: str) -> None:
        if not self.settings.quiet:
            self.console.print(text, highlight=False)

    async def execute(self, run_dir: Path | None = None) -> int:
        prior: JournalState | None = None
        lock: RunDirLock | None = None
        if self.mode == "resume":
            assert run_dir is not None
            lock = RunDirLock.take(run_dir)
            prior = read_journal(run_dir / "journal.jsonl")
        try:
            return await self._execute(run_dir, prior)
        finally:
            if lock is not None:
                lock.release()

    async def _execute(self, run_dir: Path | None, prior: JournalState | None) -> int:
        settings = self.settings
        try:
            sha = file_sha256(settings.sheet)
        except OSError as exc:
            raise UsageError(f"cannot read {settings.sheet}: {exc.strerror}") from None
        if prior is not None:
            recorded = (prior.start or {}).get("sha256")
            if recorded != sha:
                raise UsageError(
                    f"{settings.sheet} has changed since the run started (sha256 differs); "
                    "resume only continues the same sheet. Start a new run with `bulkpatch run`"
                )
        sheet, check = checked_sheet(settings, self.console, self.mode)
        api_key = "" if settings.simulate else load_api_key(settings)
        if not settings.simulate:
            try:
                check_base_url(settings.base_url)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        started = datetime.now(UTC)
        lock: RunDirLock | None = None
        if run_dir is None:
            run_dir = make_run_dir(settings.report_dir, settings.sheet.stem, started)
            lock = RunDirLock.take(run_dir)
        try:
            sheet = snapshot_sheet(sheet, run_dir, sha)
            return await self._run(run_dir, prior, sheet, check, sha, api_key, started)
        finally:
            if lock is not None:
                lock.release()

    async def _run(
        self,
        run_dir: Path,
        prior: JournalState | None,
        sheet: Sheet,
        check: SheetCheck,
        sha: str,
        api_key: str,
        started: datetime,
    ) -> int:
        settings = self.settings
        self.run_dir = run_dir
        self.console.print(f"run directory: {run_dir}", highlight=False)
        self.stats.rows_total = check.rows

        journal: JournalWriter | None = None
        if self.mode != "plan":
            journal = JournalWriter(run_dir / "journal.jsonl")
            if prior is None:
                journal.write(
                    "start",
                    version=__version__,
                    sheet=str(settings.sheet.resolve()),
                    sha256=sha,
                    rows=check.rows,
                    options=settings.for_journal(),
                )
            else:
                journal.write("resume", rows=check.rows)
        results_name = "plan.csv" if self.mode == "plan" else "results.csv"
        columns = PLAN_COLUMNS if self.mode == "plan" else None
        results = OrderedResults(run_dir / results_name, *((columns,) if columns else ()))
        retry_rows: set[int] = set()
        progress = RunProgress(
            total=check.rows,
            console=self.console,
            quiet=settings.quiet,
            rate_source=self._rate_text,
            label="planning" if self.mode == "plan" else "applying",
        )

        def sink(result: RowResult, fresh: bool) -> None:
            record = result_record(result)
            if journal is not None and fresh:
                journal.write("done", flush=False, before=result.before, **record)
            if self.mode == "plan":
                record["changes"] = result.changes
            results.add(result.row, record)
            if not result.outcome.ok:
                retry_rows.add(result.row)
            self.stats.record_outcome(result.outcome)
            progress.advance(result.outcome)

        try:
            with progress:
                async with _target(
                    settings, _sheet_keys(sheet, settings) if settings.simulate else iter(())
                ) as (base_url, sim_key):
                    await self._pool(
                        base_url,
                        sim_key or api_key,
                        sheet,
                        check,
                        prior,
                        journal,
                        sink,
                        progress,
                        run_dir,
                        results,
                    )
        except BaseException:
            results.abandon()
            if journal is not None:
                journal.close()
            raise
        self.stats.finished = time.monotonic()
        results.commit()
        code = exit_code_for(dict(self.stats.outcomes), self.control)
        self._write_reports(run_dir, sheet, sha, retry_rows, started, code)
        if journal is not None:
            journal.write("end", exit_code=int(code))
            journal.close()
        if self.mode == "plan" and not settings.quiet and not settings.json_out:
            self._print_plan(run_dir / "plan.csv")
        self._print_summary(run_dir, code)
        return int(code)

    async def _pool(
        self,
        base_url: str,
        api_key: str,
        sheet: Sheet,
        check: SheetCheck,
        prior: JournalState | None,
        journal: JournalWriter | None,
        sink: Any,
        progress: RunProgress,
        run_dir: Path,
        results: OrderedResults,
    ) -> None:
        settings = self.settings
        pacer, health = self.pacer, self.health
        options = EngineOptions(
            max_attempts=settings.max_attempts,
            pause_active=settings.pause_active,
            no_read=settings.no_read,
            plan=self.mode == "plan",
        )
        async with new_session(settings.concurrency) as session:
            client = ApiClient(
                session,
                base_url=base_url,
                api_key=api_key,
                pacer=pacer,
                health=health,
                timeout=settings.timeout,
                on_reply=self.stats.record_reply,
            )
            applier = RowApplier(
                client,
                options=options,
                journal=journal,
                stats=self.stats,
                control=self.control,
                health=health,
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_signals, journal, run_dir)
                tg.start_soon(self._tick, progress)
                if journal is not None:
                    tg.start_soon(journal.keep_synced)
                if prior is not None and prior.paused:
                    await self._resume_left_paused(applier, prior)
                await run_pool(
                    _work_items(sheet, check, settings, prior, results),
                    applier,
                    concurrency=settings.concurrency,
                    control=self.control,
                    sink=sink,
                    interrupted=self.interrupted,
                )
                tg.cancel_scope.cancel()

    async def _resume_left_paused(self, applier: RowApplier, prior: JournalState) -> None:
        for name, row in list(prior.paused.items()):
            org, ws, cid = name.split("/")
            why = await applier.resume_left_paused(CampaignKey(org, ws, cid), row)
            if why is None:
                self.say(f"resumed {name}, which the interrupted run had paused")
            else:
                self.console.print(f"[red]could not resume {name}: {why}[/red]", highlight=False)

    def _outage(self, reason: str) -> None:
        self.control.stop(reason)
        self.console.print(f"[red]stopping: {reason}[/red]", highlight=False)

    def _rate_text(self) -> str:
        current = self.pacer.current_rate
        if self.health.is_open:
            return "paused: the API is failing, probing"
        achieved = self.stats.achieved_rate()
        target = f"{current:.0f}/s" if current is not None else "unlimited"
        return f"{achieved:.1f} req/s (target {target})"

    async def _tick(self, progress: RunProgress) -> None:
        while True:
            await anyio.sleep(1.0)
            progress.tick()

    async def _watch_signals(self, journal: JournalWriter | None, run_dir: Path) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                self.signals_seen += 1
                if self.signals_seen == 1:
                    name = signal.Signals(signum).name
                    self.control.stop(f"interrupted by {name}")
                    self.interrupted.set()
                    self.console.print(
                        f"[yellow]{name}: stopping — finishing requests in flight, resuming "
                        "paused campaigns, writing reports. Press Ctrl-C again to exit at once "
                        "(the journal still allows resume).[/yellow]",
                        highlight=False,
                    )
                else:
                    if journal is not None:
                        journal.sync()
                    self.console.print(
                        "exiting at once; continue later with: "
                        + resume_command(run_dir, self.settings),
                        highlight=False,
                        markup=False,
                    )
                    os._exit(int(ExitCode.ABORTED))

    def _write_reports(
        self,
        run_dir: Path,
        sheet: Sheet,
        sha: str,
        retry_rows: set[int],
        started: datetime,
        code: ExitCode,
    ) -> None:
        settings = self.settings
        if self.mode == "plan":
            return
        if sheet.kind == "parquet":
            csv_to_parquet(run_dir / "results.csv", run_dir / "results.parquet")
        retry_name = "retry.parquet" if sheet.kind == "parquet" else "retry.csv"
        write_retry_sheet(sheet, retry_rows, run_dir / retry_name)
        summary = {
            "bulkpatch": __version__,
            "mode": self.mode,
            "sheet": {"path": str(settings.sheet), "sha256": sha},
            "run_dir": str(run_dir),
            "started": started.isoformat(),
            "finished": datetime.now(UTC).isoformat(),
            **self.stats.as_dict(),
            "target_rate": settings.rate,
            "rate_cuts": self.pacer.throttle_events,
            "breaker": {
                "openings": self.health.openings,
                "paused_seconds": round(self.health.paused_seconds, 3),
            },
            "campaigns_left_paused": dict(self.control.left_paused),
            "stop_reason": self.control.stop_reason or None,
            "options": settings.for_journal(),
            "exit_code": int(code),
        }
        self.summary = summary
        write_json(run_dir / "summary.json", summary)

    def _print_plan(self, plan_csv: Path, limit: int = PLAN_SHOWN) -> None:
        """The first rows of the plan: per row its outcome and ``field: old -> new``."""
        table = Table(title="plan (nothing was sent)", show_lines=False)
        for name, justify in (("row", "right"), ("campaign", "left"), ("outcome", "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        table.add_column("changes (old -> new) or reason", overflow="fold")
        shown = total = 0
        with plan_csv.open(newline="", encoding="utf-8") as f:
            for record in csv.DictReader(f):
                total += 1
                if shown < limit:
                    shown += 1
                    table.add_row(
                        record["row"],
                        record["campaign_id"],
                        record["outcome"],
                        "\n".join(
                            part
                            for part in (record["reason"], *record["changes"].split("; "))
                            if part
                        ),
                    )
        self.console.print(table)
        if total > shown:
            self.console.print(f"… {total - shown:,} more rows in {plan_csv}", highlight=False)

    def _print_summary(self, run_dir: Path, code: ExitCode) -> None:
        settings = self.settings
        if settings.json_out:
            data = self.summary or {
                **self.stats.as_dict(),
                "run_dir": str(run_dir),
                "exit_code": int(code),
            }
            self.out.print_json(json.dumps(data, default=str))
        elif not settings.quiet:
            table = Table(title=f"bulkpatch {self.mode}", show_header=True)
            table.add_column("outcome")
            table.add_column("rows", justify="right")
            for outcome in Outcome:
                n = self.stats.outcomes.get(str(outcome), 0)
                if n:
                    table.add_row(str(outcome), f"{n:,}")
            table.add_row("[bold]total[/bold]", f"{self.stats.rows_done:,}")
            self.console.print(table)
            lat = self.stats.latency_summary()
            self.console.print(
                f"requests {self.stats.total_requests:,} "
                f"({', '.join(f'{m} {n:,}' for m, n in sorted(self.stats.requests.items()))}); "
                f"retries {self.stats.retries:,}; 429s {self.stats.throttled:,}; "
                f"{self.stats.achieved_rate():.1f} req/s; "
                f"latency p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms; "
                f"{self.stats.elapsed:.1f} s",
                highlight=False,
            )
            if self.health.openings:
                self.console.print(
                    f"the API failed as a whole {self.health.openings} time(s); workers paused "
                    f"{self.health.paused_seconds:.1f} s in all",
                    highlight=False,
                )
        for name, why in self.control.left_paused.items():
            self.console.print(f"[red]LEFT PAUSED: {name} ({why})[/red]", highlight=False)
        if code == ExitCode.ABORTED:
            self.console.print(
                f"stopped: {self.control.stop_reason}\ncontinue with: "
                f"{resume_command(run_dir, settings)}",
                highlight=False,
                markup=False,
            )
        self.console.print(f"reports in {run_dir}", highlight=False)
