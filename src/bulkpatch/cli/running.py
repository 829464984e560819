"""How ``run``, ``plan`` and ``resume`` run, once their options are parsed (``cli/run.py``).

This module and the library calls it imports (the engine, aiohttp, polars) load only when one of
those commands runs: the options, ``--help`` and shell completion do without them.  It builds
:class:`~bulkpatch.core.options.RunOptions`, runs the library call with a display sink, turns
SIGINT / SIGTERM into a graceful stop (a second one exits at once), and exits with the code of
:mod:`bulkpatch.cli.exits`.  ``verify``, ``undo`` and ``export`` run through it too.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from bulkpatch.cli.approval import RUN_TIME_OPTIONS, Safeguards
from bulkpatch.cli.display import ConsoleDisplay, pick_display, resume_command
from bulkpatch.cli.exits import guarded
from bulkpatch.cli.jsonlog import JsonLog
from bulkpatch.core.events import EventSink, Notice
from bulkpatch.core.loop import run as run_loop
from bulkpatch.core.options import DEFAULT_KEY_ENV, RunOptions
from bulkpatch.core.outcomes import ExitCode
from bulkpatch.core.shards import chosen_shard
from bulkpatch.core.stopper import Stopper
from bulkpatch.core.summary import RunSummary
from bulkpatch.ops.apply import (
    apply_sheet_async,
    continue_sheet_async,
    plan_sheet_async,
    resume_run_async,
)
from bulkpatch.ops.deliver import deliver_failure
from bulkpatch.ops.plan import apply_plan_async, plan_to_dir_async

if TYPE_CHECKING:
    from bulkpatch.cli.screen import Screen

F = TypeVar("F", bound=Callable[..., Any])


def _scale(kwargs: dict[str, Any]) -> None:
    """--shards N with JOB_COMPLETION_INDEX -> --shard K/N."""
    shard = chosen_shard(kwargs.get("shard"), kwargs.pop("shards", None), os.environ)
    if shard is not None:
        kwargs["shard"] = str(shard)


def _pace(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The pacing options the user gave (None: not given)."""
    out: dict[str, Any] = {}
    rate = kwargs.pop("rate")
    if rate is not None:
        out["rate"] = None if rate == math.inf else rate
    for name in ("concurrency", "max_attempts", "timeout", "max_outage"):
        value = kwargs.pop(name)
        if value is not None:
            out[name] = value
    return out


def _overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pacing and key source given on the command line, over a run's own (resume, verify)."""
    overrides = _pace(kwargs)
    if kwargs.get("api_key_file") is not None:
        overrides["api_key_file"] = kwargs["api_key_file"]
    elif kwargs.get("api_key_env") != DEFAULT_KEY_ENV:
        overrides["api_key_env"] = kwargs["api_key_env"]
        overrides["api_key_file"] = None
    return overrides


def _display(kwargs: dict[str, Any]) -> tuple[ConsoleDisplay | JsonLog, Screen]:
    return pick_display(kwargs, ConsoleDisplay)


def _told(kwargs: dict[str, Any]) -> RunOptions:
    """Where the command's ending is told (--notify-url, --pushgateway), from its options."""
    return RunOptions(
        notify_url=kwargs.get("notify_url"),
        notify_format=kwargs.get("notify_format") or "json",
        pushgateway=kwargs.get("pushgateway"),
        metrics_job=kwargs.get("metrics_job") or "bulkpatch",
        shard=kwargs.get("shard"),
    )


def _execute(
    call: Callable[[Stopper, EventSink], Awaitable[RunSummary]],
    display: ConsoleDisplay | JsonLog,
    err: Screen,
    *,
    mode: str = "run",
    told: RunOptions | None = None,
) -> None:
    """Run a library call with signal handling; exit with the code of the exit map.  An
    ending the library call did not tell (--notify-url, --pushgateway) is told here."""
    stopper = Stopper()

    async def watch_signals() -> None:
        seen = 0
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                seen += 1
                name = signal.Signals(signum).name
                if seen == 1:
                    err.print(
                        f"{name}: stopping — finishing requests in flight, resuming paused "
                        "campaigns, writing reports. Press Ctrl-C again to exit at once (the "
                        "journal still allows resume).",
                        style="yellow",
                        highlight=False,
                        markup=False,
                    )
                    stopper.stop(f"interrupted by {name}")
                else:
                    stopper.flush()
                    where = display.run_dir
                    err.print(
                        "exiting at once"
                        + (f"; continue later with: {resume_command(where)}" if where else ""),
                        highlight=False,
                        markup=False,
                    )
                    os._exit(int(ExitCode.ABORTED))

    async def main() -> int:
        outcome: list[RunSummary | BaseException] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_signals)
            try:
                outcome.append(await call(stopper, display))
            except (Exception, KeyboardInterrupt) as exc:  # raised below, not grouped
                outcome.append(exc)
                if told is not None:
                    where = display.run_dir
                    await deliver_failure(exc, told, display, mode=mode, run_dir=where)
            finally:
                display.stop()
                tg.cancel_scope.cancel()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0].exit_code

    def run_then_hold_signals() -> int:
        code = run_loop(main)
        # The run is over and its reports are written: a Ctrl-C from here on (a second one,
        # arriving as the process ends) exits at once, as during the run.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: os._exit(int(ExitCode.ABORTED)))
        return code

    as_json = display.error if isinstance(display, JsonLog) else None
    sys.exit(guarded(run_then_hold_signals, err, as_json=as_json))


