"""One classification of every answer: what each status means for each method."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bulkpatch.transport.replies import (
    Kind,
    Reply,
    answer_reply,
    classify_answer,
    classify_no_answer,
    error_message,
    is_success,
    parse_retry_after,
    refuses_campaign,
    transport_reply,
)


@pytest.mark.parametrize("status", [408, 425, 500, 502, 503, 504])
def test_a_failed_read_is_transient_and_retried(status: int) -> None:
    assert classify_answer("GET", status, readable=True) is Kind.TRANSIENT


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
def test_a_5xx_to_a_write_is_an_unknown_outcome_to_read_back(method: str, status: int) -> None:
    assert classify_answer(method, status, readable=True) is Kind.UNKNOWN


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT"])
def test_429_408_and_425_were_not_processed_so_any_method_may_be_sent_again(method: str) -> None:
    assert classify_answer(method, 429, readable=True) is Kind.THROTTLED
    assert classify_answer(method, 408, readable=True) is Kind.TRANSIENT
    assert classify_answer(method, 425, readable=True) is Kind.TRANSIENT


def test_401_is_the_key_and_403_is_one_campaign() -> None:
    assert classify_answer("GET", 401, readable=True) is Kind.AUTH
    assert classify_answer("PATCH", 403, readable=True) is Kind.FORBIDDEN


@pytest.mark.parametrize("status", [400, 409, 410, 422, 301, 302, 307, 308])
def test_other_4xx_and_redirects_are_refusals(status: int) -> None:
    assert classify_answer("PATCH", status, readable=True) is Kind.REJECTED


def test_a_redirect_is_never_retried_and_says_where_it_pointed() -> None:
    reply = answer_reply("GET", 307, b"", location="https://elsewhere.example/api")
    assert reply.kind is Kind.REJECTED
    assert reply.message == (
        "the API redirected to https://elsewhere.example/api; check --base-url"
    )


def test_an_unreadable_2xx_is_retried_for_a_read_and_read_back_for_a_write() -> None:
    assert answer_reply("GET", 200, b"<html>").kind is Kind.TRANSIENT
    assert answer_reply("PATCH", 200, b"<html>").kind is Kind.UNKNOWN
    assert answer_reply("PATCH", 200, b"").kind is Kind.UNKNOWN
    assert answer_reply("PUT", 200, b"").kind is Kind.OK  # a status change may answer nothing


def test_no_answer_is_unknown_only_for_a_write_that_may_have_left() -> None:
    assert classify_no_answer("PATCH", maybe_sent=True) is Kind.UNKNOWN
    assert classify_no_answer("PATCH", maybe_sent=False) is Kind.TRANSIENT
    assert classify_no_answer("GET", maybe_sent=True) is Kind.TRANSIENT


def test_429_and_503_with_retry_after_tell_the_pacer_to_slow_down() -> None:
    assert answer_reply("GET", 429, b"").slow_down
    assert answer_reply("GET", 503, b"", retry_after=2.0).slow_down
    assert not answer_reply("GET", 503, b"").slow_down


def test_a_fastapi_validation_body_gives_location_and_message() -> None:
    body = '{"detail": [{"loc": ["body", "name"], "msg": "String too long", "type": "x"}]}'
    assert error_message(422, body) == "name: String too long"


def test_a_sarvam_error_body_gives_message_and_code() -> None:
    body = '{"error": {"message": "Campaign is active", "code": "invalid_state"}}'
    assert error_message(409, body) == "Campaign is active (invalid_state)"


def test_an_html_body_falls_back_to_its_text() -> None:
    assert error_message(502, "<html>Bad   gateway</html>") == "HTTP 502: <html>Bad gateway</html>"


def test_server_text_is_made_printable_and_capped() -> None:
    body = '{"detail": "line one\\r\\nline \\u001b[31mtwo' + "x" * 5_000_000 + '"}'
    message = error_message(400, body)
    assert "\r" not in message
    assert "\n" not in message
    assert "\x1b" not in message
    assert len(message) <= 300


def test_retry_after_reads_seconds_and_http_dates_and_is_capped() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3", now=now) == 3.0
    assert parse_retry_after("Sat, 28 Nov 2026 12:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("100000", now=now) == 120.0
    assert parse_retry_after("Sat, 28 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("reply", "server_failure"),
    [
        (answer_reply("PATCH", 500, b""), True),
        (answer_reply("GET", 503, b"busy", retry_after=2.0), True),
        (transport_reply("PATCH", "timed out", maybe_sent=True), True),
        (transport_reply("GET", "cannot connect", maybe_sent=False), True),
        (answer_reply("PATCH", 429, b""), False),
        (answer_reply("PATCH", 422, b'{"detail": "bad"}'), False),
        (answer_reply("GET", 200, b"{}"), False),
        (Reply("PATCH", Kind.STOPPED), False),
    ],
)
def test_a_server_failure_is_no_answer_or_a_5xx_never_a_4xx_or_a_429(
    reply: Reply, server_failure: bool
) -> None:
    assert reply.server_failure is server_failure
    assert reply.answered is (reply.status is not None)


def test_only_a_2xx_is_a_success_and_only_a_403_refuses_one_campaign() -> None:
    assert [s for s in (199, 200, 204, 299, 300, 404) if is_success(s)] == [200, 204, 299]
    assert [s for s in (None, 401, 403, 404, 429) if refuses_campaign(s)] == [403]


# --- answers nested too deep, or too long ---------------------------------------------------


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(("method", "kind"), [("GET", Kind.TRANSIENT), ("PATCH", Kind.UNKNOWN)])
def test_a_2xx_nested_100000_deep_is_an_unreadable_answer_not_a_recursion_error(
    method: str, kind: Kind
) -> None:
    reply = answer_reply(method, 200, nested(100_000))
    assert reply.kind is kind
    assert reply.data is None
    assert reply.message == "HTTP 200 with an unreadable answer (nested deeper than 64 levels)"


def test_an_error_body_nested_too_deep_is_shown_as_capped_text() -> None:
    reply = answer_reply("PATCH", 400, nested(100_000))
    assert reply.kind is Kind.REJECTED
    assert reply.message.startswith("HTTP 400: [[[")
    assert "[cut: " in reply.message
    assert error_message(422, nested(100_000).decode()).startswith("HTTP 422: [[[")


def test_the_depth_bound_counts_brackets_not_text_inside_strings() -> None:
    at_bound = b'{"a":' * 63 + b"[1]" + b"}" * 63
    assert answer_reply("GET", 200, at_bound).kind is Kind.OK
    assert answer_reply("GET", 200, b"[" + at_bound + b"]").kind is Kind.TRANSIENT
    text = json.dumps({"campaign_id": "c", "description": "[[[{{{" * 1000 + '\\"[['}).encode()
    reply = answer_reply("GET", 200, text)
    assert reply.kind is Kind.OK
    assert reply.data["description"].startswith("[[[{{{")


def test_a_2xx_cut_at_the_size_bound_is_unreadable_and_an_error_keeps_its_message() -> None:
    reply = answer_reply("GET", 200, b'{"campaign_id": "c", "x": "', cut=True)
    assert reply.kind is Kind.TRANSIENT
    assert reply.message == "HTTP 200 with an unreadable answer (longer than 16 MiB)"
    refused = answer_reply("PATCH", 400, b'{"detail": "Campaign is loc', cut=True)
    assert refused.kind is Kind.REJECTED
    assert refused.message == 'HTTP 400: {"detail": "Campaign is loc'
