"""Answers a careful client must survive: another campaign's detail, hostile text, huge error
bodies, and the error shapes and codes the API's documentation leaves open."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from bulkpatch.core.rows import CampaignKey
from bulkpatch.simulator import Simulator, generate_campaign
from bulkpatch.simulator.error_bodies import HOSTILE_PREFIXES
from bulkpatch.simulator.population import HOSTILE_DESCRIPTIONS
from support.sim_client import FIRST, Answer, Api

StartSimulator = Callable[..., Any]
GHOST = CampaignKey("org-demo", "ws-demo", "cmp-999999")
MARKUP = ("[/]", "[bold red]x[/bold red]")
CONTROLS = ("\r", "\n", "\x1b[31m")


# --- wrong ids -----------------------------------------------------------------------------------


async def test_a_get_can_answer_another_existing_campaigns_detail(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=5, wrong_id_rate=1.0)
    api = api_for(sim)
    asked = sim.state.keys() * 4
    answers = [await api.get(key) for key in asked]
    assert {a.status for a in answers} == {200}
    for key, answer in zip(asked, answers, strict=True):
        other = CampaignKey(key.org_id, key.workspace_id, answer.body["campaign_id"])
        assert other != key
        assert answer.body == sim.state.get(other)
    assert len({a.body["campaign_id"] for a in answers}) == 5  # every other one shows up
    assert sim.stats()["wrong_id_answers"] == 20


async def test_wrong_ids_repeat_under_the_seed_and_never_touch_changes_or_unknown_campaigns(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    async def ids(seed: int) -> list[str]:
        sim = await start_simulator(generate=6, wrong_id_rate=0.5, seed=seed)
        api = api_for(sim)
        return [(await api.get(FIRST)).body["campaign_id"] for _ in range(30)]

    first, again, other = await ids(3), await ids(3), await ids(4)
    assert first == again
    assert first != other
    assert "cmp-000001" in first
    assert set(first) - {"cmp-000001"}
    sim = await start_simulator(generate=3, wrong_id_rate=1.0, status_weights=(("paused", 1.0),))
    api = api_for(sim)
    assert (await api.patch(FIRST, {"name": "Right one"})).body["campaign_id"] == "cmp-000001"
    assert (await api.get(GHOST)).status == 404
    assert sim.stats()["wrong_id_answers"] == 0


async def test_a_lone_campaign_has_no_other_to_answer_with(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=1, wrong_id_rate=1.0)
    assert (await api_for(sim).get(FIRST)).body["campaign_id"] == "cmp-000001"
    assert sim.stats()["wrong_id_answers"] == 0


async def test_a_wrong_id_may_come_from_another_workspace_when_the_campaign_is_alone_in_its_own(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    lone = CampaignKey("org-b", "ws-b", "cmp-b")
    sim = await start_simulator(campaigns=(lone, ("org-a", "ws-a", "cmp-a")), wrong_id_rate=1.0)
    assert (await api_for(sim).get(lone)).body["campaign_id"] == "cmp-a"


async def test_a_deep_json_fault_answers_gets_and_pages_with_lists_nested_100000_deep(
    start_simulator: StartSimulator, http_session: aiohttp.ClientSession
) -> None:
    sim = await start_simulator(generate=2, deep_json_rate=1.0, status_weights=(("paused", 1.0),))
    deep = b"[" * 100_000 + b"]" * 100_000
    for url in (sim.campaign_url(FIRST), sim.workspace_url("org-demo", "ws-demo") + "/campaigns"):
        async with http_session.get(url, headers=sim.headers) as response:
            assert response.status == 200
            assert response.content_type == "application/json"
            assert await response.read() == deep
    api = Api(sim, http_session)
    assert (await api.get(GHOST)).status == 404  # an unknown campaign is still not found
    assert (await api.patch(FIRST, {"name": "Still fine"})).status == 200
    assert sim.stats()["deep_json_answers"] == 2


# --- hostile text --------------------------------------------------------------------------------


def _messages(answer: Answer) -> list[str]:
    body = answer.body
    if "error" in body:
        return [body["error"]["message"]]
    detail = body["detail"]
    return [detail] if isinstance(detail, str) else [item["msg"] for item in detail]


def _is_hostile(message: str) -> bool:
    return (
        message[:1] in "=+-@"
        and all(m in message for m in MARKUP)
        and all(c in message for c in CONTROLS)
    )


async def test_hostile_error_messages_carry_markup_a_formula_start_and_control_characters(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(
        generate=3,
        status_weights=(("active", 1.0),),
        hostile_text=True,
        forbid=["cmp-000003"],
        rate_limit=8,
    )
    api = api_for(sim)
    answers = [
        await api.get(FIRST, headers={}),  # 401
        await api.get(GHOST),  # 404
        await api.patch(FIRST, {"name": "Too late"}),  # 409
        await api.patch(FIRST, {"name": "bad/name"}),  # 422, a list of problems
        await api.list(limit=0),  # 422
        await api.get(CampaignKey("org-demo", "ws-demo", "cmp-000003")),  # 403
        await api.put_status(FIRST, "resume"),  # 409
    ]
    answers += [await api.get(FIRST) for _ in range(3)]  # 200, then 429s
    errors = [a for a in answers if a.status >= 400]
    assert {a.status for a in errors} == {401, 403, 404, 409, 422, 429}
    messages = [m for a in errors for m in _messages(a)]
    assert all(_is_hostile(m) for m in messages), messages
    assert {m[0] for m in messages} == {"=", "+", "-", "@"}
    assert any(m.startswith('=HYPERLINK("https://example.invalid","x")') for m in messages)
    assert "Campaign not found" in _messages(answers[1])[0]


async def test_hostile_5xx_pages_and_bodies_carry_the_hostile_text_too(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=1, hostile_text=True, fail_rate=1.0)
    api = api_for(sim)
    answers = [await api.get(FIRST) for _ in range(12)]
    pages = [a.text for a in answers if a.body is None]
    bodies = [a for a in answers if a.body is not None]
    assert pages
    assert bodies
    assert all("[bold red]x[/bold red]" in p and "\x1b[31m" in p for p in pages)
    assert all(_is_hostile(m) for a in bodies for m in _messages(a))


async def test_hostile_patch_and_put_answers_carry_an_updated_at_starting_with_equals(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=1, status_weights=(("paused", 1.0),), hostile_text=True)
    api = api_for(sim)
    patched = await api.patch(FIRST, {"name": "Hostile"})
    stored = sim.state.get(FIRST)["updated_at"]
    assert patched.body["updated_at"] == "=" + stored
    resumed = await api.put_status(FIRST, "resume")
    assert resumed.body["updated_at"].startswith("=")
    got = await api.get(FIRST)
    assert got.body["updated_at"] == sim.state.get(FIRST)["updated_at"]
    assert not got.body["updated_at"].startswith("=")


def test_hostile_descriptions_hold_markup_or_formulas_and_change_nothing_else() -> None:
    keys = [CampaignKey("o", "w", f"c{n}") for n in range(60)]
    plain = [generate_campaign(k, seed=4) for k in keys]
    hostile = [generate_campaign(k, seed=4, hostile_text=True) for k in keys]
    for before, after in zip(plain, hostile, strict=True):
        assert {**after, "description": None} == {**before, "description": None}
        if before["description"] is None:
            assert after["description"] is None
        else:
            assert len(after["description"]) <= 150
            assert after["description"][:1] in "=+-@" or "[" in after["description"]
    shown = {d["description"] for d in hostile if d["description"]}
    assert any(d.startswith("=HYPERLINK(") for d in shown)
    assert any("[/]" in d for d in shown)
    assert {d[0] for d in shown} == {t[0] for t in HOSTILE_DESCRIPTIONS}


async def test_hostile_text_is_off_by_default(api: Api, simulator: Simulator) -> None:
    answer = await api.get(GHOST)
    assert answer.body == {"detail": "Campaign not found"}
    descriptions = [simulator.state.get(k)["description"] or "" for k in simulator.state]
    assert not any(d.startswith(HOSTILE_PREFIXES) or "[/]" in d for d in descriptions)


# --- error body size -----------------------------------------------------------------------------


async def test_error_bodies_are_padded_to_at_least_the_size_asked_for(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    size = 5_000_000
    sim = await start_simulator(generate=1, error_body_bytes=size, hostile_text=True)
    api = api_for(sim)
    missing = await api.get(GHOST)
    invalid = await api.list(limit=0)
    for answer in (missing, invalid):
        assert len(answer.text.encode()) >= size
        assert len(answer.text.encode()) < size + 1000
    assert _messages(missing)[0].startswith(HOSTILE_PREFIXES)
    assert "Campaign not found" in _messages(missing)[0]
    assert invalid.body["detail"][0]["loc"] == ["query", "limit"]
    assert json.loads(missing.text) == missing.body
    failing = await start_simulator(generate=1, error_body_bytes=size, fail_rate=1.0)
    pages = [await api_for(failing).get(FIRST) for _ in range(6)]
    assert all(len(p.text.encode()) >= size for p in pages)
    assert {p.body is None for p in pages} == {True, False}  # HTML and JSON


async def test_error_bodies_larger_than_asked_are_left_alone(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=1, error_body_bytes=10)
    assert (await api_for(sim).get(GHOST)).body == {"detail": "Campaign not found"}


# --- error shapes and codes ----------------------------------------------------------------------


async def _refusals(sim: Simulator, api: Api) -> list[Answer]:
    return [
        await api.get(FIRST, headers={"X-API-Key": "wrong-fake-key"}),  # 401
        await api.get(CampaignKey("org-demo", "ws-demo", "cmp-000002")),  # 403
        await api.get(GHOST),  # 404
        await api.patch(FIRST, {"name": "Too late"}),  # 409 (active)
        await api.patch(FIRST, {"nmae": "typo"}),  # 422
    ]


async def test_the_sarvam_error_shape_answers_every_4xx_with_a_message_and_a_code(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(
        generate=2, status_weights=(("active", 1.0),), forbid=["cmp-000002"], error_shape="sarvam"
    )
    answers = await _refusals(sim, api_for(sim))
    assert [a.status for a in answers] == [401, 403, 404, 409, 422]
    assert [a.body["error"]["code"] for a in answers] == [
        "unauthorized",
        "forbidden",
        "not_found",
        "conflict",
        "unprocessable_entity",
    ]
    assert all(set(a.body) == {"error"} for a in answers)
    assert answers[2].body["error"]["message"] == "Campaign not found"
    assert "body.nmae" in answers[4].body["error"]["message"]


async def test_the_alternate_error_shape_answers_the_two_shapes_in_turn(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(
        generate=2,
        status_weights=(("active", 1.0),),
        forbid=["cmp-000002"],
        error_shape="alternate",
    )
    answers = await _refusals(sim, api_for(sim))
    assert [next(iter(a.body)) for a in answers] == ["detail", "error", "detail", "error", "detail"]
    assert answers[4].body["detail"][0]["loc"] == ["body", "nmae"]


@pytest.mark.parametrize("shape", ["detail", "sarvam", "alternate"])
async def test_a_429_keeps_the_gateways_error_shape_whatever_the_4xx_shape(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api], shape: str
) -> None:
    sim = await start_simulator(generate=1, rate_limit=1, error_shape=shape)
    api = api_for(sim)
    await api.get(FIRST)
    limited = await api.get(FIRST)
    assert limited.status == 429
    assert limited.body["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize("status", [400, 409, 422])
async def test_the_not_editable_status_can_be_400_409_or_422(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api], status: int
) -> None:
    sim = await start_simulator(
        generate=1, status_weights=(("active", 1.0),), not_editable_status=status
    )
    answer = await api_for(sim).patch(FIRST, {"name": "Too late"})
    assert answer.status == status
    assert answer.body == {
        "detail": "Campaign can only be updated when status is paused or scheduled "
        "(current: active)"
    }
    assert sim.stats()["patches_applied_total"] == 0
