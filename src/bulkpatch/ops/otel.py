"""OpenTelemetry behind :class:`bulkpatch.core.telemetry.Telemetry`: spans, metrics, traceparent.

Only imported when telemetry is on (``bulkpatch[otel]``).  The span tree of a run::

    bulkpatch run            (one per session: run, resume, plan, undo, verify, export)
      bulkpatch row          (one per row a worker applies)
        GET / PATCH / PUT    (client spans, HTTP semantic conventions)

Attributes are ids, counts, statuses and the row's capped reason: never the API key, a cell
value beyond the ids, or an API answer (``docs/observability.md``, "Never leaked").  The metrics
are the counters the Pushgateway push and ``summary.json`` hold, as they grow.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bulkpatch.core.events import Event, Progress, RowFinished, RunFinished, RunStarted
from bulkpatch.core.telemetry import RESENDS
from bulkpatch.ops.otelmetrics import Key, Meters, meters_of
from bulkpatch.version import __version__

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from bulkpatch.core.results import RowResult
    from bulkpatch.core.rows import CampaignKey
    from bulkpatch.core.summary import RunSummary

H = TypeVar("H", bound=Mapping[str, str])
ROW_SPAN = "bulkpatch row"
_PROPAGATOR = TraceContextTextMapPropagator()


def run_span_name(mode: str) -> str:
    return f"bulkpatch {mode}"


@lru_cache(maxsize=16)
def _server(base_url: str) -> tuple[str, str, int]:
    """(the base URL without user info, query or fragment; host; port)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host:
        netloc = f"[{host}]" + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), host, port


def full_url(base_url: str, path: str) -> str:
    """``url.full`` of a request: no user info, and every query value ``REDACTED`` (a page
    token or a search text is nobody's business)."""
    base = _server(base_url)[0]
    path, _, query = path.partition("?")
    if not query:
        return base + path
    redacted = urlencode([(k, "REDACTED") for k, _ in parse_qsl(query, keep_blank_values=True)])
    return f"{base}{path}?{redacted}"


def error_type(status: int | None, transport_error: str) -> str:
    """``error.type``: the status of an HTTP error, else the exception's class name the client
    put in parentheses ("cannot connect (ClientConnectorError)"), else ``timeout``."""
    if status is not None:
        return str(status) if status >= 400 else ""
    if transport_error.endswith(")") and "(" in transport_error:
        name = transport_error.rsplit("(", 1)[1][:-1]
        if name.isidentifier():
            return name
    return "timeout" if "timed out" in transport_error else "_OTHER"


class _RowSpan:
    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._token: object = None

    def __enter__(self) -> _RowSpan:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]
        if kind is not None:
            self._span.set_status(Status(StatusCode.ERROR))
            self._span.set_attribute("error.type", kind.__name__)
        self._span.end()

    def finished(self, result: RowResult) -> None:
        span = self._span
        if not span.is_recording():
            return
        span.set_attributes(
            {
                "bulkpatch.outcome": result.outcome.value,
                "bulkpatch.reason": result.reason,
                "bulkpatch.attempts": result.attempts,
            }
        )
        if result.http_status is not None:
            span.set_attribute("http.response.status_code", result.http_status)
        if not result.outcome.ok:
            span.set_status(Status(StatusCode.ERROR))
            span.set_attribute("error.type", result.outcome.value)


class _RequestSpan:
    """A request's client span (None under a row that is not sampled: its traceparent then
    names the row) and its metrics."""

    __slots__ = ("_key", "_meters", "_server", "_span", "_started", "_token")

    def __init__(self, span: Span | None, meters: Meters, server: Key) -> None:
        self._span = span
        self._meters = meters
        self._server = server  # method, address, port
        self._key: Key = ()  # + status or error, once answered
        self._token: object = None
        self._started = 0.0

    def __enter__(self) -> _RequestSpan:
        if self._span is not None:
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        self._meters.active[self._server] += 1
        self._started = time.perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        took = time.perf_counter() - self._started
        meters = self._meters
        meters.active[self._server] -= 1
        if kind is None:  # cancelled in flight: no answer, and nothing counted
            meters.duration.record(took, dict(self._server + self._key))
        span = self._span
        if span is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            if kind is not None:
                span.set_attribute("error.type", kind.__name__)
                span.set_status(Status(StatusCode.ERROR))
            span.end()

    def replied(self, status: int | None, transport_error: str = "") -> None:
        error = error_type(status, transport_error)
        key: Key = () if status is None else (("http.response.status_code", status),)
        if error:
            key += (("error.type", error),)
        self._key = key
        meters = self._meters
        meters.requests[self._server[:1] + key] += 1
        if status == 429:
            meters.throttled[()] += 1
        span = self._span
        if span is not None:
            span.set_attributes(dict(key))
            if error:
                span.set_status(Status(StatusCode.ERROR))


