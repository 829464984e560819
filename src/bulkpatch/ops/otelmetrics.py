"""The run's OpenTelemetry metrics, cheap per request.

The counts are plain Python counters, read by observable instruments when the metric reader
collects (every ``OTEL_METRIC_EXPORT_INTERVAL``, and once more at the end): a request costs a few
dictionary updates and one histogram record, not one SDK measurement per metric.  Counters are
cumulative; their final values equal the counts in ``summary.json`` (and the Pushgateway push).

* ``bulkpatch.rows`` {outcome}: rows finished;
* ``bulkpatch.requests`` {method, status or error}: HTTP requests sent, retries included;
* ``bulkpatch.throttled``: requests answered 429;
* ``bulkpatch.retries`` {status}: requests sent again after a wait;
* ``bulkpatch.pacer.rate``: the pacer's current rate (requests/s; absent when unlimited);
* ``http.client.active_requests`` {method, server}: requests in flight;
* ``http.client.request.duration`` {method, status, server, error}: seconds per request.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from bulkpatch.version import __version__

#: Bucket bounds of ``http.client.request.duration`` (seconds), as the conventions advise.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
Key = tuple[tuple[str, Any], ...]
_BY_PROVIDER: weakref.WeakKeyDictionary[Any, Meters] = weakref.WeakKeyDictionary()


def _observe(counts: Counter[Key]) -> Iterable[Observation]:
    return [Observation(n, dict(key)) for key, n in list(counts.items())]


class Meters:
    """The instruments of one meter provider, and the counts they report."""

    def __init__(self, meter_provider: MeterProvider) -> None:
        meter = meter_provider.get_meter("bulkpatch", __version__)
        self.rows: Counter[Key] = Counter()
        self.requests: Counter[Key] = Counter()
        self.throttled: Counter[Key] = Counter({(): 0})
        self.retries: Counter[Key] = Counter()
        self.active: Counter[Key] = Counter()
        self.rate: float | None = None

        def counter(name: str, counts: Counter[Key], unit: str, description: str) -> None:
            def read(options: CallbackOptions) -> Iterable[Observation]:
                return _observe(counts) or [Observation(0)]

            meter.create_observable_counter(name, [read], unit=unit, description=description)

        counter("bulkpatch.rows", self.rows, "{row}", "Rows finished, by outcome.")
        counter(
            "bulkpatch.requests",
            self.requests,
            "{request}",
            "HTTP requests sent (retries included), by method and status.",
        )
        counter("bulkpatch.throttled", self.throttled, "{request}", "Requests answered 429.")
        counter("bulkpatch.retries", self.retries, "{retry}", "Requests sent again after a wait.")

        def active(options: CallbackOptions) -> Iterable[Observation]:
            return _observe(self.active)

        def rate(options: CallbackOptions) -> Iterable[Observation]:
            return [] if self.rate is None else [Observation(self.rate)]

        meter.create_observable_up_down_counter(
            "http.client.active_requests",
            [active],
            unit="{request}",
            description="Requests in flight.",
        )
        meter.create_observable_gauge(
            "bulkpatch.pacer.rate",
            [rate],
            unit="{request}/s",
            description="The pacer's current rate.",
        )
        self.duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )


def meters_of(meter_provider: MeterProvider) -> Meters:
    """The provider's :class:`Meters`, made once (an instrument is registered once per name, so
    the runs of one process share the counts: they are cumulative, as counters are)."""
    try:
        found = _BY_PROVIDER.get(meter_provider)
    except TypeError:  # not weakly referenceable
        return Meters(meter_provider)
    if found is None:
        found = _BY_PROVIDER[meter_provider] = Meters(meter_provider)
    return found
