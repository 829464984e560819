"""What OpenTelemetry costs a run, and what a faulty run exports (docs/observability.md).

    python -m tests.benchmarks.otel_overhead overhead   # CPU: off / every span / 1 %, alternating
    python -m tests.benchmarks.otel_overhead faults     # 1,000 rows, --pause-active, 5 % faults
    python -m tests.benchmarks.otel_overhead per-row    # the hooks alone, CPU µs per row

``overhead``: a 2,000-row ``--no-read`` run against ``bulkpatch simulate`` at unlimited rate, three
times each way in turn (off, tracing every span, a 1 % sampler), exporting to an in-process OTLP
receiver; CPU is the user+sys time of the ``bulkpatch`` child (``RUSAGE_CHILDREN`` deltas).
``faults``: a 1,000-row run on active campaigns with ``--pause-active`` and ``--fail-rate 0.05``:
spans per kind, the tree of one retried row, and each metric's final value beside summary.json.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support.otlp_receiver import OtlpReceiver

KEY = "bench-otel-key"  # a fake key: it opens only the simulator started here
ORG, WS = "org-demo", "ws-demo"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _simulator(rows: int, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    args = ["bulkpatch", "simulate", "--port", str(port), "--api-key", KEY]
    args += ["--generate", str(rows), "--seed", "11", *extra]
    sim = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return sim, f"http://127.0.0.1:{port}/api/scheduling"


def _sheet(path: Path, rows: int, tag: str) -> Path:
    lines = ["org_id,workspace_id,campaign_id,name"]
    lines += [f"{ORG},{WS},cmp-{n:06d},{tag} {n}" for n in range(1, rows + 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(cpu seconds of the child, wall seconds, exit code)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(["bulkpatch", *args], env=env, capture_output=True, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stderr.decode()[-2000:])
    return cpu, wall, done.returncode


def overhead(rows: int = 2000, repeats: int = 3) -> dict[str, Any]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    base["SARVAM_API_KEY"] = KEY
    results: dict[str, list[float]] = {"off": [], "on": [], "1%": []}
    walls: dict[str, list[float]] = {"off": [], "on": [], "1%": []}
    sim, url = _simulator(rows)
    try:
        with tempfile.TemporaryDirectory() as tmp, OtlpReceiver() as receiver:
            ways = {
                "off": base,
                "on": {**base, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint},
                "1%": {
                    **base,
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                    "OTEL_TRACES_SAMPLER_ARG": "0.01",
                },
            }
            for rep in range(repeats):
                for way, env in ways.items():
                    tag = f"r{rep}{way.replace('%', 'p')}"
                    sheet = _sheet(Path(tmp) / f"{tag}.csv", rows, tag)
                    args = ["run", str(sheet), "--no-read", "--rate", "unlimited", "-q"]
                    args += ["--base-url", url, "--report-dir", str(Path(tmp) / "reports")]
                    cpu, wall, code = _run(args, env)
                    results[way].append(cpu)
                    walls[way].append(wall)
                    print(
                        f"{way:>4} rep {rep + 1}: cpu {cpu:.2f} s, wall {wall:.2f} s, exit {code}"
                    )
    finally:
        sim.terminate()
        sim.wait()
    out: dict[str, Any] = {}
    for way, cpus in results.items():
        out[way] = {
            "cpu_s": [round(c, 2) for c in cpus],
            "median_cpu_s": round(statistics.median(cpus), 2),
            "median_wall_s": round(statistics.median(walls[way]), 2),
        }
    off = out["off"]["median_cpu_s"]
    for way in ("on", "1%"):
        out[way]["vs_off"] = f"{(out[way]['median_cpu_s'] / off - 1) * 100:+.0f}%"
    return out


def _tree(spans: list[Any], root: Any, depth: int = 0) -> list[str]:
    keep = ("bulkpatch.outcome", "bulkpatch.attempts", "http.response.status_code")
    keep += ("http.request.resend_count", "error.type")
    shown = {k: v for k, v in root.attributes.items() if k in keep}
    lines = [
        "  " * depth + f"{root.name} {shown}" + (f" events={root.events}" if root.events else "")
    ]
    for child in sorted(
        (s for s in spans if s.parent_id == root.span_id), key=lambda s: s.start_ns
    ):
        lines += _tree(spans, child, depth + 1)
    return lines


def faults(rows: int = 1000) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["SARVAM_API_KEY"] = KEY
    sim, url = _simulator(rows, "--status", "active", "--fail-rate", "0.05")
    try:
        with tempfile.TemporaryDirectory() as tmp, OtlpReceiver() as receiver:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
            sheet = _sheet(Path(tmp) / "faults.csv", rows, "f")
            reports = Path(tmp) / "reports"
            args = ["run", str(sheet), "--pause-active", "--rate", "unlimited", "-q"]
            args += ["--base-url", url, "--report-dir", str(reports)]
            cpu, wall, code = _run(args, env)
            summary = json.loads(next(reports.glob("*/summary.json")).read_text())
            spans = receiver.spans()
            kinds = Counter(s.name for s in spans)
            retried = [s for s in spans if s.attributes.get("http.request.resend_count")]
            rows_by_id = {s.span_id: s for s in spans if s.name == "bulkpatch row"}
            example = next(rows_by_id[s.parent_id] for s in retried if s.parent_id in rows_by_id)
            metrics = {
                "bulkpatch.rows": {
                    o: receiver.total("bulkpatch.rows", **{"bulkpatch.outcome": o})
                    for o in summary["outcomes"]
                },
                "bulkpatch.requests": receiver.total("bulkpatch.requests"),
                "bulkpatch.retries": receiver.total("bulkpatch.retries"),
                "bulkpatch.throttled": receiver.total("bulkpatch.throttled"),
                "http.client.request.duration (count)": receiver.total(
                    "http.client.request.duration"
                ),
                "http.client.active_requests": receiver.total("http.client.active_requests"),
            }
            compare = {
                "outcomes": summary["outcomes"],
                "requests": summary["requests"],
                "retries": summary["retries"],
                "throttled_429": summary["throttled_429"],
            }
            return {
                "exit": code,
                "cpu_s": round(cpu, 2),
                "wall_s": round(wall, 2),
                "spans_by_name": dict(kinds),
                "metric_names": sorted(receiver.metrics()),
                "metrics": metrics,
                "summary_json": compare,
                "retried_row_tree": _tree(spans, example),
            }
    finally:
        sim.terminate()
        sim.wait()


def per_row(rows: int = 5000) -> dict[str, float]:
    """CPU microseconds per row of the hooks alone (a row span, a request span, its traceparent,
    its answer, the row's event), in this process, exporting to an in-process receiver."""
    from multidict import CIMultiDict

    from bulkpatch.core import telemetry
    from bulkpatch.core.events import RowFinished
    from bulkpatch.core.outcomes import Outcome
    from bulkpatch.core.results import RowResult
    from bulkpatch.core.rows import CampaignKey

    def measure(watch: Any) -> float:
        key = CampaignKey(ORG, WS, "cmp-000001")
        headers = CIMultiDict({"Accept": "application/json"})
        event = RowFinished(RowResult(1, key, Outcome.UPDATED, attempts=1))
        started = time.process_time()
        for row in range(rows):
            with watch.row_span(row, key) as span:
                with watch.request_span("PATCH", "http://127.0.0.1:1/api", "/v1/x") as request:
                    watch.headers(headers)
                    request.replied(200)
                span.finished(event.result)
            watch.on_event(event)
        return round((time.process_time() - started) / rows * 1e6, 1)

    out = {"off": measure(telemetry.NO_TELEMETRY)}
    from bulkpatch.ops.otel import OtelTelemetry
    from bulkpatch.ops.otelsetup import build_providers

    with OtlpReceiver() as receiver:
        for name, ratio in (("on", "1.0"), ("1%", "0.01")):
            os.environ.update(
                OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
                OTEL_TRACES_SAMPLER="traceidratio",
                OTEL_TRACES_SAMPLER_ARG=ratio,
            )
            owned = build_providers()
            watch = OtelTelemetry(owned.tracer_provider, owned.meter_provider)
            with watch.run_span("run"):
                out[name] = measure(watch)
            owned.close()
    return out


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "overhead"
    chosen = {"overhead": overhead, "faults": faults, "per-row": per_row}[which]
    print(json.dumps(chosen(), indent=2))  # type: ignore[operator]
