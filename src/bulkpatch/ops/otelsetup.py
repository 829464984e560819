"""The OpenTelemetry SDK set up from the standard environment, the run-kept sampler, and a
bounded flush at the end.

Only imported when telemetry is on.  bulkpatch builds its own providers only when it is given
none and none is set globally; it never sets the global ones.  Those it builds export OTLP over
HTTP with protobuf (``OTEL_EXPORTER_OTLP_*``), name the service ``bulkpatch`` unless
``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` say otherwise, and sample with
:class:`RunKeptSampler`: the run span is always kept (unless its parent was dropped), and a
ratio from ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` applies to each row (and to
requests outside rows), so a 1 % trace of a big run is a whole run span with 1 % of its rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from bulkpatch.core import eventlog
from bulkpatch.ops.otel import ROW_SPAN
from bulkpatch.version import __version__

#: Seconds the end of a run may wait for the collector to take what is left.
FLUSH_SECONDS = 5.0
_RATIO_SAMPLERS = ("traceidratio", "parentbased_traceidratio")
_OFF_SAMPLERS = ("always_off", "parentbased_always_off")


def sampler_ratio(env: Mapping[str, str]) -> float | None:
    """The row ratio the standard sampler variables ask for (None: sample nothing at all)."""
    name = env.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if name in _OFF_SAMPLERS:
        return None
    if name not in _RATIO_SAMPLERS:
        return 1.0
    try:
        ratio = float(env.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    except ValueError:
        return 1.0
    return min(1.0, max(0.0, ratio))


def _keeps(ratio: float, trace_id: int, row: object) -> bool:
    if ratio >= 1.0:
        return True
    if row is None:
        return random.random() < ratio
    digest = hashlib.blake2b(f"{trace_id:032x}/{row}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < ratio * 2**64


class RunKeptSampler(Sampler):
    """ParentBased(ALWAYS_ON) for the run span; ``ratio`` for each row span (decided per trace
    and row number) and each request span outside a row; parent-based below a row."""

    def __init__(self, ratio: float) -> None:
        self._ratio = ratio
        self._parent_based = ParentBased(ALWAYS_ON)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context)
        context = parent.get_span_context()
        if self._ratio < 1.0 and context.is_valid and context.trace_flags.sampled:
            unit = name == ROW_SPAN or (
                kind is SpanKind.CLIENT and getattr(parent, "name", ROW_SPAN) != ROW_SPAN
            )
            if unit:
                row = attributes.get("bulkpatch.row") if attributes else None
                keep = _keeps(self._ratio, trace_id, row)
                decision = Decision.RECORD_AND_SAMPLE if keep else Decision.DROP
                return SamplingResult(decision, attributes if keep else None, context.trace_state)
        return self._parent_based.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"RunKeptSampler{{rows={self._ratio}}}"


def resource(env: Mapping[str, str]) -> Resource:
    """The standard resource (``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME``); the service
    is ``bulkpatch`` unless they name it."""
    found = Resource.create({SERVICE_VERSION: __version__})
    if str(found.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        found = found.merge(Resource({SERVICE_NAME: "bulkpatch"}))
    return found


class _Ended(SpanProcessor):
    """Counts the spans that ended (and so were queued for export)."""

    def __init__(self) -> None:
        self.count = 0

    def on_end(self, span: ReadableSpan) -> None:
        self.count += 1


@dataclass
class Owned:
    """Providers bulkpatch built for one library call: shut down (bounded) at its end."""

    tracer_provider: Any
    meter_provider: Any
    ended: _Ended | None = None
    taken: list[int] = field(default_factory=lambda: [0])
    metrics_failed: list[bool] = field(default_factory=lambda: [False])

    def close(self, bound: float = FLUSH_SECONDS) -> str:
        """Flush and shut down within about ``bound`` seconds; never raises.  Returns "" when
        the collector took everything, else one line saying what it did not take."""

        def shut() -> None:
            for provider in (self.tracer_provider, self.meter_provider):
                with contextlib.suppress(Exception):  # the collector's trouble is not the run's
                    provider.shutdown()

        worker = threading.Thread(target=shut, name="bulkpatch-otel-flush", daemon=True)
        worker.start()
        worker.join(bound)
        late = f" within {bound:g} s" if worker.is_alive() else ""
        problems = []
        ended = self.ended.count if self.ended is not None else 0
        missing = ended - self.taken[0]
        if missing > 0:
            problems.append(f"{missing:,} of {ended:,} spans")
        if self.metrics_failed[0] or (worker.is_alive() and self.meter_provider is not None):
            problems.append("the last metrics")
        if not problems:
            return ""
        return f"telemetry: the collector did not take {' and '.join(problems)}{late}"


def _counting(exporter: Any, taken: list[int] | None, failed: list[bool] | None) -> Any:
    """``exporter`` counting what the collector took (spans) or whether an export failed."""
    export = exporter.export

    def counted(batch: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = export(batch, *args, **kwargs)
        except Exception:
            result = None
        ok = result is not None and getattr(result, "name", "") == "SUCCESS"
        if taken is not None and ok:
            taken[0] += len(batch)
        if failed is not None:
            failed[0] = not ok
        return result

    exporter.export = counted
    return exporter


def build_providers(env: Mapping[str, str] | None = None) -> Owned:
    """Tracer and meter providers exporting OTLP/HTTP as the environment says."""
    env = os.environ if env is None else env
    where = resource(env)
    ratio = sampler_ratio(env)
    sampler = RunKeptSampler(ratio) if ratio is not None else ALWAYS_OFF
    tracer_provider = TracerProvider(resource=where, sampler=sampler)
    owned = Owned(tracer_provider=tracer_provider, meter_provider=None)
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() != "none":
        exporter = _counting(OTLPSpanExporter(), owned.taken, None)
        owned.ended = _Ended()
        tracer_provider.add_span_processor(owned.ended)
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    readers = []
    if env.get("OTEL_METRICS_EXPORTER", "otlp").strip().lower() != "none":
        exporter = _counting(OTLPMetricExporter(), None, owned.metrics_failed)
        readers.append(PeriodicExportingMetricReader(exporter))
    # No exemplars: they would cost every histogram record a look at the current span.
    owned.meter_provider = MeterProvider(
        resource=where, metric_readers=readers, exemplar_filter=AlwaysOffExemplarFilter()
    )
    return owned


def global_providers() -> tuple[Any, Any]:
    """The globally set tracer and meter providers, each None while it is unset."""
    tracer_provider: Any = trace.get_tracer_provider()
    meter_provider: Any = metrics.get_meter_provider()
    tp = None if type(tracer_provider).__name__ == "ProxyTracerProvider" else tracer_provider
    mp = None if type(meter_provider).__name__.startswith("_Proxy") else meter_provider
    return tp, mp


class TraceIds(logging.Filter):
    """Adds ``otelTraceID``, ``otelSpanID`` and ``otelTraceSampled`` from the current span (the
    names the OpenTelemetry logging instrumentation uses; "0" with no span)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        valid = context.is_valid
        record.otelTraceID = format(context.trace_id, "032x") if valid else "0"
        record.otelSpanID = format(context.span_id, "016x") if valid else "0"
        record.otelTraceSampled = bool(valid and context.trace_flags.sampled)
        return True


_FILTER = TraceIds()


def add_trace_ids() -> None:
    """Put :class:`TraceIds` on each of the library's loggers (once)."""
    for logger in eventlog.LOGGERS:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
