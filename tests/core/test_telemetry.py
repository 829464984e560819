"""The telemetry protocol's no-op default, the row hook, and the events as log records."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bulkpatch.core import eventlog, telemetry
from bulkpatch.core.events import Notice, RowFinished
from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import RowResult
from bulkpatch.core.rows import CampaignKey, RowChange

KEY = CampaignKey("org-a", "ws-a", "cmp-1")


class _Job:
    def __init__(self, row: int) -> None:
        self.change = RowChange(row=row, key=KEY, changes={"name": "secret"})


@telemetry.traced_row
async def _apply(job: _Job, outcome: Outcome = Outcome.UPDATED) -> RowResult:
    return RowResult(job.change.row, job.change.key, outcome, attempts=1)


class _Recording:
    enabled = True

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str]] = []

    @contextmanager
    def row_span(self, row: int, key: CampaignKey | None) -> Iterator[Any]:
        seen = self

        class Span:
            def finished(self, result: RowResult) -> None:
                seen.rows.append((row, str(key), result.outcome.value))

        yield Span()

    def headers(self, headers: Any) -> Any:
        return {**headers, "traceparent": "00-x"}


def test_with_nothing_watching_the_hooks_are_the_no_op_default() -> None:
    assert telemetry.current() is telemetry.NO_TELEMETRY
    assert not telemetry.current().enabled
    headers = {"Accept": "application/json"}
    assert telemetry.current().headers(headers) is headers
    with telemetry.current().request_span("GET", "http://h", "/p") as span:
        span.replied(200)


async def test_a_row_goes_straight_through_when_telemetry_is_off() -> None:
    work = _apply(_Job(3))
    assert work.__qualname__ == "_apply"  # the function's own coroutine: no wrapper awaited
    result = await work
    assert result.outcome is Outcome.UPDATED


async def test_with_telemetry_on_a_row_runs_in_its_span_which_gets_its_result() -> None:
    seen = _Recording()
    with telemetry.using(seen):  # type: ignore[arg-type]
        assert telemetry.current() is seen
        await _apply(_Job(7), Outcome.FAILED)
    assert telemetry.current() is telemetry.NO_TELEMETRY
    assert seen.rows == [(7, str(KEY), "failed")]


def test_the_library_adds_only_a_null_handler_to_its_logger() -> None:
    handlers = logging.getLogger("bulkpatch").handlers
    assert [type(h) for h in handlers] == [logging.NullHandler]


def test_events_become_log_records_on_the_bulkpatch_loggers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bulkpatch")
    ok = RowResult(1, KEY, Outcome.UPDATED, attempts=1)
    bad = RowResult(2, KEY, Outcome.FAILED, "HTTP 500: busy", attempts=5)
    for event in (RowFinished(ok), RowFinished(bad), Notice("warning", "careful", "code")):
        eventlog.log_event(event)
    got = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert got == [
        ("bulkpatch.row", logging.DEBUG, "row 1 (org-a/ws-a/cmp-1) updated"),
        ("bulkpatch.row", logging.INFO, "row 2 (org-a/ws-a/cmp-1) failed: HTTP 500: busy"),
        ("bulkpatch.notice", logging.WARNING, "careful"),
    ]
    assert caplog.records[1].bulkpatch["attempts"] == 5  # type: ignore[attr-defined]
