"""The library calls: apply a sheet, plan it, resume a run -- without a terminal.

    summary = bulkpatch.apply_sheet("changes.csv", options=RunOptions(rate=20))
    summary.exit_code, summary.outcomes, summary.run_dir

Each call makes (or continues) a run directory, checks the sheet, runs the pool and writes the
reports; it returns a :class:`~bulkpatch.core.summary.RunSummary` and tells ``on_event`` what
happens as it goes.  It prints nothing, installs no signal handler and never exits the process: that
is the command line's job (``bulkpatch.cli``).  Errors meant for the user are
:class:`~bulkpatch.core.errors.BulkpatchError`; a bug is re-raised as
:class:`~bulkpatch.core.errors.InternalError` after its traceback is written to the run directory.

The ``*_async`` forms run inside an event loop that is already running (a notebook); the plain
forms start one (a script, an Airflow task).
"""

from __future__ import annotations

import contextlib
import json
import os
import traceback
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import BulkpatchError, InternalError, JournalError, leaf_error
from bulkpatch.core.events import EventSink, Notice, RunFinished, ignore
from bulkpatch.core.loop import sync
from bulkpatch.core.options import RunOptions
from bulkpatch.core.stopper import Stopper
from bulkpatch.core.summary import RunSummary
from bulkpatch.core.timing import REAL, Timing
from bulkpatch.engine.session import Mode, Session
from bulkpatch.ops.deliver import check_delivery, deliver, deliver_failure
from bulkpatch.ops.observe import observed
from bulkpatch.rundir.continuing import EarlierRun, latest_run_of
from bulkpatch.rundir.journal import JournalState, read_journal
from bulkpatch.rundir.names import JOURNAL, SUMMARY_JSON, TRACEBACK
from bulkpatch.sheet import file_sha256
from bulkpatch.sheet.regular import open_regular
from bulkpatch.transport.credentials import load_api_key


async def _guarded(session: Session) -> RunSummary:
    """Run a session; a bug becomes an :class:`InternalError` with its traceback saved."""
    try:
        return await session.execute()
    except BulkpatchError:
        raise
    except BaseExceptionGroup as group:
        leaf = leaf_error(group)
        if isinstance(leaf, BulkpatchError | KeyboardInterrupt):
            raise leaf from None
        if not isinstance(leaf, Exception):
            raise  # cancellation and the like pass through
        _save(session, group)
        raise InternalError(
            f"internal error ({type(leaf).__name__}); please report it",
            traceback_path=_saved(session),
        ) from group
    except Exception as exc:
        _save(session, exc)
        raise InternalError(
            f"internal error ({type(exc).__name__}); please report it",
            traceback_path=_saved(session),
        ) from exc


def _saved(session: Session) -> Path | None:
    where = session.run_dir
    if where is None or not (where / TRACEBACK).is_file():
        return None
    return where / TRACEBACK


def _save(session: Session, error: BaseException) -> None:
    """Append the traceback to the run directory's traceback.txt (mode 0600)."""
    if session.run_dir is None:
        return
    path = session.run_dir / TRACEBACK
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            traceback.print_exception(error, file=f)


