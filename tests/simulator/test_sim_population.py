"""The simulator's campaigns: deterministic, realistic, seeded from keys, overrides or a sheet."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from bulkpatch.core.errors import SheetError
from bulkpatch.core.models import AgentConfig, AllowedSchedule, CampaignDetail
from bulkpatch.simulator import (
    CampaignKey,
    SimulatorConfig,
    SimulatorState,
    generate_campaign,
    keys_from_sheet,
)

ANCHOR = datetime(2026, 3, 1, tzinfo=UTC)


def _state(**knobs: Any) -> SimulatorState:
    return SimulatorState(SimulatorConfig(anchor=ANCHOR, **knobs))


# --- generation ----------------------------------------------------------------------------------


def test_generation_is_deterministic_for_a_seed() -> None:
    first = _state(generate=30, seed=5).dump()
    again = _state(generate=30, seed=5).dump()
    other = _state(generate=30, seed=6).dump()
    assert first == again
    assert first != other


def test_generated_ids_are_zero_padded_in_the_default_org_and_workspace() -> None:
    keys = _state(generate=12).keys()
    assert keys[0] == CampaignKey("org-demo", "ws-demo", "cmp-000001")
    assert keys[-1] == CampaignKey("org-demo", "ws-demo", "cmp-000012")
    assert len(keys) == 12


def test_a_campaign_is_the_same_whatever_else_exists() -> None:
    key = CampaignKey("org-a", "ws-b", "cmp-x")
    alone = _state(campaigns=(key,), seed=9).get(key)
    crowded = _state(generate=50, campaigns=(("o", "w", "c"), key), seed=9).get(key)
    assert alone == crowded


def test_generated_campaigns_are_valid_and_in_the_form_the_api_stores() -> None:
    for campaign in _state(generate=300, seed=1).dump():
        CampaignDetail.model_validate(campaign)
        app_config = campaign["app_config"]
        schedule = campaign["allowed_schedule"]
        assert AgentConfig.model_validate(app_config).model_dump(mode="json") == app_config
        assert AllowedSchedule.model_validate(schedule).model_dump(mode="json") == schedule
        assert campaign["app_version"] == app_config["app_version"]
        assert campaign["app_id"] == app_config["app_id"]


def test_generated_end_timestamps_keep_the_120_seconds_to_30_days_rule() -> None:
    for campaign in _state(generate=300, seed=2).dump():
        start = datetime.fromisoformat(campaign["start_timestamp"])
        end = datetime.fromisoformat(campaign["end_timestamp"])
        assert start + timedelta(seconds=120) <= end <= start + timedelta(days=30)


def test_an_end_set_from_outside_that_its_start_makes_impossible_moves_the_start_with_it() -> None:
    far, near, guarded = (CampaignKey("o", "w", c) for c in ("far", "near", "guarded"))
    state = _state(
        overrides={
            far: {"end_timestamp": "2031-03-02T21:30:00+05:30"},
            guarded: {
                "end_timestamp": "2031-03-02T21:30:00Z",
                "start_timestamp": "2031-01-01T00:00:00Z",
            },
        },
        campaigns=(near,),
    )
    moved = state.get(far)
    assert moved["end_timestamp"] == "2031-03-02T21:30:00+05:30"
    assert moved["start_timestamp"] == "2031-02-20T16:00:00Z"  # ten days before, in UTC
    start, end = (state.get(near)[f] for f in ("start_timestamp", "end_timestamp"))
    later = datetime.fromisoformat(end) + timedelta(days=1)
    assert later <= datetime.fromisoformat(start) + timedelta(days=30)
    kept = state.update(near, {"end_timestamp": later.isoformat()})
    assert kept["start_timestamp"] == start  # still possible: kept
    assert state.get(guarded)["start_timestamp"] == "2031-01-01T00:00:00Z"  # set: never moved


def test_the_status_mix_is_mostly_editable_with_some_active_and_a_few_finished() -> None:
    statuses = Counter(c["status"] for c in _state(generate=2000, seed=3).dump())
    editable = statuses["paused"] + statuses["scheduled"]
    finished = statuses["ended"] + statuses["cancelled"]
    assert editable > 1200
    assert 150 < statuses["active"] < 500
    assert 40 < finished < 400


def test_the_mix_varies_webhooks_time_zones_and_connections() -> None:
    campaigns = _state(generate=200, seed=4).dump()
    hooks = [c["app_config"]["webhook_config"] for c in campaigns]
    assert any(h is None for h in hooks)
    assert any(h is not None for h in hooks)
    assert len({c["allowed_schedule"]["timezone"] for c in campaigns}) > 1
    assert len({len(c["app_config"]["connection_configs"]) for c in campaigns}) > 1


def test_ended_campaigns_ended_before_the_anchor_and_scheduled_ones_start_after_it() -> None:
    for campaign in _state(generate=400, seed=8).dump():
        start = datetime.fromisoformat(campaign["start_timestamp"])
        end = datetime.fromisoformat(campaign["end_timestamp"])
        if campaign["status"] == "ended":
            assert end < ANCHOR
        if campaign["status"] == "scheduled":
            assert start > ANCHOR


def test_a_single_status_can_replace_the_mix() -> None:
    statuses = {c["status"] for c in _state(generate=50, status_weights=(("paused", 1.0),)).dump()}
    assert statuses == {"paused"}


# --- keys and overrides --------------------------------------------------------------------------


def test_every_named_campaign_exists_with_its_overrides() -> None:
    named = (("org-1", "ws-1", "alpha"), CampaignKey("org-1", "ws-2", "beta"))
    state = _state(
        campaigns=named,
        overrides={
            ("org-1", "ws-1", "alpha"): {"status": "active", "app_config.app_version": 3},
            ("org-9", "ws-9", "gamma"): {"name": "Only in overrides"},
        },
    )
    assert len(state) == 3
    alpha = state.get(("org-1", "ws-1", "alpha"))
    assert (alpha["status"], alpha["app_version"], alpha["app_config"]["app_version"]) == (
        "active",
        3,
        3,
    )
    assert CampaignKey("org-1", "ws-2", "beta") in state
    assert state.get(("org-9", "ws-9", "gamma"))["name"] == "Only in overrides"
    assert ("org-1", "ws-1", "nobody") not in state


def test_put_and_get_hand_out_copies() -> None:
    state = _state(generate=1)
    key = CampaignKey("org-demo", "ws-demo", "cmp-000001")
    detail = state.get(key)
    detail["name"] = "Changed outside"
    assert state.get(key)["name"] != "Changed outside"
    state.put(("o", "w", "c"), {**detail, "campaign_id": "ignored"})
    assert state.get(("o", "w", "c"))["campaign_id"] == "c"
    assert state.get(("o", "w", "c"))["name"] == "Changed outside"


def test_an_unknown_campaign_is_a_key_error_in_the_python_api() -> None:
    with pytest.raises(KeyError):
        _state(generate=1).get(("org-demo", "ws-demo", "cmp-000002"))


def test_generate_campaign_is_a_pure_function_of_its_inputs() -> None:
    key = CampaignKey("o", "w", "c")
    assert generate_campaign(key, seed=1, anchor=ANCHOR) == generate_campaign(
        key, seed=1, anchor=ANCHOR
    )


@pytest.mark.parametrize(
    "knobs",
    [
        {"fail_rate": 1.5},
        {"reset_rate": -0.1},
        {"rate_limit": 0},
        {"outage": (1.0, 0.0)},
        {"generate": -1},
        {"api_key": ""},
        {"status_weights": (("paused", 0.0),)},
        {"anchor": datetime(2026, 1, 1)},  # naive on purpose
        {"fail_after_store_rate": 1.5},
        {"wrong_id_rate": -0.1},
        {"redirect_to": "moved.example.invalid"},
        {"redirect_to": "ftp://moved.example.invalid"},
        {"redirect_status": 303},
        {"not_editable_status": 418},
        {"error_shape": "xml"},
        {"list_shape": "rows"},
        {"next_page_uri": "relative"},
        {"error_body_bytes": -1},
        {"forbid": "cmp-1"},  # one string, not a collection of ids
        {"extra_api_keys": ("",)},
        {"key_orgs": {"unknown-fake-key": ["org-a"]}},
        {"key_orgs": {"sim-key": "org-a"}},
        {"key_orgs": {"sim-key": []}},
        {"revoke_keys_after": {"unknown-fake-key": 3}},
        {"revoke_keys_after": {"sim-key": -1}},
    ],
)
def test_a_config_out_of_range_is_refused(knobs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        SimulatorConfig(**knobs)


# --- keys from a sheet ---------------------------------------------------------------------------


def test_keys_from_a_csv_sheet_fill_in_missing_org_and_workspace(tmp_path: Path) -> None:
    sheet = tmp_path / "changes.csv"
    sheet.write_text(
        "\ufeffcampaign_id,org_id,name\n"
        "cmp-1,org-a,First\n"
        " cmp-2 ,,Second\n"
        "cmp-1,org-a,Repeated\n"
        ",org-a,No id\n"
        "bad/id,org-a,Unusable\n",
        encoding="utf-8",
    )
    keys = keys_from_sheet(sheet, workspace_id="ws-z")
    assert keys == [
        CampaignKey("org-a", "ws-z", "cmp-1"),
        CampaignKey("org-demo", "ws-z", "cmp-2"),
    ]


def test_keys_from_a_parquet_sheet(tmp_path: Path) -> None:
    sheet = tmp_path / "changes.parquet"
    pl.DataFrame(
        {"org_id": ["o1", "o2"], "workspace_id": ["w1", "w2"], "campaign_id": ["c1", "c2"]}
    ).write_parquet(sheet)
    assert keys_from_sheet(sheet) == [CampaignKey("o1", "w1", "c1"), CampaignKey("o2", "w2", "c2")]


def test_a_sheet_without_a_campaign_id_column_is_refused(tmp_path: Path) -> None:
    sheet = tmp_path / "changes.csv"
    sheet.write_text("name\nx\n", encoding="utf-8")
    with pytest.raises(SheetError, match="campaign_id"):
        keys_from_sheet(sheet)


def test_a_sheet_of_unknown_format_is_refused(tmp_path: Path) -> None:
    sheet = tmp_path / "changes.txt"
    sheet.write_text("campaign_id\nx\n", encoding="utf-8")
    with pytest.raises(SheetError, match="format"):
        keys_from_sheet(sheet)


def test_keys_from_a_sheet_read_only_key_columns_and_take_numbers_as_ids(tmp_path: Path) -> None:
    sheet = tmp_path / "changes.parquet"
    pl.DataFrame(
        {
            "campaign_id": [101, 102, 101, None],
            "name": ["a", "b", "c", "d"],
            "app_config.app_version": [1, 2, 3, 4],
        }
    ).write_parquet(sheet)
    assert keys_from_sheet(sheet, org_id="org-n") == [
        CampaignKey("org-n", "ws-demo", "101"),
        CampaignKey("org-n", "ws-demo", "102"),
    ]


def test_keys_from_a_sheet_follow_the_given_format_over_the_extension(tmp_path: Path) -> None:
    sheet = tmp_path / "changes.data"
    sheet.write_text("workspace_id,campaign_id\nws-1,cmp-1\n", encoding="utf-8")
    assert keys_from_sheet(sheet, format="csv") == [CampaignKey("org-demo", "ws-1", "cmp-1")]
