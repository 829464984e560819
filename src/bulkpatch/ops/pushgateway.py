"""``--pushgateway URL``: a run's gauges, pushed to a Prometheus Pushgateway at its end.

Pushed with ``prometheus_client`` under a job name (default ``bulkpatch``) and grouping labels
(for example ``shard``), with POST semantics (``pushadd``): a push replaces the metrics of the
same names in its group and leaves the others, so ``bulkpatch_last_success_timestamp_seconds``
-- pushed only when a run ends with exit 0 -- keeps the time of the last good run while later
runs fail.  Alert on it growing old::

    time() - bulkpatch_last_success_timestamp_seconds{job="bulkpatch"} > 26 * 3600

The gauges (:data:`METRIC_HELP`): last success and last run time (Unix seconds), rows of the
last run by ``outcome``, its duration, requests, 429s, campaigns left paused, and exit code.

:func:`run_registry` is pure; :func:`push_run_metrics` does the push in bounded time and never
raises (call it in a thread from async code, as :func:`push_run_metrics_async` does).
"""

from __future__ import annotations

import functools
import threading
import urllib.error
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio.to_thread

from bulkpatch.core.errors import UsageError
from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.text import shorten
from bulkpatch.ops.notify import os_reason, redact_url

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

DEFAULT_JOB = "bulkpatch"
#: Seconds one push may take in all.
PUSH_TIMEOUT = 10.0

METRIC_HELP = {
    "bulkpatch_last_success_timestamp_seconds": (
        "When a bulkpatch run last ended with every row updated or unchanged (exit 0), "
        "in Unix seconds."
    ),
    "bulkpatch_last_run_timestamp_seconds": "When the last bulkpatch run ended, in Unix seconds.",
    "bulkpatch_last_run_exit_code": "Exit code of the last run (0 ok, 1 rows not ok, 3 stopped).",
    "bulkpatch_last_run_rows": "Rows of the last run, by outcome.",
    "bulkpatch_last_run_duration_seconds": "How long the last run took, in seconds.",
    "bulkpatch_last_run_requests": "HTTP requests the last run sent (retries included).",
    "bulkpatch_last_run_throttled_requests": "Requests of the last run answered 429.",
    "bulkpatch_last_run_campaigns_left_paused": "Campaigns the last run paused and left paused.",
}


def check_pushgateway_url(url: str) -> str:
    """``url`` when it can name a Pushgateway (``http://`` or ``https://`` with a host, no
    user name or password in it); else :class:`UsageError`.  Metrics carry no secret, so plain
    http inside a cluster is fine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            "--pushgateway must be the Pushgateway's http:// or https:// URL "
            "(for example http://pushgateway.monitoring:9091)"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError(
            "--pushgateway must not carry a user name, password, query or fragment; give "
            "the Pushgateway's base URL"
        )
    return url


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def run_registry(summary: Mapping[str, Any], *, now: float) -> CollectorRegistry:
    """A registry holding the gauges of a run's ``summary`` (``now``: Unix seconds, used when
    the summary has no ``finished`` time).  A gauge whose value the summary lacks is left out."""
    # Imported here: only a run with --pushgateway needs it (it costs every command ~50 ms).
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry(auto_describe=True)

    def gauge(name: str, value: float | None) -> None:
        if value is not None:
            Gauge(name, METRIC_HELP[name], registry=registry).set(value)

    finished = _timestamp(summary.get("finished")) or now
    code = summary.get("exit_code")
    if code == 0:
        gauge("bulkpatch_last_success_timestamp_seconds", finished)
    gauge("bulkpatch_last_run_timestamp_seconds", finished)
    gauge("bulkpatch_last_run_exit_code", _number(code))
    outcomes = summary.get("outcomes")
    if isinstance(outcomes, Mapping):
        rows = Gauge(
            "bulkpatch_last_run_rows",
            METRIC_HELP["bulkpatch_last_run_rows"],
            ["outcome"],
            registry=registry,
        )
        names = [str(o) for o in Outcome] + sorted(set(map(str, outcomes)) - set(map(str, Outcome)))
        for name in names:
            rows.labels(outcome=name).set(_number(outcomes.get(name)) or 0.0)
    gauge("bulkpatch_last_run_duration_seconds", _number(summary.get("duration_s")))
    requests = summary.get("requests")
    if isinstance(requests, Mapping):
        gauge("bulkpatch_last_run_requests", _number(requests.get("total")))
    gauge("bulkpatch_last_run_throttled_requests", _number(summary.get("throttled_429")))
    paused = summary.get("campaigns_left_paused")
    if isinstance(paused, Mapping | list):
        gauge("bulkpatch_last_run_campaigns_left_paused", float(len(paused)))
    return registry


def push_run_metrics(
    url: str,
    summary: Mapping[str, Any],
    *,
    job: str = DEFAULT_JOB,
    grouping: Mapping[str, str] | None = None,
    timeout: float = PUSH_TIMEOUT,
    now: float | None = None,
) -> str | None:
    """Push the run's gauges to the Pushgateway at ``url`` (POST: see the module's note).

    Blocks at most about ``timeout`` seconds and never raises: None when the Pushgateway took
    them, else a short printable reason (naming it by scheme and host only).
    """
    where = redact_url(url)
    try:
        registry = run_registry(summary, now=now if now is not None else _now())
        grouping_key = {str(k): str(v) for k, v in (grouping or {}).items()}
    except Exception as exc:  # a summary we cannot read must not fail the run
        return f"the run's metrics could not be built ({type(exc).__name__})"
    result: list[str | None] = []

    def push() -> None:
        from prometheus_client import pushadd_to_gateway  # lazy, as above

        try:
            pushadd_to_gateway(
                url, job=job, registry=registry, grouping_key=grouping_key, timeout=timeout
            )
            result.append(None)
        except urllib.error.HTTPError as exc:
            try:
                detail = shorten(exc.read(300).decode("utf-8", "replace").strip(), 120)
            except Exception:
                detail = ""
            finally:
                exc.close()
            result.append(f"{where} answered HTTP {exc.code}" + (f": {detail}" if detail else ""))
        except urllib.error.URLError as exc:
            reason = exc.reason
            text = os_reason(reason) if isinstance(reason, BaseException) else shorten(reason, 120)
            result.append(f"cannot reach {where}: {text}")
        except TimeoutError:
            result.append(f"{where} did not answer within {timeout:g} s")
        except Exception as exc:  # never raise
            result.append(f"pushing to {where} failed ({type(exc).__name__})")

    worker = threading.Thread(target=push, name="bulkpatch-pushgateway", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive() or not result:
        return f"{where} did not answer within {timeout:g} s"
    return result[0]


async def push_run_metrics_async(
    url: str,
    summary: Mapping[str, Any],
    *,
    job: str = DEFAULT_JOB,
    grouping: Mapping[str, str] | None = None,
    timeout: float = PUSH_TIMEOUT,  # noqa: ASYNC109 -- the thread's own bound, see above
) -> str | None:
    """:func:`push_run_metrics` in a worker thread, for async code."""
    call = functools.partial(
        push_run_metrics, url, summary, job=job, grouping=grouping, timeout=timeout
    )
    # Abandoned on cancellation (a caller's deadline): the thread ends within its own bound.
    return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)


def _now() -> float:
    return datetime.now().timestamp()
