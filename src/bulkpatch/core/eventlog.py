"""The library's events as standard ``logging`` records, where Python programs look for them.

Every library call tells its events (``bulkpatch.core.events``) to :func:`log_event` as well as
to its ``on_event`` sink: the run's start and end on ``bulkpatch.run`` (INFO), notices on
``bulkpatch.notice`` at their level, each row on ``bulkpatch.row`` (DEBUG; a row that is not ok
at INFO), progress on ``bulkpatch.progress`` (DEBUG).  The library adds no handler but a
``NullHandler`` on ``bulkpatch`` (so nothing is printed unless the program configures logging);
an Airflow task's log shows them as its other logs.  Text that came from a sheet or the API is
already cleaned where events are made; records carry only ids, counts and those texts, never a
key.  A record's structured fields are in its ``bulkpatch`` attribute (a dict).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bulkpatch.core.events import Event, Notice, Progress, RowFinished, RunFinished, RunStarted

ROOT = logging.getLogger("bulkpatch")
ROOT.addHandler(logging.NullHandler())
RUN = logging.getLogger("bulkpatch.run")
ROW = logging.getLogger("bulkpatch.row")
NOTICE = logging.getLogger("bulkpatch.notice")
PROGRESS = logging.getLogger("bulkpatch.progress")
#: Every logger the library logs on (a filter meant for all its records goes on each).
LOGGERS = (ROOT, RUN, ROW, NOTICE, PROGRESS)
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _log(logger: logging.Logger, level: int, text: str, fields: Mapping[str, Any]) -> None:
    logger.log(level, "%s", text, extra={"bulkpatch": fields})


def log_event(event: Event) -> None:
    """Log one event (cheap when nobody listens: one level check for the common ones)."""
    fields: dict[str, Any]
    if isinstance(event, RowFinished):
        result = event.result
        level = logging.DEBUG if result.outcome.ok else logging.INFO
        if ROW.isEnabledFor(level):
            key = result.key
            fields = {
                "row": result.row,
                "campaign_id": key.campaign_id if key is not None else None,
                "outcome": result.outcome.value,
                "reason": result.reason,
                "attempts": result.attempts,
                "http_status": result.http_status,
            }
            where = f" ({key})" if key is not None else ""
            reason = f": {result.reason}" if result.reason else ""
            _log(ROW, level, f"row {result.row}{where} {result.outcome.value}{reason}", fields)
    elif isinstance(event, Progress):
        if PROGRESS.isEnabledFor(logging.DEBUG):
            fields = {
                "done": event.done,
                "total": event.total,
                "rate": event.achieved_rate,
            }
            _log(PROGRESS, logging.DEBUG, f"{event.done}/{event.total} rows", fields)
    elif isinstance(event, Notice):
        level = _LEVELS.get(event.level, logging.INFO)
        if NOTICE.isEnabledFor(level):
            _log(NOTICE, level, event.text, {"code": event.code})
    elif isinstance(event, RunStarted):
        fields = {
            "mode": event.mode,
            "rows": event.rows,
            "run_dir": str(event.run_dir),
        }
        text = f"{event.mode} started: {event.rows} rows, run directory {event.run_dir}"
        _log(RUN, logging.INFO, text, fields)
    elif isinstance(event, RunFinished):
        summary = event.summary
        fields = {
            "mode": summary.mode,
            "exit_code": summary.exit_code,
            "outcomes": dict(summary.outcomes),
            "run_dir": str(summary.run_dir),
        }
        counts = ", ".join(f"{k} {v}" for k, v in summary.outcomes.items() if v)
        text = f"{summary.mode} finished with exit code {summary.exit_code}: {counts or 'no rows'}"
        _log(RUN, logging.INFO, text, fields)
