"""``export --where``: conditions on a campaign's detail, and why a bad one is refused."""

from __future__ import annotations

from typing import Any

import pytest

from bulkpatch.validation.where import field_text, matches_all, parse_where

CAMPAIGN: dict[str, Any] = {
    "campaign_id": "cmp-7",
    "name": "Diwali Sale North 7",
    "status": "paused",
    "description": None,
    "end_timestamp": "2026-02-10T12:00:00Z",
    "app_config": {
        "app_version": 6,
        "attempts_per_second": 5.0,
        "webhook_config": {"url": "https://h.example/x", "metadata": {"team": "ops"}},
        "retry_config": {"retry_on": {"busy": {"enabled": True}}},
    },
    "allowed_schedule": {
        "timezone": "Asia/Kolkata",
        "allowed_days": ["Monday", "Tuesday", "Saturday"],
        "allowed_start_time": "09:00",
    },
}


@pytest.mark.parametrize(
    "condition",
    [
        "allowed_schedule.timezone=Asia/Kolkata",
        "status!=active",
        "app_config.app_version<7",
        "app_config.app_version<=6",
        "app_config.app_version>=6",
        "app_config.app_version=6.0",
        "app_config.attempts_per_second=5",
        "name~^Diwali",
        "name!~^Holi",
        'name="Diwali Sale North 7"',
        "allowed_schedule.allowed_days~Saturday",
        "allowed_schedule.allowed_days=Monday,Tuesday,Saturday",
        "description=",
        "end_timestamp<2026-03-01T00:00:00Z",
        "end_timestamp>2026-02-10T17:00:00+05:30",
        "end_timestamp=2026-02-10T17:30:00+05:30",
        "app_config.webhook_config.metadata.team=ops",
        "app_config.retry_config.retry_on.busy.enabled=TRUE",
        " allowed_schedule.allowed_start_time = 09:00 ",
    ],
)
def test_a_condition_the_campaign_meets_matches(condition: str) -> None:
    assert parse_where(condition).matches(CAMPAIGN)


@pytest.mark.parametrize(
    "condition",
    [
        "allowed_schedule.timezone=Asia/Dubai",
        "app_config.app_version>6",
        "app_config.app_version<6",
        "name~^North",
        "description!=",
        "end_timestamp>2026-03-01T00:00:00Z",
        "app_config.app_version>2026-01-01T00:00:00Z",
        "name<5",
        "app_config.webhook_config.metadata.env=prod",
    ],
)
def test_a_condition_the_campaign_does_not_meet_does_not_match(condition: str) -> None:
    assert not parse_where(condition).matches(CAMPAIGN)


def test_every_condition_must_hold() -> None:
    both = (parse_where("status=paused"), parse_where("app_config.app_version<7"))
    assert matches_all(both, CAMPAIGN)
    assert not matches_all((*both, parse_where("name~Holi")), CAMPAIGN)


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ("allowed_schedule.timezon=Asia/Kolkata", "did you mean `allowed_schedule.timezone`"),
        ("timezone Asia/Kolkata", "is not PATH OP VALUE"),
        ("=paused", "is not PATH OP VALUE"),
        ("app_config.app_version<seven", "compares numbers or ISO 8601 times"),
        ("end_timestamp<2026-03-01T00:00:00", "compares numbers or ISO 8601 times"),
        ("name~[unclosed", "not a valid regular expression"),
        ("colour=red", "unknown field `colour`"),
    ],
)
def test_a_condition_that_cannot_be_read_is_refused_with_the_reason(
    condition: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_where(condition)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (7, "7"),
        (5.0, "5.0"),
        (["Monday", "Friday"], "Monday,Friday"),
        ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'),
    ],
)
def test_a_field_reads_as_the_text_an_export_writes(value: Any, text: str) -> None:
    assert field_text(value) == text
