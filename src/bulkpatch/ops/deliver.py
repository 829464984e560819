"""After a run: telling whoever is not watching (``--notify-url``, ``--pushgateway``).

Every ending is told: a run's summary when it has one, else what is known of the failure that
ended it (:func:`failure_summary`: exit code, the error's line, the run directory if any).
Both are sent at once, within one bound of :data:`DELIVERY_TIMEOUT` seconds for the two, and
never change the run's outcome or exit code: a failure to deliver (a receiver too slow is one)
is a warning :class:`~bulkpatch.core.events.Notice`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from bulkpatch.core.errors import BulkpatchError
from bulkpatch.core.events import EventSink, Notice
from bulkpatch.core.failures import ending_error, error_line, exit_code_of
from bulkpatch.core.options import RunOptions
from bulkpatch.core.summary import RunSummary
from bulkpatch.ops.notify import build_notification, check_notify_url, send_notification
from bulkpatch.ops.pushgateway import check_pushgateway_url, push_run_metrics_async
from bulkpatch.version import __version__

#: Seconds the notification and the push may take together: they are sent at once, and a
#: receiver that has not answered by then is given up with a warning.
DELIVERY_TIMEOUT = 10.0
#: Beyond the bound, how long a sender that overruns it is waited for before it is abandoned.
_BACKSTOP = 0.5
#: Set on an exception once its ending was delivered, so that it is not delivered twice.
_DELIVERED = "_bulkpatch_delivered"


def check_delivery(options: RunOptions) -> None:
    """Refuse a notify URL or Pushgateway that could never work, before the run starts."""
    if options.notify_url:
        check_notify_url(options.notify_url)
    if options.pushgateway:
        check_pushgateway_url(options.pushgateway)


def failure_summary(
    error: BaseException,
    *,
    mode: str,
    sheet: str | os.PathLike[str] | None = None,
    run_dir: Path | None = None,
    shard: str | None = None,
) -> dict[str, Any]:
    """What is known of a run that ended with ``error`` instead of a summary (pure but for the
    time): the fields of summary.json that a notification and the gauges read."""
    return {
        "bulkpatch": __version__,
        "mode": mode,
        "sheet": {"path": str(sheet)} if sheet is not None else {},
        "run_dir": str(run_dir) if run_dir is not None else None,
        "shard": shard,
        "finished": datetime.now(UTC).isoformat(),
        "exit_code": int(exit_code_of(ending_error(error))),
        "error": error_line(error),
    }


async def deliver(summary: RunSummary, options: RunOptions, on_event: EventSink) -> None:
    await deliver_data(summary.as_dict(), options, on_event)


async def deliver_failure(
    error: BaseException,
    options: RunOptions,
    on_event: EventSink,
    *,
    mode: str,
    sheet: str | os.PathLike[str] | None = None,
    run_dir: Path | None = None,
) -> None:
    """Tell what is known of a run that ended with ``error`` (once per error)."""
    if was_delivered(error):
        return
    _mark_delivered(error)
    if not options.notify_url and not options.pushgateway:
        return
    try:
        check_delivery(options)
    except BulkpatchError:
        return  # the error being told is this very one: there is nowhere to tell it
    data = failure_summary(error, mode=mode, sheet=sheet, run_dir=run_dir, shard=options.shard)
    await deliver_data(data, options, on_event, what="how the run ended")


def was_delivered(error: BaseException) -> bool:
    return bool(getattr(error, _DELIVERED, False))


def _mark_delivered(error: BaseException) -> None:
    with contextlib.suppress(TypeError):  # one without a __dict__: told again at worst
        vars(error)[_DELIVERED] = True


async def deliver_data(
    data: Mapping[str, Any],
    options: RunOptions,
    on_event: EventSink,
    *,
    what: str = "the run's summary",
    timeout: float = DELIVERY_TIMEOUT,  # noqa: ASYNC109 -- the bound is the call's own contract
) -> None:
    """POST ``data`` to --notify-url and push its gauges to --pushgateway (those given), both at
    once, within one bound of ``timeout`` seconds for the two: a receiver still silent then is
    abandoned with a warning, and the other's delivery stands."""
    said: dict[str, str | None] = {}

    async def notify(url: str) -> None:
        payload = build_notification(data, fmt=options.notify_format)
        said["notify"] = await send_notification(url, payload, timeout=timeout)

    async def push(url: str) -> None:
        grouping = {"shard": options.shard.replace("/", "-of-")} if options.shard else {}
        said["metrics"] = await push_run_metrics_async(
            url, data, job=options.metrics_job, grouping=grouping, timeout=timeout
        )

    # Started together, each within the bound: together they end by it.  The scope is the
    # backstop that holds the bound whatever a sender does (a push runs in a thread: abandoned,
    # it ends within its own bound).
    with anyio.move_on_after(timeout + _BACKSTOP):
        async with anyio.create_task_group() as tg:
            if options.notify_url:
                tg.start_soon(notify, options.notify_url)
            if options.pushgateway:
                tg.start_soon(push, options.pushgateway)
    if options.notify_url:
        why = said.get("notify", f"no answer within {timeout:g} s")
        if why:
            on_event(Notice("warning", f"could not notify: {why}", "notify"))
        else:
            on_event(Notice("info", f"notified {what}", "notify"))
    if options.pushgateway:
        why = said.get("metrics", f"no answer within {timeout:g} s")
        if why:
            on_event(Notice("warning", f"could not push the run's metrics: {why}", "metrics"))
