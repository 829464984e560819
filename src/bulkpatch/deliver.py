"""After a run: telling whoever is not watching (``--notify-url``, ``--pushgateway``).

Both are bounded in time and never change the run's outcome or exit code: a failure is a
warning :class:`~bulkpatch.events.Notice`.
"""

from __future__ import annotations

from bulkpatch.events import EventSink, Notice
from bulkpatch.metrics import check_pushgateway_url, push_run_metrics_async
from bulkpatch.notify import build_notification, check_notify_url, send_notification
from bulkpatch.options import RunOptions
from bulkpatch.summary import RunSummary


def check_delivery(options: RunOptions) -> None:
    """Refuse a notify URL or Pushgateway that could never work, before the run starts."""
    if options.notify_url:
        check_notify_url(options.notify_url)
    if options.pushgateway:
        check_pushgateway_url(options.pushgateway)


async def deliver(summary: RunSummary, options: RunOptions, on_event: EventSink) -> None:
    data = summary.as_dict()
    if options.notify_url:
        payload = build_notification(data, fmt=options.notify_format)
        why = await send_notification(options.notify_url, payload)
        if why:
            on_event(Notice("warning", f"could not notify: {why}", "notify"))
        else:
            on_event(Notice("info", "notified the run's summary", "notify"))
    if options.pushgateway:
        grouping = {"shard": options.shard.replace("/", "-of-")} if options.shard else {}
        why = await push_run_metrics_async(
            options.pushgateway, data, job=options.metrics_job, grouping=grouping
        )
        if why:
            on_event(Notice("warning", f"could not push the run's metrics: {why}", "metrics"))
