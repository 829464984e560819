"""Paging the campaign list: every page shape is read; a next link is followed only on the API."""

from __future__ import annotations

from typing import Any

import pytest

from bulkpatch.transport.paging import (
    PAGE_LIMIT,
    LinkRefused,
    PageError,
    follow_link,
    list_path,
    list_query,
    read_page,
)

ITEMS = [{"campaign_id": "c1", "name": "One"}, {"campaign_id": "c2", "name": "Two"}]
BASE = "https://api.example.com/api/scheduling"
CAMPAIGNS = "/v1/orgs/org-a/workspaces/ws-1/campaigns"
CURRENT = f"{CAMPAIGNS}?offset=0&limit=100"


@pytest.mark.parametrize("key", ["items", "campaigns", "data", "results"])
def test_a_page_is_read_whichever_key_holds_its_items(key: str) -> None:
    page = read_page({key: ITEMS, "total": 7, "next_page_uri": "/x?offset=2"})
    assert [i["campaign_id"] for i in page.items] == ["c1", "c2"]
    assert page.total == 7
    assert page.next_link == "/x?offset=2"


def test_a_bare_list_is_a_page_without_total_or_link() -> None:
    page = read_page(ITEMS)
    assert len(page.items) == 2
    assert page.total is None
    assert page.next_link is None


@pytest.mark.parametrize(
    ("extra", "total", "link"),
    [
        ({"total": True, "next_page_uri": None}, None, None),
        ({"total": -3, "next_page_uri": ""}, None, None),
        ({"total": "12", "next_page_uri": "  "}, None, None),
    ],
)
def test_a_total_or_link_that_is_not_usable_is_ignored(
    extra: dict[str, Any], total: int | None, link: str | None
) -> None:
    page = read_page({"items": ITEMS, **extra})
    assert (page.total, page.next_link) == (total, link)


@pytest.mark.parametrize(
    "body",
    [
        {"campaigns_list": ITEMS},
        "a text",
        [{"name": "no id"}],
        [{"campaign_id": "../../admin"}],
        [["c1"]],
    ],
    ids=["unknown-key", "text", "no-id", "bad-id", "not-objects"],
)
def test_a_page_bulkpatch_cannot_read_is_an_error_that_says_why(body: Any) -> None:
    with pytest.raises(PageError):
        read_page(body)


def test_a_page_by_offset_asks_for_a_full_page_oldest_first_with_the_filters() -> None:
    query = list_query(offset=200, status="paused", search="Diwali sale")
    assert query == {
        "offset": "200",
        "limit": str(PAGE_LIMIT),
        "sort_by": "created_at",
        "sort_order": "asc",
        "campaign_status": "paused",
        "search": "Diwali sale",
    }
    assert list_path("org-a", "ws-1", query).startswith(CAMPAIGNS + "?offset=200&limit=100")


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (f"/api/scheduling{CAMPAIGNS}?offset=100&limit=100", f"{CAMPAIGNS}?offset=100&limit=100"),
        (f"{BASE}{CAMPAIGNS}?offset=100", f"{CAMPAIGNS}?offset=100"),
        (f"https://API.example.com:443/api/scheduling{CAMPAIGNS}?o=1", f"{CAMPAIGNS}?o=1"),
        (f"{CAMPAIGNS}?offset=100", f"{CAMPAIGNS}?offset=100"),
        ("campaigns?offset=100", f"{CAMPAIGNS}?offset=100"),
        ("?offset=100&limit=100", f"{CAMPAIGNS}?offset=100&limit=100"),
    ],
    ids=["server-root", "absolute", "same-origin-spelt-out", "api-root", "relative", "query"],
)
def test_a_next_link_on_the_api_is_followed_as_an_api_path(link: str, expected: str) -> None:
    assert (
        follow_link(link, base_url=BASE, current=CURRENT, org="org-a", workspace="ws-1") == expected
    )


@pytest.mark.parametrize(
    ("link", "why"),
    [
        (f"https://evil.example.net/api/scheduling{CAMPAIGNS}?offset=100", "another host"),
        (f"https://api.example.com:8443/api/scheduling{CAMPAIGNS}", "another host"),
        (f"http://api.example.com/api/scheduling{CAMPAIGNS}", "scheme"),
        (f"//evil.example.net/api/scheduling{CAMPAIGNS}", "another host"),
        (f"https://user:pw@api.example.com/api/scheduling{CAMPAIGNS}", "credentials"),
        ("/admin/export?all=1", "outside the API"),
        ("/api/scheduling/v1/orgs/org-b/workspaces/ws-1/campaigns", "not this workspace"),
        (f"/api/scheduling{CAMPAIGNS}/c1", "not this workspace"),
        ("https://[::1/x", "cannot be read"),
    ],
    ids=[
        "host",
        "port",
        "scheme",
        "scheme-relative",
        "userinfo",
        "outside",
        "other-org",
        "a-campaign",
        "garbage",
    ],
)
def test_a_next_link_that_leaves_the_api_is_refused_with_the_reason(link: str, why: str) -> None:
    with pytest.raises(LinkRefused, match=why):
        follow_link(link, base_url=BASE, current=CURRENT, org="org-a", workspace="ws-1")