async def apply_sheet_async(
    sheet: str | os.PathLike[str],
    *,
    options: RunOptions | None = None,
    on_event: EventSink = ignore,
    stopper: Stopper | None = None,
    api_key: str | None = None,
    timing: Timing = REAL,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> RunSummary:
    """Apply ``sheet`` (run mode).  ``api_key`` overrides ``options``' key source.

    ``tracer_provider`` / ``meter_provider``: OpenTelemetry providers to report the run to (an
    Airflow task's own trace then holds the run's span); see ``docs/observability.md``."""
    async with observed(
        "run", on_event, tracer_provider=tracer_provider, meter_provider=meter_provider
    ) as watch:
        return await _new("run", sheet, options, watch.sink, stopper, api_key, timing)


async def plan_sheet_async(
    sheet: str | os.PathLike[str],
    *,
    options: RunOptions | None = None,
    on_event: EventSink = ignore,
    stopper: Stopper | None = None,
    api_key: str | None = None,
    timing: Timing = REAL,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> RunSummary:
    """Read every campaign and say what ``sheet`` would change; send nothing but GETs."""
    async with observed(
        "plan", on_event, tracer_provider=tracer_provider, meter_provider=meter_provider
    ) as watch:
        return await _new("plan", sheet, options, watch.sink, stopper, api_key, timing)


#: What ``run --continue`` carries over to the run it continues when given now (as ``resume``
#: takes them): how hard to push the API, the window, and where the key and the ending go.
CARRIED_OVER = (
    "rate",
    "concurrency",
    "max_attempts",
    "timeout",
    "max_outage",
    "window",
    "no_wait",
    "max_wait",
    "api_key_env",
    "api_key_file",
    "notify_url",
    "notify_format",
    "rate_store",
)


async def continue_sheet_async(
    sheet: str | os.PathLike[str],
    *,
    options: RunOptions | None = None,
    overrides: dict[str, Any] | None = None,
    on_event: EventSink = ignore,
    stopper: Stopper | None = None,
    api_key: str | None = None,
    timing: Timing = REAL,
) -> RunSummary:
    """``run SHEET --continue``: carry on the latest run of the same sheet against the same API
    in ``options.report_dir`` (in its own run directory), or start one if there is none.  A
    complete one is said so: nothing is sent, and its summary (and exit code) is returned.

    ``overrides``: what applies to the rows left (as ``resume`` takes them); by default the
    fields of :data:`CARRIED_OVER` that ``options`` sets to other than their default."""
    options = options or RunOptions()
    _sheet_first(Path(sheet))
    earlier = latest_run_of(
        options.report_dir,
        sha256=file_sha256(sheet),
        base_url=options.base_url,
        simulate=options.simulate,
        shard=options.shard,
    )
    if earlier is None:
        return await apply_sheet_async(
            sheet,
            options=options,
            on_event=on_event,
            stopper=stopper,
            api_key=api_key,
            timing=timing,
        )
    if earlier.complete:
        return _complete(earlier, on_event)
    on_event(Notice("info", f"continuing the run in {earlier.run_dir}", "continue"))
    given = _carried(options) if overrides is None else overrides
    return await resume_run_async(
        earlier.run_dir,
        overrides=given,
        on_event=on_event,
        stopper=stopper,
        api_key=api_key,
        timing=timing,
    )


def _carried(options: RunOptions) -> dict[str, Any]:
    default = RunOptions(simulate=options.simulate)
    return {
        name: getattr(options, name)
        for name in CARRIED_OVER
        if getattr(options, name) != getattr(default, name)
    }


def _complete(earlier: EarlierRun, on_event: EventSink) -> RunSummary:
    """The summary of a complete run, told again; nothing is sent."""
    assert earlier.exit_code is not None
    data: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads((earlier.run_dir / SUMMARY_JSON).read_text(encoding="utf-8"))
        data = loaded if isinstance(loaded, dict) else {}
    outcomes = data.get("outcomes") if isinstance(data.get("outcomes"), dict) else {}
    on_event(
        Notice(
            "info",
            f"this sheet's run in {earlier.run_dir} is complete (exit {earlier.exit_code}): "
            "nothing to continue, nothing sent",
            "complete",
        )
    )
    summary = RunSummary(
        run_dir=earlier.run_dir,
        mode="run",
        exit_code=earlier.exit_code,
        outcomes=dict(outcomes or {}),
        data={**data, "exit_code": earlier.exit_code, "already_complete": True},
    )
    on_event(RunFinished(summary))
    return summary


async def _new(
    mode: Mode,
    sheet: str | os.PathLike[str],
    options: RunOptions | None,
    on_event: EventSink,
    stopper: Stopper | None,
    api_key: str | None,
    timing: Timing,
) -> RunSummary:
    options = options or RunOptions()
    check_delivery(options)
    session: Session | None = None
    try:
        _sheet_first(Path(sheet))
        if api_key is None and not options.simulate and options.keys_file is None:
            api_key = load_api_key(options, on_event)
        session = Session(
            mode,
            options,
            sheet=Path(sheet),
            api_key=api_key or "",
            on_event=on_event,
            stopper=stopper or Stopper(),
            timing=timing,
        )
        summary = await _guarded(session)
    except (Exception, KeyboardInterrupt) as exc:
        where = session.run_dir if session is not None else None
        await deliver_failure(exc, options, on_event, mode=mode, sheet=sheet, run_dir=where)
        raise
    await deliver(summary, options, on_event)
    return summary


async def resume_run_async(
    run_dir: str | os.PathLike[str],
    *,
    overrides: dict[str, Any] | None = None,
    on_event: EventSink = ignore,
    stopper: Stopper | None = None,
    api_key: str | None = None,
    timing: Timing = REAL,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> RunSummary:
    """Continue an interrupted or crashed run from its journal.

    ``overrides`` may change how hard the API is pushed (``rate``, ``concurrency``,
    ``max_attempts``, ``timeout``, ``max_outage``) and where the key comes from.
    """
    async with observed(
        "resume", on_event, tracer_provider=tracer_provider, meter_provider=meter_provider
    ) as watch:
        return await _resume(Path(run_dir), overrides, watch.sink, stopper, api_key, timing)


async def _resume(
    path: Path,
    overrides: dict[str, Any] | None,
    on_event: EventSink,
    stopper: Stopper | None,
    api_key: str | None,
    timing: Timing,
) -> RunSummary:
    try:
        options, state = _resumed(path, overrides or {})
    except (Exception, KeyboardInterrupt) as exc:
        # No journal to read the run's options from: tell where this call was told to.
        told = {k: v for k, v in (overrides or {}).items() if k in _DELIVERY_FIELDS}
        with contextlib.suppress(Exception):
            await deliver_failure(exc, RunOptions(**told), on_event, mode="resume", run_dir=path)
        raise
    check_delivery(options)
    try:
        _sheet_first(path, resumed=True)
        if api_key is None and options.keys_file is None:
            api_key = load_api_key(options, on_event)
        assert state.start is not None  # checked by _resumed
        session = Session(
            "resume",
            options,
            sheet=Path(str(state.start.get("sheet", ""))),
            api_key=api_key or "",
            on_event=on_event,
            stopper=stopper or Stopper(),
            timing=timing,
            run_dir=path,
            prior=state,
        )
        summary = await _guarded(session)
    except (Exception, KeyboardInterrupt) as exc:
        await deliver_failure(exc, options, on_event, mode="resume", run_dir=path)
        raise
    await deliver(summary, options, on_event)
    return summary


def _sheet_first(path: Path, *, resumed: bool = False) -> None:
    """A sheet that cannot be read (a run directory without its copy) is named before a
    missing key: the key is the second thing to fix."""
    if not resumed:
        os.close(open_regular(path))
    elif not any(path.glob("sheet.*")):
        raise JournalError(f"{path} holds no copy of its sheet (sheet.csv, ...)")


#: The options that say where a run's ending is told.
_DELIVERY_FIELDS = ("notify_url", "notify_format", "pushgateway", "metrics_job", "shard")


def _resumed(path: Path, overrides: dict[str, Any]) -> tuple[RunOptions, JournalState]:
    """The journal of the run in ``path``, and its options with ``overrides``."""
    journal = path / JOURNAL
    if not journal.is_file():
        raise JournalError(f"{path} has no {JOURNAL}; is it a run directory?")
    state = read_journal(journal)
    if state.start is None:
        raise JournalError(f"{journal} has no start record; it cannot be resumed")
    options = RunOptions.from_journal(dict(state.start.get("options") or {}), **overrides)
    if options.simulate:
        raise JournalError(
            "this run used --simulate; the in-process simulator ended with it, so there is "
            "nothing to resume against. Start a new run instead"
        )
    return options, state


def apply_sheet(sheet: str | os.PathLike[str], **kwargs: Any) -> RunSummary:
    """:func:`apply_sheet_async` in an event loop of its own (for scripts and Airflow tasks)."""
    return sync(apply_sheet_async, sheet, **kwargs)


def plan_sheet(sheet: str | os.PathLike[str], **kwargs: Any) -> RunSummary:
    """:func:`plan_sheet_async` in an event loop of its own."""
    return sync(plan_sheet_async, sheet, **kwargs)


def continue_sheet(sheet: str | os.PathLike[str], **kwargs: Any) -> RunSummary:
    """:func:`continue_sheet_async` in an event loop of its own."""
    return sync(continue_sheet_async, sheet, **kwargs)


def resume_run(run_dir: str | os.PathLike[str], **kwargs: Any) -> RunSummary:
    """:func:`resume_run_async` in an event loop of its own."""
    return sync(resume_run_async, run_dir, **kwargs)
