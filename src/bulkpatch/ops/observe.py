"""How a library call is watched: standard logging always, OpenTelemetry when it is on.

Each library call (``apply_sheet``, ``resume_run``, ``verify_run``, ``undo_run``,
``export_campaigns``, ...) runs inside :func:`observed`, which

* tells every event to the ``logging`` bridge (:mod:`bulkpatch.core.eventlog`) as well as to the
  caller's ``on_event``;
* with telemetry on, makes an :class:`~bulkpatch.ops.otel.OtelTelemetry` current for the call
  (the engine's hooks find it) inside the run's span, and at the end flushes what bulkpatch
  built within :data:`~bulkpatch.ops.otelsetup.FLUSH_SECONDS`, saying in one notice what the
  collector did not take.

Telemetry is on when the call is given a ``tracer_provider`` or ``meter_provider``, when the
command line was given ``--otel`` (:func:`request_otel`), or when the standard environment names
an OTLP endpoint or exporter (:func:`wanted_by_env`).  Off, nothing of OpenTelemetry is imported.
A call inside another (``undo`` runs ``apply``) is part of the outer one's span and log.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec

import anyio.to_thread

from bulkpatch.core import telemetry
from bulkpatch.core.errors import UsageError
from bulkpatch.core.eventlog import log_event
from bulkpatch.core.events import Event, EventSink, Notice, ignore
from bulkpatch.core.summary import RunSummary

P = ParamSpec("P")
INSTALL_HINT = "--otel needs OpenTelemetry, which is not installed: pip install 'bulkpatch[otel]'"
_ENDPOINTS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)
#: The standard variables that shape what bulkpatch's own providers send (the SDK reads them;
#: docs/observability.md): the service and resource, the sampler, the exporter's protocol,
#: headers and timeout, how often metrics go, and the span batches.
STANDARD_ENV = (
    *_ENDPOINTS,
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_EXPORT_TIMEOUT",
)
#: ``--otel`` was given (the command line runs one command per process).
_requested = False
_INSIDE: ContextVar[Observation | None] = ContextVar("bulkpatch_observation", default=None)


def wanted_by_env(env: Mapping[str, str]) -> bool:
    """The standard environment asks for telemetry: an OTLP endpoint, or an ``otlp`` traces or
    metrics exporter (and not ``OTEL_SDK_DISABLED=true``)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if any(env.get(name, "").strip() for name in _ENDPOINTS):
        return True
    exporters = (env.get("OTEL_TRACES_EXPORTER", ""), env.get("OTEL_METRICS_EXPORTER", ""))
    return any("otlp" in value.lower() for value in exporters)


def installed() -> bool:
    """The ``otel`` extra is installed."""
    try:
        for name in ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http"):
            importlib.import_module(name)
    except ImportError:
        return False
    return True


def request_otel() -> None:
    """``--otel``: telemetry on for this process's library calls; :class:`UsageError` when the
    extra is not installed."""
    global _requested
    if not installed():
        raise UsageError(INSTALL_HINT)
    _requested = True


@dataclass
class Observation:
    """A library call being watched: its sink (logging, telemetry, the caller's)."""

    sink: EventSink
    telemetry: Any = None

    def finished(self, summary: RunSummary) -> None:
        """The call's final summary (it may differ from the last RunFinished: undo's)."""
        if self.telemetry is not None:
            self.telemetry.finished(summary)


def _tee(on_event: EventSink, watcher: telemetry.Telemetry) -> EventSink:
    if not watcher.enabled:

        def logged(event: Event) -> None:
            log_event(event)
            on_event(event)

        return logged

    def watched(event: Event) -> None:
        log_event(event)
        watcher.on_event(event)
        on_event(event)

    return watched


def _start(tracer_provider: Any, meter_provider: Any, on_event: EventSink) -> tuple[Any, Any]:
    """(telemetry, providers bulkpatch owns) -- (None, None) when telemetry is off."""
    given = tracer_provider is not None or meter_provider is not None
    if not (given or _requested or wanted_by_env(os.environ)):
        return None, None
    if not installed():
        on_event(Notice("warning", INSTALL_HINT.replace("--otel", "telemetry"), "telemetry"))
        return None, None
    # OpenTelemetry is imported only now that telemetry is on (the extra may be absent).
    from bulkpatch.ops.otel import OtelTelemetry  # (see above)
    from bulkpatch.ops.otelsetup import add_trace_ids, build_providers, global_providers  # (same)

    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip()
    if protocol != "http/protobuf":
        text = (
            f"telemetry: OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported; bulkpatch "
            "exports OTLP over HTTP with protobuf (the collector's port 4318)"
        )
        on_event(Notice("warning", text, "telemetry"))
    owned = None
    if not given:
        tracer_provider, meter_provider = global_providers()
        if tracer_provider is None and meter_provider is None:
            owned = build_providers()
            tracer_provider, meter_provider = owned.tracer_provider, owned.meter_provider
    if tracer_provider is None or meter_provider is None:
        from opentelemetry import metrics, trace  # only with telemetry on (see above)

        tracer_provider = tracer_provider or trace.get_tracer_provider()
        meter_provider = meter_provider or metrics.get_meter_provider()
    add_trace_ids()
    return OtelTelemetry(tracer_provider, meter_provider), owned


@asynccontextmanager
async def observed(
    mode: str,
    on_event: EventSink,
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> AsyncIterator[Observation]:
    """Watch a library call (see the module's docstring)."""
    outer = _INSIDE.get()
    if outer is not None:  # a call inside another: the outer one watches
        yield Observation(sink=on_event)
        return
    watcher, owned = _start(tracer_provider, meter_provider, on_event)
    observation = Observation(sink=_tee(on_event, watcher or telemetry.NO_TELEMETRY))
    observation.telemetry = watcher
    token = _INSIDE.set(observation)
    try:
        if watcher is None:
            yield observation
        else:
            with telemetry.using(watcher), watcher.run_span(mode):
                yield observation
    finally:
        _INSIDE.reset(token)
        if owned is not None:
            with anyio.CancelScope(shield=True):
                said = await anyio.to_thread.run_sync(owned.close)
            if said:
                observation.sink(Notice("warning", said, "telemetry"))


def watched(
    mode: str,
) -> Callable[[Callable[P, Awaitable[RunSummary]]], Callable[P, Awaitable[RunSummary]]]:
    """Decorate a library call (keyword arguments ``on_event``, ``tracer_provider``,
    ``meter_provider``) to run inside :func:`observed`."""

    def decorate(call: Callable[P, Awaitable[RunSummary]]) -> Callable[P, Awaitable[RunSummary]]:
        @functools.wraps(call)
        async def watching(*args: P.args, **kwargs: P.kwargs) -> RunSummary:
            sink: EventSink = kwargs.get("on_event", ignore)  # type: ignore[assignment]
            tracer_provider = kwargs.pop("tracer_provider", None)
            meter_provider = kwargs.pop("meter_provider", None)
            async with observed(
                mode, sink, tracer_provider=tracer_provider, meter_provider=meter_provider
            ) as watch:
                kwargs["on_event"] = watch.sink
                summary = await call(*args, **kwargs)
                watch.finished(summary)
                return summary

        return watching

    return decorate
