"""A real OTLP/HTTP receiver for tests: an aiohttp server on 127.0.0.1, in a thread of its own.

It accepts ``POST /v1/traces`` and ``POST /v1/metrics``, keeps every byte it was sent, and
decodes them with ``opentelemetry-proto`` (``ExportTraceServiceRequest``,
``ExportMetricsServiceRequest``).  ``status`` makes it answer an error (500, say) and ``delay``
makes it slow; either way it still keeps what it was sent.  Runs in its own thread and loop, so
both a child ``bulkpatch`` process and a run in the test's own event loop can export to it::

    with OtlpReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        ...
        receiver.spans()  # every span, decoded
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class Span:
    """A received span, flattened: ids as hex, attributes as plain values."""

    name: str
    span_id: str
    parent_id: str
    trace_id: str
    kind: int
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    status_code: int
    start_ns: int = 0


def _value(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    found = getattr(value, which)
    if which == "array_value":
        return [_value(v) for v in found.values]
    return found


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


class OtlpReceiver:
    def __init__(self, *, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.raw: list[tuple[str, bytes]] = []
        self.requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- serving ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        encoding = request.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        self.requests += 1
        self.raw.append((request.path, body))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.Response(status=self.status, text="collector trouble")
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._handle)
        app.router.add_post("/v1/metrics", self._handle)
        # A handler still answering (a slow collector) is cut off 0.1 s into the shutdown.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        loop.run_until_complete(self._start())
        self._ready.set()
        loop.run_forever()
        assert self._runner is not None
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def __enter__(self) -> OtlpReceiver:
        self._thread = threading.Thread(target=self._serve, name="otlp-receiver", daemon=True)
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- what was received -----------------------------------------------------------------

    def all_bytes(self) -> bytes:
        return b"".join(body for _, body in self.raw)

    def trace_requests(self) -> Iterator[ExportTraceServiceRequest]:
        for path, body in list(self.raw):
            if path == "/v1/traces":
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                yield request

    def metric_requests(self) -> Iterator[ExportMetricsServiceRequest]:
        for path, body in list(self.raw):
            if path == "/v1/metrics":
                request = ExportMetricsServiceRequest()
                request.ParseFromString(body)
                yield request

    def resources(self) -> list[dict[str, Any]]:
        return [
            _attributes(rs.resource.attributes)
            for request in self.trace_requests()
            for rs in request.resource_spans
        ]

    def spans(self) -> list[Span]:
        found = []
        for request in self.trace_requests():
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found.append(
                            Span(
                                name=span.name,
                                span_id=span.span_id.hex(),
                                parent_id=span.parent_span_id.hex(),
                                trace_id=span.trace_id.hex(),
                                kind=span.kind,
                                attributes=_attributes(span.attributes),
                                events=[(e.name, _attributes(e.attributes)) for e in span.events],
                                status_code=span.status.code,
                                start_ns=span.start_time_unix_nano,
                            )
                        )
        return found

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], float]]]:
        """The last value received of every data point: name -> [(attributes, value)].  A
        histogram's value is its count; a gauge's, its last value."""
        last: dict[tuple[str, tuple[tuple[str, Any], ...]], float] = {}
        for request in self.metric_requests():
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        which = metric.WhichOneof("data")
                        for point in getattr(metric, which).data_points:
                            attrs = _attributes(point.attributes)
                            if which == "histogram":
                                value = float(point.count)
                            else:
                                value = (
                                    point.as_int if point.HasField("as_int") else point.as_double
                                )
                            key = (metric.name, tuple(sorted(attrs.items())))
                            last[key] = float(value)
        out: dict[str, list[tuple[dict[str, Any], float]]] = {}
        for (name, attrs), value in sorted(last.items(), key=lambda kv: kv[0][0]):
            out.setdefault(name, []).append((dict(attrs), value))
        return out

    def total(self, name: str, **match: Any) -> float:
        """The sum of a metric's points whose attributes include ``match``."""
        return sum(
            value
            for attrs, value in self.metrics().get(name, [])
            if all(attrs.get(k) == v for k, v in match.items())
        )
