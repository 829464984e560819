"""The per-row shortcuts of the hot path give what the plain way gives.

Each test pins one shortcut taken for speed (a cell that needs no cleaning, a URL that needs no
parsing, a result copied with its duration, a breaker or pacer that has nothing to wait for)
against the general code it stands in for, so that a shortcut can never drift from it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import pytest
from yarl import URL

from bulkpatch.core import loop
from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import FieldChange, RowResult, with_duration
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.text import MESSAGE_CAP, safe_cell
from bulkpatch.rundir.files import report_cell
from bulkpatch.transport.breaker import Admission, Breaker
from bulkpatch.transport.client import ApiClient
from bulkpatch.transport.pacing import Pacer
from bulkpatch.transport.replies import Kind, Reply
from bulkpatch.transport.retrybudget import WINDOW, RetryBudget
from support.faketime import FakeTime


def test_a_result_with_its_duration_keeps_every_other_field() -> None:
    values: dict[str, Any] = {
        "row": 7,
        "key": CampaignKey("org-a", "ws-a", "cmp-1"),
        "outcome": Outcome.FAILED,
        "reason": "HTTP 503: busy",
        "http_status": 503,
        "attempts": 5,
        "changed_fields": ("name", "app_config"),
        "campaign_status": "paused",
        "updated_at": "2026-11-30T10:00:00Z",
        "duration_ms": 12,
        "before": {"name": "old"},
        "changes": (FieldChange("name", "old", "new"),),
        "settled": False,
    }
    # Every field of RowResult is set above, each to a value that is not its default.
    assert {f.name for f in dataclasses.fields(RowResult)} == set(values)
    result = RowResult(**values)
    assert with_duration(result, 345) == dataclasses.replace(result, duration_ms=345)


@pytest.mark.parametrize(
    "value",
    [
        None,
        0,
        503,
        1.5,
        "",
        "updated",
        "org-a",
        "HTTP 422: allowed_days: bad day",
        '=HYPERLINK("http://x")',
        "+1",
        "-1",
        "@SUM(A1)",
        "\tindented",
        "\rcarriage",
        "line\nbreak",
        "bidi \u202e override",
        "zero\u200bwidth",
        "x" * MESSAGE_CAP,
        "x" * (MESSAGE_CAP + 1),
        "ümlaut and 日本語",
    ],
)
def test_a_report_cell_is_the_safe_cell_of_its_value(value: Any) -> None:
    assert report_cell(value) == ("" if value is None else safe_cell(value))


def _no_lane(org_id: str) -> Any:
    raise AssertionError("no request is sent here")


@pytest.mark.parametrize(
    "base",
    [
        "http://127.0.0.1:8080/api/scheduling",
        "http://127.0.0.1:8080/api/scheduling/",
        "http://localhost",
        "https://apps.sarvam.ai/api/scheduling",
        "http://[::1]:9000/a%20b/c",
        "https://h.example/ä/x",
    ],
)
@pytest.mark.parametrize(
    "path",
    [
        "/v1/orgs/org-a/workspaces/ws_1/campaigns/cmp-000001",
        "/v1/orgs/org-a/workspaces/ws_1/campaigns/cmp-000001/status",
        "/v1/orgs/org-a/workspaces/ws_1/campaigns?limit=100&offset=200",
    ],
)
async def test_a_request_url_is_the_one_aiohttp_would_parse_from_the_text(
    base: str, path: str
) -> None:
    async with aiohttp.ClientSession() as session:
        client = ApiClient(
            session, base_url=base, lanes=_no_lane, budget=RetryBudget(), timeout=5.0
        )
        assert URL(client._url(path)) == URL(base.rstrip("/") + path)


def test_the_retry_budget_keeps_only_the_requests_of_its_window() -> None:
    time = FakeTime()
    budget = RetryBudget(clock=time.clock)
    for _ in range(20_000):
        budget.note_request()
        time.now += 0.01  # 100 requests a second for 200 s
    assert len(budget._requests) <= 100 * WINDOW + 1
    assert budget.has_room()


def _reply(status: int) -> Reply:
    return Reply("PATCH", Kind.OK if status < 300 else Kind.UNKNOWN, status=status)


async def test_a_closed_breaker_admits_at_once_and_an_open_one_does_not() -> None:
    time = FakeTime()
    breaker = Breaker(clock=time.clock, sleep=time.sleep, max_outage=1.0)
    assert breaker.is_closed
    assert await breaker.admit() is Admission.GO
    for _ in range(20):
        breaker.record(_reply(503))
    assert breaker.is_open
    assert not breaker.is_closed
    time.now += 10.0  # past max_outage: the breaker gives up
    assert await breaker.admit() is Admission.STOP
    assert not breaker.is_closed


async def test_an_unlimited_pacer_never_waits_and_counts_every_start() -> None:
    time = FakeTime()
    pacer = Pacer(None, clock=time.clock, sleep=time.sleep)
    for _ in range(40):
        await pacer.acquire()
    assert time.slept == []
    pacer.throttled()
    assert pacer.current_rate == 20.0  # half the 40 starts it saw this second


async def test_loops_that_bulkpatch_starts_run_on_uvloop_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uvloop = pytest.importorskip("uvloop")

    def kind_of_loop() -> type:
        async def which() -> type:
            import asyncio

            return type(asyncio.get_running_loop())

        return loop.run(which)

    # A loop cannot start inside a running one: run each in a thread of its own.
    from anyio import to_thread

    monkeypatch.delenv(loop.LOOP_ENV, raising=False)
    assert await to_thread.run_sync(kind_of_loop) is uvloop.Loop
    monkeypatch.setenv(loop.LOOP_ENV, "asyncio")
    assert not loop.use_uvloop()
    assert await to_thread.run_sync(kind_of_loop) is not uvloop.Loop
