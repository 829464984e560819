"""``GET .../campaigns`` pages like the API, in every shape the API notes leave open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bulkpatch.simulator import Simulator
from bulkpatch.simulator.population import SUMMARY_FIELDS
from support.sim_client import Api

StartSimulator = Callable[..., Any]


async def _page_by_links(api: Api, key: str, **query: Any) -> tuple[list[str], int]:
    """Every id, following ``next_page_uri``; and the number of pages."""
    answer = await api.list(**query)
    ids: list[str] = []
    pages = 0
    while True:
        pages += 1
        assert answer.status == 200
        ids += [item["campaign_id"] for item in answer.body[key]]
        link = answer.body["next_page_uri"]
        if link is None:
            return ids, pages
        answer = await api.follow(link)


async def _page_by_offset(api: Api, limit: int, items: Callable[[Any], list[Any]]) -> list[str]:
    """Every id, by offset, until a short page."""
    ids: list[str] = []
    offset = 0
    while True:
        answer = await api.list(offset=offset, limit=limit)
        assert answer.status == 200
        page = items(answer.body)
        ids += [item["campaign_id"] for item in page]
        if len(page) < limit:
            return ids
        offset += limit


@pytest.mark.parametrize("shape", ["items", "campaigns", "data", "results"])
async def test_the_list_answers_its_items_under_the_key_chosen(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api], shape: str
) -> None:
    sim = await start_simulator(generate=23, list_shape=shape)
    api = api_for(sim)
    first = await api.list(limit=10)
    assert set(first.body) == {shape, "total", "next_page_uri", "prev_page_uri"}
    assert first.body["total"] == 23
    assert all(tuple(item) == SUMMARY_FIELDS for item in first.body[shape])
    ids, pages = await _page_by_links(api, shape, limit=10)
    assert pages == 3
    assert sorted(ids) == sorted(k.campaign_id for k in sim.state)


async def test_a_bare_list_is_a_json_list_without_total_or_links(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=25, list_shape="bare")
    api = api_for(sim)
    first = await api.list(limit=10)
    assert isinstance(first.body, list)
    assert len(first.body) == 10
    ids = await _page_by_offset(api, 10, lambda body: body)
    assert sorted(ids) == sorted(k.campaign_id for k in sim.state)
    assert (await api.list(limit=101)).status == 422


async def test_absolute_page_links_are_full_urls_that_page_through_everything(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=12, next_page_uri="absolute")
    api = api_for(sim)
    second = await api.list(limit=5, offset=5)
    assert second.body["next_page_uri"].startswith(sim.root_url + "/api/scheduling/v1/orgs/")
    assert "offset=10" in second.body["next_page_uri"]
    assert second.body["prev_page_uri"].startswith(sim.root_url)
    ids, pages = await _page_by_links(api, "items", limit=5)
    assert pages == 3
    assert sorted(ids) == sorted(k.campaign_id for k in sim.state)


async def test_path_page_links_are_server_root_paths_with_the_query(api: Api) -> None:
    answer = await api.list(limit=2, campaign_status="paused", sort_by="name")
    link = answer.body["next_page_uri"]
    assert link.startswith("/api/scheduling/v1/orgs/org-demo/workspaces/ws-demo/campaigns?")
    assert "campaign_status=paused" in link
    assert "sort_by=name" in link


async def test_without_page_links_a_client_pages_by_offset_and_total(
    start_simulator: StartSimulator, api_for: Callable[[Simulator], Api]
) -> None:
    sim = await start_simulator(generate=21, next_page_uri="none", list_shape="results")
    api = api_for(sim)
    first = await api.list(limit=10)
    assert set(first.body) == {"results", "total"}
    assert first.body["total"] == 21
    ids = await _page_by_offset(api, 10, lambda body: body["results"])
    assert len(ids) == 21


@pytest.mark.parametrize(
    ("sort_by", "sort_order"),
    [("name", "asc"), ("name", "desc"), ("updated_at", "asc"), ("campaign_id", "desc")],
)
async def test_the_list_sorts_by_the_field_and_order_asked(
    api: Api, sort_by: str, sort_order: str
) -> None:
    answer = await api.list(limit=100, sort_by=sort_by, sort_order=sort_order)
    values = [(item[sort_by], item["campaign_id"]) for item in answer.body["items"]]
    assert values == sorted(values, reverse=sort_order == "desc")
    assert len(values) == 20


async def test_the_list_searches_names_and_ids_without_regard_to_case(
    api: Api, simulator: Simulator
) -> None:
    first = simulator.state.get(("org-demo", "ws-demo", "cmp-000001"))
    word = first["name"].split()[0].upper()
    by_name = await api.list(limit=100, search=word)
    expected = {
        k.campaign_id
        for k in simulator.state
        if word.lower() in simulator.state.get(k)["name"].lower()
    }
    assert {i["campaign_id"] for i in by_name.body["items"]} == expected
    assert by_name.body["total"] == len(expected) >= 1
    by_id = await api.list(search="CMP-00001")
    assert {i["campaign_id"] for i in by_id.body["items"]} == {
        f"cmp-0000{n}" for n in range(10, 20)
    }


async def test_the_list_of_an_unknown_workspace_is_empty(api: Api) -> None:
    answer = await api.list("org-demo", "ws-none")
    assert answer.body == {"items": [], "total": 0, "next_page_uri": None, "prev_page_uri": None}
