"""Merging a row into the stored campaign: objects key by key, lists replace, ids kept."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bulkpatch.merge import (
    decide_status,
    guard_mismatches,
    holds_target,
    merge_change,
    same_value,
)
from bulkpatch.rows import CampaignKey, RowChange

KEY = CampaignKey("org-1", "ws-1", "cmp-1")


def campaign(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "campaign_id": "cmp-1",
        "name": "Spring push",
        "status": "paused",
        "start_timestamp": "2026-12-01T09:00:00Z",
        "end_timestamp": "2026-12-10T09:00:00Z",
        "updated_at": "2026-11-01T00:00:00Z",
        "allowed_schedule": {
            "allowed_start_time": "09:00",
            "allowed_end_time": "18:00",
            "allowed_days": ["Monday", "Tuesday"],
            "timezone": "Asia/Kolkata",
        },
        "app_config": {
            "app_id": "app-7",
            "app_type": "agent",
            "app_version": 3,
            "attempts_per_second": 5.0,
            "connection_configs": [
                {"connection_id": "c1", "phone_numbers": ["+919800000001"], "weight": 1}
            ],
            "retry_config": {"max_retries": 3, "retry_interval_minutes": 5},
            "webhook_config": {"url": "https://hooks.example.com/a", "metadata": {"team": "x"}},
        },
    }
    base.update(overrides)
    return base


def change(**changes: Any) -> RowChange:
    return RowChange(row=1, key=KEY, changes=changes)


def test_a_change_inside_the_schedule_sends_the_whole_schedule_with_the_other_fields_kept() -> None:
    result = merge_change(campaign(), change(**{"allowed_schedule.allowed_end_time": "19:00"}))
    assert result.body == {
        "allowed_schedule": {
            "allowed_start_time": "09:00",
            "allowed_end_time": "19:00",
            "allowed_days": ["Monday", "Tuesday"],
            "timezone": "Asia/Kolkata",
        }
    }
    assert result.changed_fields == ("allowed_schedule.allowed_end_time",)
    assert result.before == {"allowed_schedule.allowed_end_time": "18:00"}


def test_a_change_inside_app_config_copies_app_id_and_app_type_and_keeps_every_other_field() -> (
    None
):
    current = campaign()
    result = merge_change(current, change(**{"app_config.app_version": 7}))
    expected = copy.deepcopy(current["app_config"])
    expected["app_version"] = 7
    assert result.body == {"app_config": expected}


def test_a_whole_object_merges_key_by_key_and_its_lists_replace() -> None:
    result = merge_change(
        campaign(),
        change(allowed_schedule={"allowed_days": ["Friday"]}),
    )
    assert result.body["allowed_schedule"]["allowed_days"] == ["Friday"]
    assert result.body["allowed_schedule"]["allowed_start_time"] == "09:00"


def test_a_nested_object_column_merges_into_the_stored_nested_object() -> None:
    result = merge_change(campaign(), change(**{"app_config.retry_config": {"max_retries": 9}}))
    assert result.body["app_config"]["retry_config"] == {
        "max_retries": 9,
        "retry_interval_minutes": 5,
    }


def test_a_row_whose_targets_are_already_there_is_unchanged_and_sends_nothing() -> None:
    result = merge_change(
        campaign(),
        change(
            **{
                "allowed_schedule.allowed_start_time": "09:00",
                "app_config.attempts_per_second": 5,
                "end_timestamp": "2026-12-10T14:30:00+05:30",
            }
        ),
    )
    assert result.unchanged
    assert result.body == {}


def test_only_the_fields_that_differ_are_sent() -> None:
    result = merge_change(campaign(), change(name="Spring push", description="new words"))
    assert result.body == {"description": "new words"}
    assert result.changed_fields == ("description",)


def test_changing_app_id_makes_the_row_invalid_once_the_campaign_is_known() -> None:
    result = merge_change(campaign(), change(**{"app_config.app_id": "app-8"}))
    assert any("app_id cannot change" in p for p in result.problems)


def test_an_end_timestamp_before_start_plus_120_seconds_is_invalid() -> None:
    result = merge_change(campaign(), change(end_timestamp="2026-12-01T09:01:00Z"))
    assert any("120 s" in p for p in result.problems)


def test_an_end_timestamp_past_start_plus_30_days_is_invalid() -> None:
    result = merge_change(campaign(), change(end_timestamp="2027-01-05T09:00:00Z"))
    assert any("30 days" in p for p in result.problems)


def test_a_start_time_moved_past_the_stored_end_time_is_invalid_after_the_merge() -> None:
    result = merge_change(campaign(), change(**{"allowed_schedule.allowed_start_time": "20:00"}))
    assert any("must be before" in p for p in result.problems)


def test_guards_report_each_value_the_campaign_does_not_hold() -> None:
    assert guard_mismatches(campaign(), {"status": "paused"}) == []
    assert guard_mismatches(campaign(), {"app_config.app_version": 2}) == [
        "expected app_config.app_version = 2, campaign has 3"
    ]


def test_instants_compare_as_instants_and_booleans_never_equal_numbers() -> None:
    assert same_value("end_timestamp", "2026-01-01T00:00:00Z", "2026-01-01T05:30:00+05:30")
    assert not same_value("x.enabled", 1, True)


@pytest.mark.parametrize(
    ("status", "pause_active", "patch", "pause_first"),
    [
        ("paused", False, True, False),
        ("scheduled", False, True, False),
        ("active", False, False, False),
        ("active", True, True, True),
        ("ended", True, False, False),
        ("cancelled", True, False, False),
    ],
)
def test_the_status_decides_between_patch_pause_patch_resume_and_skip(
    status: str, pause_active: bool, patch: bool, pause_first: bool
) -> None:
    decision = decide_status(status, pause_active=pause_active)
    assert (decision.patch, decision.pause_first) == (patch, pause_first)
    assert decision.patch or decision.reason


def test_holds_target_is_true_only_when_every_change_is_in_place() -> None:
    row = change(**{"app_config.app_version": 4, "name": "Spring push"})
    assert not holds_target(campaign(), row)
    updated = campaign()
    updated["app_config"]["app_version"] = 4
    assert holds_target(updated, row)
