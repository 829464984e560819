"""The simulator behaves as the Scheduling API notes describe, over real HTTP on loopback."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bulkpatch.core.models import CampaignDetail, CampaignSummary
from bulkpatch.simulator import CampaignKey, Simulator, SimulatorConfig, SimulatorState
from bulkpatch.simulator.errors import NOT_EDITABLE_STATUS
from bulkpatch.simulator.population import SUMMARY_FIELDS
from support.sim_client import FIRST, Api

SCHEDULE = {
    "allowed_start_time": "10:00",
    "allowed_end_time": "19:00",
    "allowed_days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
    "timezone": "Asia/Kolkata",
}
APP_CONFIG = {
    "app_version": 7,
    "attempts_per_second": 12.5,
    "connection_configs": [
        {"connection_id": "conn-new", "phone_numbers": ["+919812345678"], "weight": 2}
    ],
    "retry_config": {"max_retries": 4, "retry_interval_minutes": [5, 10, 20, 40]},
}


def _with_status(sim: Simulator, status: str, key: CampaignKey = FIRST) -> CampaignKey:
    sim.state.update(key, {"status": status})
    return key


def _start(sim: Simulator, key: CampaignKey = FIRST) -> datetime:
    return datetime.fromisoformat(sim.state.get(key)["start_timestamp"])


# --- GET -----------------------------------------------------------------------------------------


async def test_get_answers_the_full_detail_of_the_stored_campaign(
    api: Api, simulator: Simulator
) -> None:
    answer = await api.get(FIRST)
    assert answer.status == 200
    assert answer.body == simulator.state.get(FIRST)
    detail = CampaignDetail.model_validate(answer.body)
    assert detail.app_config["app_id"] == detail.app_id
    assert detail.app_config["app_type"] == detail.app_type
    assert detail.allowed_schedule is not None
    assert detail.end_timestamp is not None


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT"])
async def test_an_unknown_campaign_is_404_campaign_not_found(api: Api, method: str) -> None:
    ghost = CampaignKey("org-demo", "ws-demo", "cmp-999999")
    if method == "GET":
        answer = await api.get(ghost)
    elif method == "PATCH":
        answer = await api.patch(ghost, {"name": "x"})
    else:
        answer = await api.put_status(ghost, "pause")
    assert answer.status == 404
    assert answer.body == {"detail": "Campaign not found"}


async def test_a_campaign_in_another_workspace_is_not_found(api: Api) -> None:
    answer = await api.get(CampaignKey("org-demo", "ws-other", FIRST.campaign_id))
    assert answer.status == 404


# --- auth ----------------------------------------------------------------------------------------


async def test_a_request_without_an_api_key_is_refused_with_401(api: Api) -> None:
    answer = await api.get(FIRST, headers={})
    assert answer.status == 401
    assert "API key" in answer.body["detail"]


async def test_a_patch_with_a_wrong_api_key_is_refused_with_401_and_changes_nothing(
    api: Api, simulator: Simulator
) -> None:
    _with_status(simulator, "paused")
    before = simulator.state.get(FIRST)
    answer = await api.patch(FIRST, {"name": "Sneaky"}, headers={"X-API-Key": "not-the-key"})
    assert answer.status == 401
    assert simulator.state.get(FIRST) == before


async def test_an_extra_api_key_is_accepted(start_simulator: Any, api_for: Any) -> None:
    sim = await start_simulator(generate=1, extra_api_keys=("second-fake-key",))
    answer = await api_for(sim).get(FIRST, headers={"X-API-Key": "second-fake-key"})
    assert answer.status == 200


# --- PATCH: the status gate ----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["paused", "scheduled"])
async def test_a_patch_to_a_paused_or_scheduled_campaign_is_applied(
    api: Api, simulator: Simulator, status: str
) -> None:
    _with_status(simulator, status)
    answer = await api.patch(FIRST, {"name": "Renamed campaign", "description": "new words"})
    assert answer.status == 200
    stored = simulator.state.get(FIRST)
    assert stored["name"] == "Renamed campaign"
    assert stored["description"] == "new words"
    assert stored["status"] == status


@pytest.mark.parametrize("status", ["active", "ended", "cancelled"])
async def test_a_patch_to_an_active_ended_or_cancelled_campaign_is_refused_with_409(
    api: Api, simulator: Simulator, status: str
) -> None:
    _with_status(simulator, status)
    before = simulator.state.get(FIRST)
    answer = await api.patch(FIRST, {"name": "Too late"})
    assert answer.status == NOT_EDITABLE_STATUS == 409
    assert answer.body == {
        "detail": "Campaign can only be updated when status is paused or scheduled "
        f"(current: {status})"
    }
    assert simulator.state.get(FIRST) == before


# --- PATCH: the answer ---------------------------------------------------------------------------


async def test_a_patch_answers_the_summary_with_a_later_updated_at_and_updated_by(
    api: Api, simulator: Simulator
) -> None:
    _with_status(simulator, "paused")
    before = simulator.state.get(FIRST)
    answer = await api.patch(FIRST, {"name": "Summary please"})
    assert answer.status == 200
    assert tuple(answer.body) == SUMMARY_FIELDS
    summary = CampaignSummary.model_validate(answer.body)
    assert summary.updated_at > datetime.fromisoformat(before["updated_at"])
    assert summary.updated_by is not None
    assert summary.updated_by != before["updated_by"]
    assert "sim-key" not in summary.updated_by
    assert answer.body["updated_at"] == simulator.state.get(FIRST)["updated_at"]


async def test_updated_at_strictly_increases_across_rapid_patches(simulator: Simulator) -> None:
    _with_status(simulator, "paused")
    stamps = [
        simulator.state.apply_patch(FIRST, b'{"description": "again"}', "tester")["updated_at"]
        for _ in range(300)
    ]
    moments = [datetime.fromisoformat(s) for s in stamps]
    assert all(a < b for a, b in itertools.pairwise(moments))


def test_updated_at_strictly_increases_even_when_the_clock_stands_still() -> None:
    frozen = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    state = SimulatorState(
        SimulatorConfig(
            generate=2,
            status_weights=(("paused", 1.0),),
            anchor=frozen - timedelta(days=1),
        ),
        wall_clock=lambda: frozen,
    )
    second = CampaignKey("org-demo", "ws-demo", "cmp-000002")
    stamps = [state.apply_patch(key, b"{}", "tester")["updated_at"] for key in (FIRST, second) * 3]
    moments = [datetime.fromisoformat(s) for s in stamps]
    assert all(a < b for a, b in itertools.pairwise(moments))
    assert moments[0] == frozen


async def test_a_get_after_a_patch_shows_the_new_values(api: Api, simulator: Simulator) -> None:
    _with_status(simulator, "scheduled")
    await api.patch(FIRST, {"allowed_schedule": SCHEDULE})
    assert (await api.get(FIRST)).body["allowed_schedule"] == SCHEDULE


# --- PATCH: full replacement ---------------------------------------------------------------------


async def test_a_partial_allowed_schedule_is_refused_with_a_fastapi_422(
    api: Api, simulator: Simulator
) -> None:
    _with_status(simulator, "paused")
    before = simulator.state.get(FIRST)
    answer = await api.patch(FIRST, {"allowed_schedule": {"allowed_start_time": "10:00"}})
    assert answer.status == 422
    locs = [item["loc"] for item in answer.body["detail"]]
    assert ["body", "allowed_schedule", "allowed_end_time"] in locs
    assert ["body", "allowed_schedule", "allowed_days"] in locs
    assert all({"loc", "msg", "type"} <= set(item) for item in answer.body["detail"])
    assert simulator.state.get(FIRST) == before


async def test_a_partial_app_config_is_refused_with_422(api: Api, simulator: Simulator) -> None:
    _with_status(simulator, "paused")
    answer = await api.patch(FIRST, {"app_config": {"app_version": 3}})
    assert answer.status == 422
    missing = {item["loc"][-1] for item in answer.body["detail"] if item["type"] == "missing"}
    assert missing == {"attempts_per_second", "connection_configs", "retry_config"}


async def test_a_full_allowed_schedule_replaces_the_stored_one_whole(
    api: Api, simulator: Simulator
) -> None:
    simulator.state.update(
        FIRST,
        {"status": "paused", "allowed_schedule.timezone": "Europe/London"},
    )
    sent = {k: v for k, v in SCHEDULE.items() if k != "timezone"}
    answer = await api.patch(FIRST, {"allowed_schedule": sent})
    assert answer.status == 200
    # The stored London zone is gone: the object sent replaced it, with the API's default zone.
    assert simulator.state.get(FIRST)["allowed_schedule"] == {**sent, "timezone": "Asia/Kolkata"}


async def test_a_full_app_config_replaces_the_stored_one_and_keeps_app_id_and_app_type(
    api: Api, simulator: Simulator
) -> None:
    simulator.state.update(
        FIRST,
        {
            "status": "paused",
            "app_config.webhook_config": {"url": "https://hooks.example.com/x", "metadata": {}},
        },
    )
    before = simulator.state.get(FIRST)
    answer = await api.patch(FIRST, {"app_config": APP_CONFIG})
    assert answer.status == 200
    stored = simulator.state.get(FIRST)["app_config"]
    assert stored["app_id"] == before["app_config"]["app_id"]
    assert stored["app_type"] == before["app_config"]["app_type"]
    assert stored["webhook_config"] is None  # not sent, so not kept
    assert stored["connection_configs"] == APP_CONFIG["connection_configs"]
    assert stored["retry_config"]["retry_interval_minutes"] == [5, 10, 20, 40]
    assert answer.body["app_version"] == 7
    assert simulator.state.get(FIRST)["app_version"] == 7


@pytest.mark.parametrize("field", ["app_id", "app_type"])
async def test_changing_app_id_or_app_type_is_refused_with_422(
    api: Api, simulator: Simulator, field: str
) -> None:
    _with_status(simulator, "paused")
    before = simulator.state.get(FIRST)
    other = "workflow" if before["app_type"] == "agent" else "agent"
    value = other if field == "app_type" else "app-someone-else"
    answer = await api.patch(FIRST, {"app_config": {**APP_CONFIG, field: value}})
    assert answer.status == 422
    assert answer.body["detail"][0]["loc"] == ["body", "app_config", field]
    assert "cannot be changed" in answer.body["detail"][0]["msg"]
    assert simulator.state.get(FIRST) == before


async def test_sending_the_stored_app_id_and_app_type_is_accepted(
    api: Api, simulator: Simulator
) -> None:
    _with_status(simulator, "paused")
    current = simulator.state.get(FIRST)["app_config"]
    body = {**APP_CONFIG, "app_id": current["app_id"], "app_type": current["app_type"]}
    assert (await api.patch(FIRST, {"app_config": body})).status == 200


# --- PATCH: end_timestamp bounds -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_start", "status"),
    [
        (timedelta(seconds=119), 422),
        (timedelta(seconds=120), 200),
        (timedelta(days=30), 200),
        (timedelta(days=30, seconds=1), 422),
        (timedelta(seconds=-60), 422),
    ],
)
async def test_end_timestamp_must_stay_within_120_seconds_and_30_days_of_the_start(
    api: Api, simulator: Simulator, after_start: timedelta, status: int
) -> None:
    _with_status(simulator, "paused")
    end = _start(simulator) + after_start
    answer = await api.patch(FIRST, {"end_timestamp": end.isoformat()})
    assert answer.status == status, answer.text
    stored_end = datetime.fromisoformat(simulator.state.get(FIRST)["end_timestamp"])
    if status == 422:
        assert answer.body["detail"][0]["loc"] == ["body", "end_timestamp"]
        assert stored_end != end
    else:
        assert stored_end == end


async def test_an_end_timestamp_with_an_offset_is_stored_in_utc(
    api: Api, simulator: Simulator
) -> None:
    _with_status(simulator, "paused")
    india = timezone(timedelta(hours=5, minutes=30))
    text = (_start(simulator) + timedelta(days=3)).astimezone(india).isoformat()
    assert text.endswith("+05:30")
    answer = await api.patch(FIRST, {"end_timestamp": text})
    assert answer.status == 200
    stored = simulator.state.get(FIRST)["end_timestamp"]
    assert stored.endswith("Z")
    assert datetime.fromisoformat(stored) == datetime.fromisoformat(text)


async def test_a_naive_end_timestamp_is_refused_with_422(api: Api, simulator: Simulator) -> None:
    _with_status(simulator, "paused")
    answer = await api.patch(FIRST, {"end_timestamp": "2026-01-20T10:00:00"})
    assert answer.status == 422
    assert answer.body["detail"][0]["type"] == "timezone_aware"


# --- PATCH: the body -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[]", b"null", b'"name"'])
async def test_a_body_that_is_not_a_json_object_is_refused_with_422(
    api: Api, simulator: Simulator, raw: bytes
) -> None:
    _with_status(simulator, "paused")
    answer = await api.patch(FIRST, data=raw)
    assert answer.status == 422
    assert answer.body["detail"][0]["loc"][0] == "body"


async def test_an_unknown_body_field_is_refused_with_422(api: Api, simulator: Simulator) -> None:
    _with_status(simulator, "paused")
    answer = await api.patch(FIRST, {"nmae": "typo"})
    assert answer.status == 422
    assert answer.body["detail"][0]["loc"] == ["body", "nmae"]


async def test_a_name_breaking_the_field_rules_is_refused_with_422(
    api: Api, simulator: Simulator
) -> None:
    _with_status(simulator, "paused")
    answer = await api.patch(FIRST, {"name": "no/slashes allowed"})
    assert answer.status == 422
    assert answer.body["detail"][0]["loc"] == ["body", "name"]


async def test_json_null_for_a_field_means_no_change(api: Api, simulator: Simulator) -> None:
    _with_status(simulator, "paused")
    before = simulator.state.get(FIRST)
    answer = await api.patch(
        FIRST,
        {"name": None, "app_config": None, "allowed_schedule": None, "description": "only this"},
    )
    assert answer.status == 200
    after = simulator.state.get(FIRST)
    assert after["name"] == before["name"]
    assert after["app_config"] == before["app_config"]
    assert after["allowed_schedule"] == before["allowed_schedule"]
    assert after["description"] == "only this"


# --- PUT status: the lifecycle -------------------------------------------------------------------

TRANSITIONS = {
    ("scheduled", "pause"): "paused",
    ("active", "pause"): "paused",
    ("paused", "resume"): "scheduled",
    ("scheduled", "cancel"): "cancelled",
    ("active", "cancel"): "cancelled",
    ("paused", "cancel"): "cancelled",
}
ALL_PAIRS = [
    (status, action)
    for status in ("scheduled", "active", "paused", "ended", "cancelled")
    for action in ("pause", "resume", "cancel")
]


@pytest.mark.parametrize(("status", "action"), ALL_PAIRS)
async def test_status_changes_follow_the_lifecycle(
    api: Api, simulator: Simulator, status: str, action: str
) -> None:
    _with_status(simulator, status)
    answer = await api.put_status(FIRST, action)
    target = TRANSITIONS.get((status, action))
    if target is None:
        assert answer.status == 409
        assert f"Cannot {action} a campaign whose status is {status}" in answer.body["detail"]
        assert simulator.state.status_of(FIRST) == status
    else:
        assert answer.status == 200
        assert answer.body["status"] == target
        assert simulator.state.status_of(FIRST) == target


async def test_an_unknown_status_action_is_refused_with_422(api: Api, simulator: Simulator) -> None:
    _with_status(simulator, "paused")
    answer = await api.put_status(FIRST, "restart")
    assert answer.status == 422
    assert answer.body["detail"][0]["loc"] == ["body", "action"]


async def test_pause_patch_resume_edits_an_active_campaign(api: Api, simulator: Simulator) -> None:
    _with_status(simulator, "active")
    assert (await api.put_status(FIRST, "pause")).status == 200
    assert (await api.patch(FIRST, {"name": "Edited while paused"})).status == 200
    assert (await api.put_status(FIRST, "resume")).status == 200
    stored = simulator.state.get(FIRST)
    assert (stored["status"], stored["name"]) == ("scheduled", "Edited while paused")


async def test_resume_beyond_the_orgs_live_limit_is_refused(
    start_simulator: Callable[..., Any], api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=3, status_weights=(("paused", 1.0),), live_limit_per_org=1)
    api = api_for(sim)
    second = CampaignKey("org-demo", "ws-demo", "cmp-000002")
    assert (await api.put_status(FIRST, "resume")).status == 200
    answer = await api.put_status(second, "resume")
    assert answer.status == 409
    assert "limit: 1" in answer.body["detail"]
    assert sim.state.status_of(second) == "paused"


# --- GET /campaigns: paging ----------------------------------------------------------------------


async def test_the_list_pages_through_every_campaign_exactly_once(
    api: Api, simulator: Simulator
) -> None:
    seen: list[str] = []
    answer = await api.list(limit=6)
    pages = 0
    while True:
        pages += 1
        assert answer.status == 200
        assert answer.body["total"] == 20
        seen += [item["campaign_id"] for item in answer.body["items"]]
        next_uri = answer.body["next_page_uri"]
        if next_uri is None:
            break
        async with api.session.get(simulator.root_url + next_uri, headers=simulator.headers) as r:
            answer = type(answer)(r.status, await r.json(), "")
    assert pages == 4
    assert sorted(seen) == sorted(key.campaign_id for key in simulator.state)
    assert all(tuple(item) == SUMMARY_FIELDS for item in answer.body["items"])


async def test_the_last_page_has_no_next_page(api: Api) -> None:
    last = await api.list(limit=10, offset=10)
    assert len(last.body["items"]) == 10
    assert last.body["next_page_uri"] is None
    assert "offset=0" in last.body["prev_page_uri"]


async def test_the_list_links_the_previous_page(api: Api) -> None:
    first = await api.list(limit=5)
    second = await api.list(limit=5, offset=5)
    assert first.body["prev_page_uri"] is None
    assert "offset=0" in second.body["prev_page_uri"]
    assert "offset=10" in second.body["next_page_uri"]
    ids_first = {i["campaign_id"] for i in first.body["items"]}
    ids_second = {i["campaign_id"] for i in second.body["items"]}
    assert not ids_first & ids_second


async def test_the_list_filters_by_campaign_status(api: Api, simulator: Simulator) -> None:
    for key in simulator.state.keys()[:4]:
        _with_status(simulator, "cancelled", key)
    expected = sum(simulator.state.status_of(k) == "cancelled" for k in simulator.state)
    answer = await api.list(campaign_status="cancelled", limit=100)
    assert answer.body["total"] == expected >= 4
    assert {item["status"] for item in answer.body["items"]} == {"cancelled"}


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"limit": "many"}, "limit"),
        ({"campaign_status": "running"}, "campaign_status"),
    ],
)
async def test_a_bad_list_query_is_refused_with_422(
    api: Api, query: dict[str, Any], where: str
) -> None:
    answer = await api.list(**query)
    assert answer.status == 422
    assert answer.body["detail"][0]["loc"] == ["query", where]


async def test_a_limit_of_100_is_allowed(start_simulator: Any, api_for: Any) -> None:
    sim = await start_simulator(generate=150)
    answer = await api_for(sim).list(limit=100)
    assert answer.status == 200
    assert len(answer.body["items"]) == 100
    assert answer.body["total"] == 150
