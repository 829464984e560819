"""Every decision about one row, without sockets: merge, checks, guards, status (plan_row)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.rows import CampaignKey, RowChange
from bulkpatch.core.values import get_path, holds, same_value
from bulkpatch.engine.planner import (
    BadAnswer,
    Confirmed,
    Invalid,
    Patch,
    PausePatchResume,
    PlanOptions,
    RowPlan,
    Skip,
    Stale,
    Unchanged,
    guard_mismatches,
    plan_row,
)
from bulkpatch.engine.results import row_result
from bulkpatch.simulator import generate_campaign

KEY = CampaignKey("org-1", "ws-1", "cmp-1")
PLAIN = PlanOptions()
PAUSING = PlanOptions(pause_active=True)


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
            "webhook_config": {
                "url": "https://hooks.example.com/a",
                "metadata": {"team": "risk", "env": "prod"},
            },
        },
    }
    base.update(overrides)
    return base


def change(expects: dict[str, Any] | None = None, **changes: Any) -> RowChange:
    return RowChange(row=1, key=KEY, changes=changes, expects=expects or {})


def patched(plan: RowPlan) -> Patch:
    assert isinstance(plan, Patch), plan
    return plan


def test_a_change_inside_the_schedule_sends_the_whole_schedule_with_the_other_fields_kept() -> None:
    plan = patched(
        plan_row(campaign(), change(**{"allowed_schedule.allowed_end_time": "19:00"}), PLAIN)
    )
    assert plan.body == {
        "allowed_schedule": {
            "allowed_start_time": "09:00",
            "allowed_end_time": "19:00",
            "allowed_days": ["Monday", "Tuesday"],
            "timezone": "Asia/Kolkata",
        }
    }
    assert plan.changed_fields == ("allowed_schedule.allowed_end_time",)
    assert plan.before == {"allowed_schedule.allowed_end_time": "18:00"}


def test_a_change_inside_app_config_copies_app_id_and_app_type_and_keeps_every_other_field() -> (
    None
):
    current = campaign()
    plan = patched(plan_row(current, change(**{"app_config.app_version": 7}), PLAIN))
    expected = copy.deepcopy(current["app_config"])
    expected["app_version"] = 7
    assert plan.body == {"app_config": expected}


def test_a_whole_object_merges_key_by_key_and_its_lists_replace() -> None:
    plan = patched(
        plan_row(campaign(), change(allowed_schedule={"allowed_days": ["Friday"]}), PLAIN)
    )
    assert plan.body["allowed_schedule"]["allowed_days"] == ["Friday"]
    assert plan.body["allowed_schedule"]["allowed_start_time"] == "09:00"


def test_a_nested_object_column_merges_into_the_stored_nested_object() -> None:
    plan = patched(
        plan_row(campaign(), change(**{"app_config.retry_config": {"max_retries": 9}}), PLAIN)
    )
    assert plan.body["app_config"]["retry_config"] == {
        "max_retries": 9,
        "retry_interval_minutes": 5,
    }


def test_webhook_metadata_is_replaced_whole_not_merged() -> None:
    plan = patched(
        plan_row(
            campaign(), change(**{"app_config.webhook_config.metadata": {"team": "sales"}}), PLAIN
        )
    )
    assert plan.body["app_config"]["webhook_config"]["metadata"] == {"team": "sales"}
    assert plan.before == {"app_config.webhook_config.metadata": {"team": "risk", "env": "prod"}}


def test_empty_webhook_metadata_clears_it_and_is_not_unchanged() -> None:
    plan = patched(
        plan_row(campaign(), change(**{"app_config.webhook_config.metadata": {}}), PLAIN)
    )
    assert plan.body["app_config"]["webhook_config"]["metadata"] == {}


def test_metadata_inside_a_whole_webhook_object_is_replaced_whole_too() -> None:
    plan = patched(
        plan_row(
            campaign(),
            change(**{"app_config.webhook_config": {"metadata": {"team": "sales"}}}),
            PLAIN,
        )
    )
    webhook = plan.body["app_config"]["webhook_config"]
    assert webhook == {"url": "https://hooks.example.com/a", "metadata": {"team": "sales"}}


def test_a_guard_on_metadata_compares_the_whole_value() -> None:
    assert guard_mismatches(campaign(), {"app_config.webhook_config.metadata": {"team": "risk"}})
    assert not guard_mismatches(
        campaign(), {"app_config.webhook_config.metadata": {"team": "risk", "env": "prod"}}
    )


def test_reading_back_compares_replaced_whole_values_whole() -> None:
    merged_in = campaign()
    merged_in["app_config"]["webhook_config"]["metadata"] = {"team": "sales", "env": "prod"}
    assert not holds(merged_in, {"app_config.webhook_config.metadata": {"team": "sales"}})


def test_a_connection_list_is_replaced_whole_and_compared_item_by_item() -> None:
    same = [{"connection_id": "c1", "phone_numbers": ["+919800000001"], "weight": 1}]
    assert isinstance(
        plan_row(campaign(), change(**{"app_config.connection_configs": same}), PLAIN), Unchanged
    )
    shorter = [{"connection_id": "c1", "phone_numbers": ["+919800000001"], "weight": True}]
    assert not same_value("app_config.connection_configs", same, shorter)


def test_a_row_whose_targets_are_already_there_is_unchanged_and_sends_nothing() -> None:
    plan = plan_row(
        campaign(),
        change(
            **{
                "allowed_schedule.allowed_start_time": "09:00",
                "app_config.attempts_per_second": 5,
                "end_timestamp": "2026-12-10T14:30:00+05:30",
            }
        ),
        PLAIN,
    )
    assert isinstance(plan, Unchanged)


GUARDED = change({"app_config.app_version": 3}, **{"app_config.app_version": 7})


def test_a_sent_row_whose_change_is_in_place_is_confirmed_although_its_guard_now_fails() -> None:
    # Killed after sending: the campaign holds 7, which the row's own write put there.
    now = campaign(app_config={**campaign()["app_config"], "app_version": 7})
    sent = {"app_config.app_version": 3}
    plan = plan_row(now, GUARDED, PLAIN, sent=sent)
    assert isinstance(plan, Confirmed), plan
    assert plan.before == sent
    result = row_result(GUARDED, plan, None)
    assert result.outcome is Outcome.UPDATED
    assert result.before == sent  # undo puts 3 back
    assert result.changed_fields == ("app_config.app_version",)


def test_a_fresh_row_whose_guard_fails_is_stale_even_when_its_change_is_there() -> None:
    now = campaign(app_config={**campaign()["app_config"], "app_version": 7})
    assert isinstance(plan_row(now, GUARDED, PLAIN), Stale)


def test_a_sent_row_whose_change_is_not_there_still_answers_to_its_guard() -> None:
    someone_else = campaign(app_config={**campaign()["app_config"], "app_version": 5})
    assert isinstance(plan_row(someone_else, GUARDED, PLAIN, sent={}), Stale)
    untouched = campaign()  # the write never landed: the guard holds, send it again
    assert isinstance(plan_row(untouched, GUARDED, PLAIN, sent={}), Patch)


def test_only_the_fields_that_differ_are_sent() -> None:
    plan = patched(plan_row(campaign(), change(name="Spring push", description="new words"), PLAIN))
    assert plan.body == {"description": "new words"}
    assert plan.changed_fields == ("description",)


def test_an_answer_about_another_campaign_fails_the_row_and_sends_nothing() -> None:
    plan = plan_row(campaign(campaign_id="cmp-2"), change(name="New"), PLAIN)
    assert isinstance(plan, BadAnswer)
    assert "cmp-2" in plan.reason
    assert "nothing was sent" in plan.reason
    other_org = plan_row(campaign(org_id="org-9"), change(name="New"), PLAIN)
    assert isinstance(other_org, BadAnswer)


def test_an_answer_that_is_not_an_object_is_a_bad_answer() -> None:
    assert isinstance(plan_row([1, 2], change(name="New"), PLAIN), BadAnswer)  # type: ignore[arg-type]


def test_changing_app_id_makes_the_row_invalid_once_the_campaign_is_known() -> None:
    plan = plan_row(campaign(), change(**{"app_config.app_id": "app-8"}), PLAIN)
    assert isinstance(plan, Invalid)
    assert any("app_id cannot change" in p for p in plan.reasons)


@pytest.mark.parametrize(
    ("end", "words"),
    [("2026-12-01T09:01:00Z", "120 s"), ("2027-01-05T09:00:00Z", "30 days")],
)
def test_an_end_timestamp_outside_start_plus_120_s_to_30_days_is_invalid(
    end: str, words: str
) -> None:
    plan = plan_row(campaign(), change(end_timestamp=end), PLAIN)
    assert isinstance(plan, Invalid)
    assert any(words in p for p in plan.reasons)


def test_a_start_time_moved_past_the_stored_end_time_is_invalid_after_the_merge() -> None:
    plan = plan_row(campaign(), change(**{"allowed_schedule.allowed_start_time": "20:00"}), PLAIN)
    assert isinstance(plan, Invalid)
    assert any("must be before" in p for p in plan.reasons)


def test_guards_report_each_value_the_campaign_does_not_hold() -> None:
    assert guard_mismatches(campaign(), {"status": "paused"}) == []
    assert guard_mismatches(campaign(), {"app_config.app_version": 2}) == [
        "expected app_config.app_version = 2, campaign has 3"
    ]
    plan = plan_row(campaign(), change({"app_config.app_version": 2}, name="New"), PLAIN)
    assert isinstance(plan, Stale)


def test_instants_compare_as_instants_and_booleans_never_equal_numbers() -> None:
    assert same_value("end_timestamp", "2026-01-01T00:00:00Z", "2026-01-01T05:30:00+05:30")
    assert not same_value("x.enabled", 1, True)


@pytest.mark.parametrize(
    ("status", "options", "kind"),
    [
        ("paused", PLAIN, Patch),
        ("scheduled", PLAIN, Patch),
        ("active", PLAIN, Skip),
        ("active", PAUSING, PausePatchResume),
        ("active", PlanOptions(pause_active=True, no_pause_reason="limit"), Skip),
        ("ended", PAUSING, Skip),
        ("cancelled", PAUSING, Skip),
    ],
)
def test_the_status_decides_between_patch_pause_patch_resume_and_skip(
    status: str, options: PlanOptions, kind: type[RowPlan]
) -> None:
    plan = plan_row(campaign(status=status), change(name="New name"), options)
    assert type(plan) is kind


def test_no_read_sends_the_row_as_given() -> None:
    plan = patched(
        plan_row(None, change(name="New", allowed_schedule={"allowed_days": ["Friday"]}), PLAIN)
    )
    assert plan.body == {"name": "New", "allowed_schedule": {"allowed_days": ["Friday"]}}


# -------------------------------------------------------------------------------------------
# Exhaustive: any campaign, any status, any guard, any change
# -------------------------------------------------------------------------------------------

ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)
TIMES = st.sampled_from(["08:00", "09:00", "10:00", "17:00", "18:00", "19:00", "23:30"])
DAYS = st.lists(
    st.sampled_from(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]),
    min_size=1,
    max_size=3,
    unique=True,
)
CHANGES = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["Spring push", "Diwali 2026", "A"]),
        "allowed_schedule.allowed_start_time": TIMES,
        "allowed_schedule.allowed_end_time": TIMES,
        "allowed_schedule.allowed_days": DAYS,
        "allowed_schedule.timezone": st.sampled_from(["Asia/Kolkata", "Asia/Dubai"]),
        "app_config.app_version": st.integers(1, 9),
        "app_config.webhook_config.metadata": st.dictionaries(
            st.sampled_from(["team", "env"]), st.sampled_from(["ops", "risk", "prod"])
        ),
        "app_config.retry_config": st.fixed_dictionaries({"max_retries": st.integers(0, 5)}),
    },
).filter(bool)
GUARDS = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["paused", "scheduled", "active", "ended"]),
        "app_config.app_version": st.integers(1, 9),
    },
)
STATUSES = st.sampled_from(["paused", "scheduled", "active", "ended", "cancelled"])


def stored_after(current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """What the API stores after a PATCH: each top-level field and object replaced whole."""
    after = copy.deepcopy(current)
    after.update(copy.deepcopy(body))
    return after


@settings(max_examples=400, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    status=STATUSES,
    changes=CHANGES,
    guards=GUARDS,
    pause_active=st.booleans(),
)
def test_any_plan_is_the_one_the_rules_give_and_a_patch_lands_exactly_the_row(
    seed: int,
    status: str,
    changes: dict[str, Any],
    guards: dict[str, Any],
    pause_active: bool,
) -> None:
    key = CampaignKey("org-h", "ws-h", f"cmp-{seed}")
    current = generate_campaign(key, seed=seed, anchor=ANCHOR)
    current["status"] = status
    row = RowChange(row=1, key=key, changes=changes, expects=guards)
    plan = plan_row(current, row, PlanOptions(pause_active=pause_active))

    differs = [p for p, t in changes.items() if not same_value(p, get_path(current, p), t)]
    assert plan.changed_fields == tuple(differs)
    if isinstance(plan, Invalid):
        return  # the merged schedule breaks a rule (start after end): nothing is sent
    stale = guard_mismatches(current, guards)
    assert isinstance(plan, Stale) == bool(stale)
    if stale:
        return
    assert isinstance(plan, Unchanged) == (not differs)
    if not differs:
        assert holds(current, changes)
        return
    if status in ("paused", "scheduled"):
        assert type(plan) is Patch
    elif status == "active":
        assert type(plan) is (PausePatchResume if pause_active else Skip)
    else:
        assert type(plan) is Skip
    if isinstance(plan, Patch):
        tops = {p.split(".", 1)[0] for p in differs}
        assert set(plan.body) == tops  # only what differs is sent
        after = stored_after(current, plan.body)
        assert holds(after, changes)  # the row's values land ...
        for top in ("allowed_schedule", "app_config"):  # ... and nothing else moves
            if top in plan.body:
                for path, value in _leaves(current[top], top):
                    if not any(path == p or path.startswith(p + ".") for p in changes):
                        assert same_value(path, get_path(after, path), value), path
        if "app_config" in plan.body:
            for name in ("app_id", "app_type"):
                assert plan.body["app_config"][name] == current["app_config"][name]
        assert plan.before == {p: get_path(current, p) for p in differs}


def _leaves(value: Any, prefix: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out.extend(_leaves(v, f"{prefix}.{k}"))
        return out
    return [(prefix, value)]


def test_an_accepted_answer_differs_only_by_ids_and_the_values_the_patch_set() -> None:
    from bulkpatch.engine.results import answer_differs

    row = change(
        **{"app_config.app_version": 7, "end_timestamp": "2026-12-10T09:00:00Z", "name": "N"}
    )
    fields = tuple(row.changes)
    same = {"campaign_id": "cmp-1", "app_version": 7, "name": "N", "description": "other"}
    # The API may normalise a time, leave a field out or say null: none of that differs.
    assert answer_differs(row, fields, {**same, "end_timestamp": "2026-12-10T14:30:00+05:30"}) == ""
    assert answer_differs(row, fields, {**same, "app_version": None}) == ""
    assert answer_differs(row, fields, {"campaign_id": "cmp-1"}) == ""
    other = answer_differs(row, fields, {**same, "campaign_id": "cmp-2", "app_version": 8})
    assert other.startswith("answer differs: ")
    assert "campaign_id 'cmp-2'" in other
    assert "app_config.app_version 8, not 7" in other
    hostile = answer_differs(row, fields, {**same, "name": "\x1b[31m=cmd" + "x" * 5000})
    assert "\x1b" not in hostile
    assert len(hostile) < 1000
    whole = change(app_config={"app_id": "app-7", "app_version": 9})
    assert "app_version 8, not 9" in answer_differs(
        whole, ("app_config",), same | {"app_version": 8}
    )
