"""Classifying HTTP results, reading error bodies, and backing off."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bulkpatch.retrying import (
    Verdict,
    backoff_delay,
    classify_status,
    error_message,
    parse_retry_after,
)


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_the_transient_statuses_are_retried(status: int) -> None:
    assert classify_status(status) is Verdict.TRANSIENT


@pytest.mark.parametrize("status", [400, 409, 410, 422])
def test_other_4xx_are_permanent(status: int) -> None:
    assert classify_status(status) is Verdict.PERMANENT


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_mean_the_key_is_wrong(status: int) -> None:
    assert classify_status(status) is Verdict.AUTH


def test_a_fastapi_validation_body_gives_location_and_message() -> None:
    body = '{"detail": [{"loc": ["body", "name"], "msg": "String too long", "type": "x"}]}'
    assert error_message(422, body) == "name: String too long"


def test_a_sarvam_error_body_gives_message_and_code() -> None:
    body = '{"error": {"message": "Campaign is active", "code": "invalid_state"}}'
    assert error_message(409, body) == "Campaign is active (invalid_state)"


def test_an_html_body_falls_back_to_its_text() -> None:
    assert error_message(502, "<html>Bad   gateway</html>") == "HTTP 502: <html>Bad gateway</html>"


def test_retry_after_reads_seconds_and_http_dates_and_is_capped() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3", now=now) == 3.0
    assert parse_retry_after("Sat, 28 Nov 2026 12:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("100000", now=now) == 120.0
    assert parse_retry_after("Sat, 28 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_backoff_is_full_jitter_under_an_exponential_ceiling_capped_at_30_s() -> None:
    def top(low: float, high: float) -> float:
        return high

    assert [backoff_delay(n, uniform=top) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_delay(20, uniform=top) == 30.0
    assert backoff_delay(3, uniform=lambda low, high: low) == 0.0


def test_retry_after_is_a_floor_under_the_jittered_backoff() -> None:
    assert backoff_delay(1, retry_after=7.0, uniform=lambda low, high: high) == 7.0
