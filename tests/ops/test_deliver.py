"""Telling a run's end to --notify-url and --pushgateway: both at once, within one bound for
the two (bulkpatch.ops.deliver)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bulkpatch.core.events import Event, Notice
from bulkpatch.core.options import RunOptions
from bulkpatch.ops.deliver import deliver_data
from support.recording_server import recording_server

SUMMARY: dict[str, Any] = {
    "mode": "run",
    "sheet": {"path": "/data/sheets/campaigns.csv"},
    "run_dir": "/data/reports/campaigns-20261130T013000Z",
    "finished": "2026-11-30T01:32:03+00:00",
    "rows": 10,
    "outcomes": {"updated": 10},
    "duration_s": 12.0,
    "exit_code": 0,
}


def notices(events: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.level, e.code, e.text) for e in events if isinstance(e, Notice)]


@pytest.mark.realtime
async def test_a_slow_webhook_and_a_slow_pushgateway_take_one_bound_together_not_one_each() -> None:
    async with (
        recording_server(delay=30) as webhook,
        recording_server(delay=30) as gateway,
    ):
        options = RunOptions(notify_url=webhook.url + "/hook", pushgateway=gateway.url)
        events: list[Event] = []
        started = time.monotonic()

        await deliver_data(SUMMARY, options, events.append, timeout=0.3)

        elapsed = time.monotonic() - started
        assert len(webhook.received) == 1  # both were sent, at once
        assert len(gateway.received) == 1
    assert 0.27 <= elapsed < 0.57, elapsed  # one bound (two would be 0.6 s)
    assert notices(events) == [
        ("warning", "notify", f"could not notify: {webhook.url}/… did not answer within 0.3 s"),
        (
            "warning",
            "metrics",
            f"could not push the run's metrics: {gateway.url} did not answer within 0.3 s",
        ),
    ]


@pytest.mark.realtime
@pytest.mark.parametrize("slow", ["webhook", "pushgateway"])
async def test_a_slow_receiver_is_given_up_with_a_warning_and_the_other_is_still_delivered(
    slow: str,
) -> None:
    async with (
        recording_server(delay=30 if slow == "webhook" else 0) as webhook,
        recording_server(delay=30 if slow == "pushgateway" else 0) as gateway,
    ):
        options = RunOptions(notify_url=webhook.url + "/hook", pushgateway=gateway.url)
        events: list[Event] = []
        started = time.monotonic()

        await deliver_data(SUMMARY, options, events.append, timeout=0.2)

        elapsed = time.monotonic() - started
    assert elapsed < 1.2, elapsed
    assert len(webhook.received) == len(gateway.received) == 1
    said = notices(events)
    if slow == "webhook":
        assert said == [
            ("warning", "notify", f"could not notify: {webhook.url}/… did not answer within 0.2 s")
        ]
        assert b"bulkpatch_last_run_exit_code" in gateway.received[0].body
    else:
        assert said[0] == ("info", "notify", "notified the run's summary")
        assert said[1][:2] == ("warning", "metrics")
        assert f"{gateway.url} did not answer within 0.2 s" in said[1][2]
        assert len(said) == 2


async def test_without_a_receiver_nothing_is_sent_or_said() -> None:
    events: list[Event] = []
    await deliver_data(SUMMARY, RunOptions(), events.append, timeout=1.0)
    assert events == []
