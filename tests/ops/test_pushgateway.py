"""--pushgateway: the run's gauges pushed at its end (bulkpatch.ops.pushgateway).

The fake Pushgateway runs on the test's own event loop: a push that blocked the loop instead
of running in a thread would never be answered, so every push here goes through a thread.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime
from typing import Any

import anyio.to_thread
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bulkpatch.core.errors import UsageError
from bulkpatch.ops.pushgateway import (
    METRIC_HELP,
    check_pushgateway_url,
    push_run_metrics,
    push_run_metrics_async,
    run_registry,
)
from support.recording_server import Received, closed_port_url, recording_server

FINISHED = "2026-11-30T01:32:03+00:00"
FINISHED_UNIX = datetime.fromisoformat(FINISHED).timestamp()


def a_summary(**changes: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "finished": FINISHED,
        "outcomes": {"updated": 950, "unchanged": 20, "rejected": 25, "failed": 5},
        "duration_s": 123.4,
        "requests": {"total": 2010, "by_method": {"GET": 1000, "PATCH": 1010}},
        "throttled_429": 3,
        "campaigns_left_paused": {},
        "exit_code": 0,
    }
    summary.update(changes)
    return summary


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a text exposition: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def received_samples(push: Received) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return samples(push.body.decode("utf-8"))


def test_a_successful_run_gives_every_gauge_and_its_last_success_time() -> None:
    text = generate_latest(run_registry(a_summary(), now=0.0)).decode()
    assert samples(text) == {
        ("bulkpatch_last_success_timestamp_seconds", ()): FINISHED_UNIX,
        ("bulkpatch_last_run_timestamp_seconds", ()): FINISHED_UNIX,
        ("bulkpatch_last_run_exit_code", ()): 0.0,
        ("bulkpatch_last_run_rows", (("outcome", "updated"),)): 950.0,
        ("bulkpatch_last_run_rows", (("outcome", "unchanged"),)): 20.0,
        ("bulkpatch_last_run_rows", (("outcome", "skipped"),)): 0.0,
        ("bulkpatch_last_run_rows", (("outcome", "invalid"),)): 0.0,
        ("bulkpatch_last_run_rows", (("outcome", "rejected"),)): 25.0,
        ("bulkpatch_last_run_rows", (("outcome", "failed"),)): 5.0,
        ("bulkpatch_last_run_rows", (("outcome", "not_attempted"),)): 0.0,
        ("bulkpatch_last_run_duration_seconds", ()): 123.4,
        ("bulkpatch_last_run_requests", ()): 2010.0,
        ("bulkpatch_last_run_throttled_requests", ()): 3.0,
        ("bulkpatch_last_run_campaigns_left_paused", ()): 0.0,
    }
    for name, help_text in METRIC_HELP.items():
        assert f"# HELP {name} {help_text}" in text
        assert f"# TYPE {name} gauge" in text


@pytest.mark.parametrize("code", [1, 2, 3, 70, None])
def test_a_run_that_did_not_end_well_gives_no_last_success_time(code: int | None) -> None:
    names = {
        name
        for name, _ in samples(
            generate_latest(run_registry(a_summary(exit_code=code), now=0.0)).decode()
        )
    }
    assert "bulkpatch_last_success_timestamp_seconds" not in names
    assert "bulkpatch_last_run_timestamp_seconds" in names


def test_without_a_finished_time_the_push_time_is_used_and_missing_values_are_left_out() -> None:
    text = generate_latest(run_registry({"exit_code": 0}, now=1234.5)).decode()
    assert samples(text) == {
        ("bulkpatch_last_success_timestamp_seconds", ()): 1234.5,
        ("bulkpatch_last_run_timestamp_seconds", ()): 1234.5,
        ("bulkpatch_last_run_exit_code", ()): 0.0,
    }


async def test_the_gauges_reach_a_pushgateway_in_one_post_under_the_job_and_shard() -> None:
    async with recording_server() as gateway:
        reason = await push_run_metrics_async(
            gateway.url, a_summary(), job="nightly", grouping={"shard": "2/4"}, timeout=5
        )
    assert reason is None
    assert len(gateway.received) == 1
    push = gateway.received[0]
    # POST keeps the gauges this push lacks (the last success time of a failed run);
    # a value holding "/" is sent base64-encoded, as the Pushgateway expects.
    assert push.method == "POST"
    assert push.path == "/metrics/job/nightly/shard@base64/Mi80"
    got = received_samples(push)
    assert got[("bulkpatch_last_success_timestamp_seconds", ())] == FINISHED_UNIX
    assert got[("bulkpatch_last_run_rows", (("outcome", "rejected"),))] == 25.0
    assert got[("bulkpatch_last_run_throttled_requests", ())] == 3.0


async def test_a_failed_run_pushes_no_last_success_time() -> None:
    async with recording_server() as gateway:
        assert await push_run_metrics_async(gateway.url, a_summary(exit_code=1)) is None
    push = gateway.received[0]
    assert push.path == "/metrics/job/bulkpatch"
    got = received_samples(push)
    assert ("bulkpatch_last_success_timestamp_seconds", ()) not in got
    assert got[("bulkpatch_last_run_exit_code", ())] == 1.0


async def test_a_pushgateway_that_refuses_gives_its_status_and_text() -> None:
    async with recording_server((400, "pushed metrics are invalid")) as gateway:
        reason = await push_run_metrics_async(gateway.url, a_summary(), timeout=5)
    assert reason == f"{gateway.url} answered HTTP 400: pushed metrics are invalid"


async def test_a_dead_pushgateway_gives_a_reason_at_once() -> None:
    url = closed_port_url()
    started = time.monotonic()
    reason = await push_run_metrics_async(url, a_summary(), timeout=5)
    assert time.monotonic() - started < 2
    assert reason == f"cannot reach {url}: Connection refused"


async def test_a_slow_pushgateway_gives_a_reason_within_the_bound() -> None:
    async with recording_server(delay=30) as gateway:
        started = time.monotonic()
        call = functools.partial(push_run_metrics, gateway.url, a_summary(), timeout=0.3)
        reason = await anyio.to_thread.run_sync(call)
        elapsed = time.monotonic() - started
    assert reason == f"{gateway.url} did not answer within 0.3 s"
    assert 0.25 <= elapsed < 1.5


async def test_values_of_the_wrong_kind_are_left_out_and_the_rest_is_pushed() -> None:
    summary = a_summary(
        outcomes={"updated": "many", "failed": True}, duration_s="slow", requests=[1], exit_code=1
    )
    async with recording_server() as gateway:
        assert await push_run_metrics_async(gateway.url, summary, timeout=5) is None
    got = received_samples(gateway.received[0])
    assert got[("bulkpatch_last_run_rows", (("outcome", "updated"),))] == 0.0
    assert got[("bulkpatch_last_run_rows", (("outcome", "failed"),))] == 0.0
    assert ("bulkpatch_last_run_duration_seconds", ()) not in got
    assert ("bulkpatch_last_run_requests", ()) not in got
    assert got[("bulkpatch_last_run_exit_code", ())] == 1.0


@pytest.mark.parametrize(
    "url", ["http://pushgateway.monitoring:9091", "https://pgw.example.com/", "http://[::1]:9091"]
)
def test_http_and_https_pushgateways_are_accepted(url: str) -> None:
    assert check_pushgateway_url(url) == url


@pytest.mark.parametrize(
    "url",
    ["pushgateway:9091", "ftp://pgw", "http://user:pw@pgw:9091", "http://pgw:9091/?x=1", ""],
)
def test_other_pushgateway_urls_are_refused(url: str) -> None:
    with pytest.raises(UsageError, match="--pushgateway"):
        check_pushgateway_url(url)
