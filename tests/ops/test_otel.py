"""OpenTelemetry end to end: runs against the simulator, exporting to a real OTLP/HTTP receiver
(``support/otlp_receiver.py``) that decodes what it gets with ``opentelemetry-proto``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import bulkpatch.cli.commands  # noqa: F401  (the commands register on import)
from bulkpatch.cli import cli
from bulkpatch.core.options import RunOptions
from bulkpatch.ops.apply import apply_sheet_async
from bulkpatch.ops.export import export_campaigns_async
from bulkpatch.ops.otel import full_url
from bulkpatch.ops.undo import undo_run_async
from bulkpatch.ops.verify import verify_run_async
from support.otlp_receiver import OtlpReceiver, Span
from support.recording_server import closed_port_url, recording_server
from support.runs import StartScripted, campaign_rows, run_sheet, write_sheet

ORG, WS = "org-demo", "ws-demo"
KEY = "sk-FAKE-zq81-otel-never-exported"
SECRET_CELL = "Quokka-Zebra-Secret-Name"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Any:
    with OtlpReceiver() as found:
        _env(monkeypatch, found.endpoint)
        yield found


def _env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "nightly-bulkpatch")


def _ids(n: int) -> list[str]:
    return [f"cmp-{i:06d}" for i in range(1, n + 1)]


def _children(spans: list[Span], parent: Span) -> list[Span]:
    return [s for s in spans if s.parent_id == parent.span_id]


def _one(spans: list[Span], name: str) -> Span:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


async def _paused_run(start_scripted: StartScripted, tmp_path: Path, monkeypatch: Any) -> Any:
    """Four active campaigns, --pause-active; the first PATCH of cmp-000002 gets a 503."""

    def decide(method: str, path: str, nth: int, overall: int) -> Any:
        if method == "PATCH" and path.endswith("/cmp-000002") and nth == 1:
            return (503, "busy")
        return None

    ids = _ids(4)
    sim = await start_scripted(
        decide,
        api_key=KEY,
        campaigns=[(ORG, WS, cid) for cid in ids],
        overrides={(ORG, WS, cid): {"status": "active"} for cid in ids},
    )
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(ids, ORG, WS, name=SECRET_CELL))
    return await run_sheet(sheet, sim, monkeypatch, pause_active=True)


async def test_a_run_exports_run_row_and_request_spans_with_the_semantic_attributes(
    start_scripted: StartScripted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Any
) -> None:
    done = await _paused_run(start_scripted, tmp_path, monkeypatch)
    assert done.code == 0, done.output
    spans = receiver.spans()
    run = _one(spans, "bulkpatch run")
    assert run.parent_id == ""
    assert run.attributes["bulkpatch.exit_code"] == 0
    assert run.attributes["bulkpatch.rows"] == 4
    assert run.attributes["bulkpatch.outcomes.updated"] == 4
    assert run.attributes["bulkpatch.run_dir.name"] == done.run_dir.name
    assert run.attributes["bulkpatch.sheet.sha256"] == done.summary()["sheet"]["sha256"]
    rows = _children(spans, run)
    assert sorted(s.attributes["bulkpatch.campaign.id"] for s in rows) == _ids(4)
    assert {s.name for s in rows} == {"bulkpatch row"}
    assert {s.trace_id for s in spans} == {run.trace_id}
    for row in rows:
        assert row.attributes["bulkpatch.outcome"] == "updated"
        requests = sorted(_children(spans, row), key=lambda s: s.span_id)
        methods = Counter(s.name for s in requests)
        retried = row.attributes["bulkpatch.campaign.id"] == "cmp-000002"
        # A 503 to a write leaves it unknown: read back (GET), then sent again.
        want = {"GET": 2, "PUT": 2, "PATCH": 2} if retried else {"GET": 1, "PUT": 2, "PATCH": 1}
        assert methods == want, methods
        for request in requests:
            attrs = request.attributes
            assert attrs["http.request.method"] == request.name
            assert attrs["server.address"] == "127.0.0.1"
            assert isinstance(attrs["server.port"], int)
            assert attrs["url.full"].endswith(row.attributes["bulkpatch.campaign.id"]) or attrs[
                "url.full"
            ].endswith("/status")
            assert request.kind == 3  # SPAN_KIND_CLIENT
        if not retried:  # in the order they were sent
            order = [s.name for s in sorted(requests, key=lambda s: s.start_ns)]
            assert order == ["GET", "PUT", "PATCH", "PUT"]
    retried_row = next(s for s in rows if s.attributes["bulkpatch.campaign.id"] == "cmp-000002")
    patches = [s for s in _children(spans, retried_row) if s.name == "PATCH"]
    first = next(s for s in patches if "http.request.resend_count" not in s.attributes)
    second = next(s for s in patches if "http.request.resend_count" in s.attributes)
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["error.type"] == "503"
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["http.response.status_code"] == 200
    assert retried_row.attributes["bulkpatch.attempts"] == 2
    waits = [attrs for name, attrs in retried_row.events if name == "bulkpatch.retry_wait"]
    assert waits[0]["http.response.status_code"] == 503
    assert {"service.name": "nightly-bulkpatch"}.items() <= receiver.resources()[0].items()


async def test_the_metrics_end_equal_to_the_counts_of_summary_json(
    start_scripted: StartScripted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Any
) -> None:
    done = await _paused_run(start_scripted, tmp_path, monkeypatch)
    summary = done.summary()
    metrics = receiver.metrics()
    assert {
        "bulkpatch.rows",
        "bulkpatch.requests",
        "bulkpatch.retries",
        "http.client.request.duration",
        "http.client.active_requests",
    } <= set(metrics)
    for outcome, count in summary["outcomes"].items():
        assert receiver.total("bulkpatch.rows", **{"bulkpatch.outcome": outcome}) == count
    assert receiver.total("bulkpatch.requests") == summary["requests"]["total"]
    for method, count in summary["requests"]["by_method"].items():
        assert receiver.total("bulkpatch.requests", **{"http.request.method": method}) == count
    assert receiver.total("http.client.request.duration") == summary["requests"]["total"]
    assert receiver.total("bulkpatch.retries") == summary["retries"] == 1
    assert receiver.total("bulkpatch.throttled") == summary["throttled_429"]
    assert receiver.total("http.client.active_requests") == 0


async def test_no_key_and_no_cell_value_beyond_the_ids_reaches_the_collector(
    start_scripted: StartScripted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Any
) -> None:
    await _paused_run(start_scripted, tmp_path, monkeypatch)
    sent = receiver.all_bytes()
    assert receiver.spans()
    assert receiver.metrics()
    assert KEY.encode() not in sent
    assert SECRET_CELL.encode() not in sent
    assert b"busy" not in sent  # the API's error body


async def test_each_request_carries_a_traceparent_naming_its_own_span(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Any
) -> None:
    async with recording_server((404, '{"detail": "no such campaign"}')) as api:
        sheet = write_sheet(tmp_path / "s.csv", campaign_rows(_ids(2), ORG, WS, name="x"))
        options = RunOptions(base_url=api.url, rate=None, report_dir=tmp_path / "reports")
        await apply_sheet_async(sheet, options=options, api_key=KEY)
    gets = {s.span_id: s for s in receiver.spans() if s.name == "GET"}
    assert len(api.received) == len(gets) == 2
    for request in api.received:
        version, trace_id, span_id, flags = request.headers["traceparent"].split("-")
        assert version == "00"
        assert int(flags, 16) & 1  # sampled
        assert gets[span_id].trace_id == trace_id
        assert gets[span_id].attributes["http.response.status_code"] == 404


def test_url_full_names_no_user_and_no_query_value() -> None:
    base = "https://user:pw@api.example.test:8443/api/scheduling/"
    url = full_url(base, "/v1/orgs/o/workspaces/w/campaigns?page_token=SECRET&search=Quokka")
    assert url == (
        "https://api.example.test:8443/api/scheduling/v1/orgs/o/workspaces/w/campaigns"
        "?page_token=REDACTED&search=REDACTED"
    )


@pytest.mark.slow
@pytest.mark.parametrize("collector", ["answers 500", "is not listening", "answers too slowly"])
async def test_a_collector_in_trouble_neither_fails_the_run_nor_holds_its_end_long(
    collector: str,
    start_scripted: StartScripted,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow = collector == "answers too slowly"
    with OtlpReceiver(status=200 if slow else 500, delay=30.0 if slow else 0.0) as broken:
        endpoint = closed_port_url() if collector == "is not listening" else broken.endpoint
        _env(monkeypatch, endpoint)
        # Nothing is exported here: each export gives up after 0.3 s instead of 1 s.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.3")
        started = time.monotonic()
        done = await _paused_run(start_scripted, tmp_path, monkeypatch)
        took = time.monotonic() - started
    assert done.code == 0
    assert "telemetry: the collector did not take" in done.output
    assert " spans" in done.output
    assert took < 5.0 + 5.0  # the run, and at most the bounded flush


async def test_with_a_one_percent_sampler_the_run_span_is_kept_and_few_rows_are(
    start_scripted: StartScripted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Any
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.01")
    ids = _ids(60)
    paused = {(ORG, WS, cid): {"status": "paused"} for cid in ids}
    sim = await start_scripted(api_key=KEY, campaigns=list(paused), overrides=paused)
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(ids, ORG, WS, name="n"))
    done = await run_sheet(sheet, sim, monkeypatch)
    assert done.code == 0, done.output
    spans = receiver.spans()
    run = _one(spans, "bulkpatch run")
    assert run.attributes["bulkpatch.outcomes.updated"] == 60
    assert sum(1 for s in spans if s.name == "bulkpatch row") < 10
    assert receiver.total("bulkpatch.rows") == 60  # metrics are not sampled
    assert done.code == 0


async def test_the_run_span_joins_the_callers_trace_through_the_given_providers(
    start_scripted: StartScripted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    one = {(ORG, WS, "cmp-000001"): {"status": "paused"}}
    sim = await start_scripted(api_key=KEY, campaigns=list(one), overrides=one)
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(["cmp-000001"], ORG, WS, name="n"))
    with OtlpReceiver() as receiver:
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=receiver.endpoint + "/v1/traces")
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        meters = MeterProvider()
        options = RunOptions(base_url=sim.base_url, rate=None, report_dir=tmp_path / "r")
        with provider.get_tracer("airflow").start_as_current_span("airflow task"):
            await apply_sheet_async(
                sheet, options=options, api_key=KEY, tracer_provider=provider, meter_provider=meters
            )
        provider.shutdown()
        meters.shutdown()
        spans = receiver.spans()
    task = _one(spans, "airflow task")
    run = _one(spans, "bulkpatch run")
    assert run.parent_id == task.span_id
    assert [s.name for s in _children(spans, run)] == ["bulkpatch row"]


async def test_log_records_carry_the_run_s_trace_and_span_ids(
    start_scripted: StartScripted,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    receiver: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bulkpatch")
    await _paused_run(start_scripted, tmp_path, monkeypatch)
    run = _one(receiver.spans(), "bulkpatch run")
    finished = [r for r in caplog.records if r.name == "bulkpatch.run" and "finished" in r.message]
    assert finished, [r.message for r in caplog.records]
    assert finished[0].otelTraceID == run.trace_id
    assert finished[0].otelSpanID == run.span_id
    rows = [r for r in caplog.records if r.name == "bulkpatch.row"]
    assert len(rows) == 4
    assert {r.otelTraceID for r in rows} == {run.trace_id}


def test_otel_without_the_extra_installed_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(["cmp-000001"], ORG, WS, name="n"))
    for command in (["run", str(sheet)], ["verify", str(tmp_path)], ["export", "x.csv"]):
        got = CliRunner().invoke(cli, [*command, "--otel"])
        assert got.exit_code == 2, got.output
        assert "pip install 'bulkpatch[otel]'" in got.output


def test_with_telemetry_off_a_run_imports_nothing_of_opentelemetry(tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(_ids(3), ORG, WS, name="n"))
    code = (
        "import sys, bulkpatch\n"
        "from bulkpatch.core.options import RunOptions\n"
        f"s = bulkpatch.apply_sheet({str(sheet)!r}, options=RunOptions(simulate=True, rate=None,"
        f" report_dir={str(tmp_path / 'r')!r}))\n"
        "assert sum(s.outcomes.values()) == 3, s.outcomes\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


async def test_verify_undo_and_export_each_export_a_span_of_their_own(
    start_scripted: StartScripted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Any
) -> None:
    ids = _ids(3)
    paused = {(ORG, WS, cid): {"status": "paused"} for cid in ids}
    sim = await start_scripted(api_key=KEY, campaigns=list(paused), overrides=paused)
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(ids, ORG, WS, name=SECRET_CELL))
    done = await run_sheet(sheet, sim, monkeypatch)
    overrides = {"base_url": sim.base_url, "rate": None}
    await verify_run_async(done.run_dir, overrides=overrides, api_key=KEY)
    await undo_run_async(done.run_dir, overrides=overrides, api_key=KEY)
    options = RunOptions(base_url=sim.base_url, rate=None)
    out = tmp_path / "export.csv"
    await export_campaigns_async(out, org=ORG, workspace=WS, options=options, api_key=KEY)
    spans = receiver.spans()
    runs = {s.name: s for s in spans if s.parent_id == ""}
    assert set(runs) == {"bulkpatch run", "bulkpatch verify", "bulkpatch undo", "bulkpatch export"}
    assert {s.name for s in _children(spans, runs["bulkpatch verify"])} == {"GET"}
    assert len(_children(spans, runs["bulkpatch verify"])) == 3
    undone = _children(spans, runs["bulkpatch undo"])
    assert [s.name for s in undone] == ["bulkpatch row"] * 3
    assert runs["bulkpatch undo"].attributes["bulkpatch.outcomes.updated"] == 3
    assert {s.name for s in _children(spans, runs["bulkpatch export"])} == {"GET"}
    assert SECRET_CELL.encode() not in receiver.all_bytes()