class OtelTelemetry:
    """:class:`~bulkpatch.core.telemetry.Telemetry` with an OpenTelemetry tracer and meter."""

    enabled = True

    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
        self._tracer = tracer_provider.get_tracer("bulkpatch", __version__)
        self._meters = meters_of(meter_provider)
        self._run: Span | None = None

    # -- spans -----------------------------------------------------------------------------

    @contextmanager
    def run_span(self, mode: str) -> Iterator[Span]:
        """The session's span, current for the block (the tasks started in it inherit it)."""
        span = self._tracer.start_span(
            run_span_name(mode), kind=SpanKind.INTERNAL, attributes={"bulkpatch.mode": mode}
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        self._run = span
        try:
            yield span
        except BaseException as exc:
            span.set_status(Status(StatusCode.ERROR))
            span.set_attribute("error.type", type(exc).__name__)  # never its text
            code = getattr(exc, "exit_code", None)
            if isinstance(code, int):
                span.set_attribute("bulkpatch.exit_code", code)
            raise
        finally:
            otel_context.detach(token)
            span.end()

    def row_span(self, row: int, key: CampaignKey | None) -> _RowSpan:
        attrs: dict[str, Any] = {"bulkpatch.row": row}
        if key is not None:
            attrs["bulkpatch.campaign.id"] = key.campaign_id
            attrs["bulkpatch.org.id"] = key.org_id
        return _RowSpan(self._tracer.start_span(ROW_SPAN, attributes=attrs))

    def request_span(self, method: str, base_url: str, path: str) -> _RequestSpan:
        _, host, port = _server(base_url)
        server: Key = (
            ("http.request.method", method),
            ("server.address", host),
            ("server.port", port),
        )
        if not trace.get_current_span().is_recording():  # a row not sampled: no span below it
            return _RequestSpan(None, self._meters, server)
        attrs: dict[str, Any] = {**dict(server), "url.full": full_url(base_url, path)}
        resent = RESENDS.get()
        if resent:
            attrs["http.request.resend_count"] = resent
        span = self._tracer.start_span(method, kind=SpanKind.CLIENT, attributes=attrs)
        return _RequestSpan(span, self._meters, server)

    def headers(self, headers: H) -> H:
        out = cast(MutableMapping[str, str], type(headers)(headers))  # type: ignore[call-arg]
        _PROPAGATOR.inject(out)
        return cast(H, out)

    # -- metrics and events ----------------------------------------------------------------

    def retrying(self, status: int | None, delay: float) -> None:
        key: Key = () if status is None else (("http.response.status_code", status),)
        self._meters.retries[key] += 1
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(
                "bulkpatch.retry_wait", {**dict(key), "bulkpatch.wait_s": round(delay, 3)}
            )

    def on_event(self, event: Event) -> None:
        if isinstance(event, RowFinished):
            self._meters.rows[(("bulkpatch.outcome", event.result.outcome.value),)] += 1
        elif isinstance(event, Progress):
            self._meters.rate = event.target_rate
        elif isinstance(event, RunStarted):
            if self._run is not None:
                self._run.set_attributes(
                    {"bulkpatch.rows": event.rows, "bulkpatch.run_dir.name": event.run_dir.name}
                )
        elif isinstance(event, RunFinished):
            self.finished(event.summary)

    def finished(self, summary: RunSummary) -> None:
        """The run's summary on its span: counts, exit code, the sheet's digest."""
        span = self._run
        if span is None or not span.is_recording():
            return
        attrs: dict[str, Any] = {
            "bulkpatch.exit_code": summary.exit_code,
            "bulkpatch.run_dir.name": summary.run_dir.name,
        }
        for outcome, count in summary.outcomes.items():
            attrs[f"bulkpatch.outcomes.{outcome}"] = int(count)
        data = summary.data
        sheet = data.get("sheet")
        if isinstance(sheet, Mapping) and isinstance(sheet.get("sha256"), str):
            attrs["bulkpatch.sheet.sha256"] = sheet["sha256"]
        if isinstance(data.get("rows"), int):
            attrs["bulkpatch.rows"] = data["rows"]
        span.set_attributes(attrs)
        if summary.exit_code not in (0, 1):
            span.set_status(Status(StatusCode.ERROR))