def _options(sheet_kwargs: dict[str, Any], pace: dict[str, Any], display: Any) -> RunOptions:
    _scale(sheet_kwargs)
    options = RunOptions(**sheet_kwargs, **pace)
    if options.simulate and "rate" not in pace:
        display(
            Notice(
                "info",
                f"simulated API: --rate {options.rate:g} unless you give one",
                "simulate_rate",
            )
        )
    return options


async def run_plan(
    guards: Safeguards,
    sheet: Path | None,
    kwargs: dict[str, Any],
    pace: dict[str, Any],
    given: dict[str, Any],
    sink: EventSink,
    stopper: Stopper,
) -> RunSummary:
    """``run --plan``: the plan's options, with how to run it from this command line."""
    assert guards.plan_dir is not None
    overrides = {
        **pace,
        "report_dir": kwargs["report_dir"],
        "api_key_env": kwargs["api_key_env"],
        "api_key_file": kwargs["api_key_file"],
        "skip_invalid": kwargs["skip_invalid"],
        **{name: kwargs[name] for name in RUN_TIME_OPTIONS if name in kwargs},
        **guards.options(),
    }
    return await apply_plan_async(
        guards.plan_dir,
        sheet=sheet,
        given=given,
        overrides=overrides,
        approved_by=guards.approved_by,
        approved_digest=guards.approved_digest,
        on_event=sink,
        stopper=stopper,
    )


def run_sheet(
    sheet: Path | None,
    kwargs: dict[str, Any],
    guards: Safeguards,
    given: dict[str, Any],
    windows: dict[str, Any],
    continuing: bool,
) -> None:
    """``bulkpatch run``: a sheet (``--continue``: the unfinished run of it), or with ``--plan``
    an approved plan."""
    display, err = _display(kwargs)
    pace = _pace(kwargs)
    told = _told(kwargs)

    async def call(stopper: Stopper, sink: EventSink) -> RunSummary:
        if guards.plan_dir is not None:
            _scale(kwargs)
            return await run_plan(guards, sheet, kwargs, pace, given, sink, stopper)
        assert sheet is not None
        options = replace(_options(kwargs, pace, sink), **guards.options(), **windows)
        if continuing:
            carried = {**pace, **{k: v for k, v in windows.items() if k != "outside_calling_hours"}}
            return await continue_sheet_async(
                sheet, options=options, overrides=carried, on_event=sink, stopper=stopper
            )
        return await apply_sheet_async(sheet, options=options, on_event=sink, stopper=stopper)

    _execute(call, display, err, mode="run", told=told)


def plan_sheet(sheet: Path, kwargs: dict[str, Any]) -> None:
    """``bulkpatch plan``: a preview, and with ``--out`` a plan directory."""
    out = kwargs.pop("out")
    display, err = _display(kwargs)
    pace = _pace(kwargs)
    told = _told(kwargs)

    async def call(stopper: Stopper, sink: EventSink) -> RunSummary:
        options = _options(kwargs, pace, sink)
        if out is not None:
            return await plan_to_dir_async(
                sheet, out, options=options, on_event=sink, stopper=stopper
            )
        return await plan_sheet_async(sheet, options=options, on_event=sink, stopper=stopper)

    _execute(call, display, err, mode="plan", told=told)


def resume_run(run_dir: Path, kwargs: dict[str, Any], windows: dict[str, Any]) -> None:
    """``bulkpatch resume``: a run continued from its journal."""
    display, err = _display(kwargs)
    overrides = _overrides(kwargs)
    if kwargs.get("notify_url"):
        overrides["notify_url"] = kwargs["notify_url"]
    if kwargs.get("rate_store"):
        overrides["rate_store"] = kwargs["rate_store"]
    overrides.update(windows)

    async def call(stopper: Stopper, sink: EventSink) -> RunSummary:
        return await resume_run_async(run_dir, overrides=overrides, on_event=sink, stopper=stopper)

    _execute(call, display, err, mode="resume", told=_told(kwargs))
