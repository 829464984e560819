"""--notify-url: the run's summary POSTed once at its end (bulkpatch.ops.notify)."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest

from bulkpatch.core.errors import UsageError
from bulkpatch.ops.notify import (
    build_notification,
    check_notify_url,
    format_duration,
    redact_url,
    send_notification,
    slack_text,
)
from support.recording_server import closed_port_url, recording_server

WEBHOOK_PATH = "/services/T000/B000/SECRETwebhookPATH"


def a_summary(**changes: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "bulkpatch": "0.1.0",
        "mode": "run",
        "sheet": {"path": "/data/sheets/campaigns.csv", "sha256": "ab" * 32},
        "run_dir": "/data/reports/20261130/campaigns-20261130T013000Z-shard-2-of-4",
        "started": "2026-11-30T01:30:00+00:00",
        "finished": "2026-11-30T01:32:03+00:00",
        "rows": 1000,
        "outcomes": {
            "updated": 950,
            "unchanged": 20,
            "skipped": 0,
            "invalid": 0,
            "rejected": 25,
            "failed": 5,
            "not_attempted": 0,
        },
        "http_statuses": {"200": 1980, "422": 25, "503": 5},
        "requests": {"total": 2010, "by_method": {"GET": 1000, "PATCH": 1010}},
        "retries": 10,
        "throttled_429": 0,
        "duration_s": 123.4,
        "target_rate": 10.0,
        "campaigns_left_paused": {},
        "stop_reason": None,
        "options": {"sheet": "/data/sheets/campaigns.csv", "rate": 10.0, "report_dir": "/r"},
        "exit_code": 1,
        "shard": "2/4",
        "top_reasons": [
            {
                "outcome": "rejected",
                "reason": "HTTP 422: app_version must be at most 100",
                "rows": 25,
                "command": None,
            },
            {
                "outcome": "failed",
                "reason": "HTTP 503 (gave up after 5 attempts)",
                "rows": 5,
                "command": "bulkpatch run /data/reports/x/retry.csv",
            },
        ],
    }
    summary.update(changes)
    return summary


# ----------------------------------------------------------------------------------------------
# The body
# ----------------------------------------------------------------------------------------------


def test_the_json_body_is_the_summary_without_its_options() -> None:
    summary = a_summary()
    body = build_notification(summary, fmt="json")
    assert "options" not in body
    assert body == {k: v for k, v in summary.items() if k != "options"}


def test_the_json_body_cuts_long_lists_mappings_and_texts_and_stays_json() -> None:
    paused = {f"org/ws/cmp-{i:06d}": "resume refused" for i in range(5000)}
    reasons = [{"outcome": "failed", "reason": "x" * 50_000, "rows": 1}] * 300
    summary = a_summary(campaigns_left_paused=paused, top_reasons=reasons, target_rate=math.inf)
    body = build_notification(summary, fmt="json")
    assert len(body["campaigns_left_paused"]) == 51
    assert body["campaigns_left_paused"]["…"] == "4950 more in summary.json"
    assert len(body["top_reasons"]) == 21
    assert body["top_reasons"][-1] == "… 280 more in summary.json"
    assert len(body["top_reasons"][0]["reason"]) == 1001
    assert body["target_rate"] == "unlimited"
    assert len(json.dumps(body, allow_nan=False)) < 50_000


def test_the_slack_body_is_one_text_with_counts_duration_run_dir_exit_code_and_reasons() -> None:
    body = build_notification(a_summary(), fmt="slack")
    assert list(body) == ["text"]
    assert body["text"].splitlines() == [
        ":warning: *bulkpatch run*: exit 1 (finished; some rows were not updated)",
        "*Sheet* `campaigns.csv` (shard 2/4) · 1,000 rows · 2 min 03 s",
        "*Rows* updated 950 · unchanged 20 · rejected 25 · failed 5",
        "*Requests* 2,010 (GET 1,000, PATCH 1,010) · 429s 0",
        "*Top reasons*",
        "• rejected ×25: HTTP 422: app_version must be at most 100",
        "• failed ×5: HTTP 503 (gave up after 5 attempts)",
        "    `bulkpatch run /data/reports/x/retry.csv`",
        "*Run directory* `/data/reports/20261130/campaigns-20261130T013000Z-shard-2-of-4`",
    ]


def test_a_successful_run_is_marked_as_such() -> None:
    text = slack_text(a_summary(exit_code=0, top_reasons=[], shard=None))
    assert text.splitlines()[0] == (
        ":white_check_mark: *bulkpatch run*: exit 0 (every row updated or unchanged)"
    )
    assert "(shard" not in text
    assert "Top reasons" not in text


def test_a_stopped_run_says_why_how_to_continue_and_what_it_left_paused() -> None:
    paused = {f"org-1/ws-1/cmp-{i}": "resume refused" for i in range(12)}
    text = slack_text(
        a_summary(
            exit_code=3, stop_reason="the API refused the key (401)", campaigns_left_paused=paused
        )
    )
    lines = text.splitlines()
    assert lines[0] == ":x: *bulkpatch run*: exit 3 (stopped before the end; resumable)"
    assert "*Stopped* the API refused the key (401)" in lines
    left = next(line for line in lines if "LEFT PAUSED" in line)
    assert left.startswith(":rotating_light: *LEFT PAUSED* 12 campaign(s): `org-1/ws-1/cmp-0`")
    assert left.endswith(" and 2 more")
    assert lines[-1] == (
        "*Continue with* `bulkpatch resume "
        "/data/reports/20261130/campaigns-20261130T013000Z-shard-2-of-4`"
    )


def test_text_from_the_api_cannot_mention_link_or_break_out_of_code_in_slack() -> None:
    reason = "<!channel> see <https://evil.example|here> & `rm -rf` \x1b[31m\nnext"
    text = slack_text(a_summary(top_reasons=[{"outcome": "rejected", "reason": reason, "rows": 1}]))
    line = next(line for line in text.splitlines() if line.startswith("• rejected"))
    assert line == (
        "• rejected ×1: &lt;!channel&gt; see &lt;https://evil.example|here&gt; &amp; 'rm -rf' "
        "[31m next"
    )


def test_a_summary_missing_fields_still_gives_a_message() -> None:
    text = slack_text({})
    assert text.splitlines() == [
        ":grey_question: *bulkpatch run*: exit ? (unknown)",
        "*Sheet* `?` · ?",
        "*Rows* none",
        "*Requests* 0 · 429s 0",
    ]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.04, "0.0 s"), (59.94, "59.9 s"), (123.4, "2 min 03 s"), (7384, "2 h 03 min"), (None, "?")],
)
def test_durations_read_as_a_person_would_say_them(seconds: Any, shown: str) -> None:
    assert format_duration(seconds) == shown


# ----------------------------------------------------------------------------------------------
# The URL
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com" + WEBHOOK_PATH,
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]:9000/",
    ],
)
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    assert check_notify_url(url) == url


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("http://hooks.example.com" + WEBHOOK_PATH, "plain http:// to a host that is not loopback"),
        ("ftp://hooks.example.com/x", "absolute https:// URL"),
        ("hooks.example.com" + WEBHOOK_PATH, "absolute https:// URL"),
        ("", "absolute https:// URL"),
    ],
)
def test_other_urls_are_refused_without_showing_their_path(url: str, cause: str) -> None:
    with pytest.raises(UsageError, match=cause) as info:
        check_notify_url(url)
    assert "SECRET" not in str(info.value)


def test_a_url_is_shown_by_scheme_and_host_only() -> None:
    assert redact_url("https://hooks.example.com" + WEBHOOK_PATH) == "https://hooks.example.com/…"
    assert redact_url("http://127.0.0.1:9/") == "http://127.0.0.1:9"
    assert redact_url("https://u:p@h.example/?token=x") == "https://h.example/…"


# ----------------------------------------------------------------------------------------------
# Sending
# ----------------------------------------------------------------------------------------------


async def test_a_local_receiver_gets_exactly_one_post_with_the_payload() -> None:
    payload = build_notification(a_summary(), fmt="json")
    async with recording_server() as receiver:
        reason = await send_notification(receiver.url + WEBHOOK_PATH, payload, timeout=5)
    assert reason is None
    assert len(receiver.received) == 1
    post = receiver.received[0]
    assert (post.method, post.path) == ("POST", WEBHOOK_PATH)
    assert post.headers["Content-Type"] == "application/json; charset=utf-8"
    assert post.headers["User-Agent"].startswith("bulkpatch/")
    assert json.loads(post.body) == payload


async def test_a_slack_payload_arrives_as_its_text() -> None:
    payload = build_notification(a_summary(), fmt="slack")
    async with recording_server() as receiver:
        assert await send_notification(receiver.url, payload, timeout=5) is None
    assert json.loads(receiver.received[0].body) == payload


async def test_a_receiver_that_refuses_gives_its_status_and_text_without_the_path() -> None:
    async with recording_server((404, "no_service")) as receiver:
        reason = await send_notification(receiver.url + WEBHOOK_PATH, {"text": "x"}, timeout=5)
    assert reason == f"{receiver.url}/… answered HTTP 404: no_service"
    assert len(receiver.received) == 1


async def test_a_redirect_is_not_followed() -> None:
    async with recording_server((301, "")) as receiver:
        receiver.headers["Location"] = receiver.url + "/elsewhere"
        reason = await send_notification(receiver.url + "/hook", {"text": "x"}, timeout=5)
    assert (
        reason == f"{receiver.url}/… answered HTTP 301 (a redirect); give the URL it redirects to"
    )
    assert [r.path for r in receiver.received] == ["/hook"]


async def test_a_dead_url_gives_a_reason_at_once() -> None:
    url = closed_port_url()
    started = time.monotonic()
    reason = await send_notification(url + "/hook", {"text": "x"}, timeout=5)
    assert time.monotonic() - started < 2
    assert reason is not None
    assert reason == f"cannot connect to {url}/…: Connection refused"


async def test_a_slow_receiver_gives_a_reason_within_the_bound() -> None:
    async with recording_server(delay=30) as receiver:
        started = time.monotonic()
        reason = await send_notification(receiver.url + "/hook", {"text": "x"}, timeout=0.3)
        elapsed = time.monotonic() - started
    assert reason == f"{receiver.url}/… did not answer within 0.3 s"
    assert 0.25 <= elapsed < 1.5
    assert len(receiver.received) == 1


async def test_a_payload_that_is_not_json_gives_a_reason_and_sends_nothing() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    async with recording_server() as receiver:
        reason = await send_notification(receiver.url, loop, timeout=5)
    assert reason is not None
    assert reason.startswith("the notification could not be encoded")
    assert receiver.received == []
