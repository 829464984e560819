"""Paging ``GET .../campaigns``: reading a page in any shape the API may use, and its next link.

The list's answer is not documented beyond "it carries ``total``, ``next_page_uri`` and
``prev_page_uri``".  So a page is read whatever its shape (:func:`read_page`): a bare JSON list,
or an object holding the items under ``items``, ``campaigns``, ``data`` or ``results``.

The next page is the ``next_page_uri`` when the page has one, else the next ``offset``.  A link
is followed only when it stays on the API (:func:`follow_link`): the same scheme, host and port
as ``--base-url``, under its path, and naming the same workspace's campaign list -- the key goes
with every request, so it must never be sent anywhere else.  A server-root path
(``/api/scheduling/v1/...``), a full URL and a relative link are all resolved against the
request they came with; a path that starts at ``/v1/`` is taken to be relative to the API's root
(an assumption: a service behind a path prefix may not know its prefix).

Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from bulkpatch.core.models import is_valid_id
from bulkpatch.core.urls import workspace_path

#: Where a list object may keep its items, in the order they are looked for.
ITEM_KEYS = ("items", "campaigns", "data", "results")
#: The most the API serves a page (the API notes).
PAGE_LIMIT = 100
#: Pages read at most in one listing: a hundred million campaigns, never a loop for ever.
MAX_PAGES = 1_000_000
#: The order asked for: oldest first, so campaigns created while the export pages land at the
#: end instead of shifting the pages still to come.
SORT = {"sort_by": "created_at", "sort_order": "asc"}
_PORTS = {"http": 80, "https": 443}


class PageError(ValueError):
    """A list answer bulkpatch cannot read."""


class LinkRefused(ValueError):
    """A ``next_page_uri`` that leads off the API: it is not followed."""


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    #: The number of campaigns that match, when the page says.
    total: int | None
    #: The page's ``next_page_uri`` when it has one (text, not empty).
    next_link: str | None


def read_page(body: Any) -> Page:
    """A page of the list, whatever its shape; :class:`PageError` when it holds no list."""
    if isinstance(body, list):
        items, total, link = body, None, None
    elif isinstance(body, Mapping):
        found = next((body[k] for k in ITEM_KEYS if isinstance(body.get(k), list)), None)
        if found is None:
            keys = ", ".join(sorted(str(k) for k in body)[:10]) or "none"
            raise PageError(
                "the list's answer holds no list of campaigns under "
                f"{', '.join(ITEM_KEYS)} (its keys: {keys})"
            )
        items = found
        raw_total = body.get("total")
        total = (
            raw_total
            if isinstance(raw_total, int) and not isinstance(raw_total, bool) and raw_total >= 0
            else None
        )
        raw_link = body.get("next_page_uri")
        link = raw_link.strip() if isinstance(raw_link, str) and raw_link.strip() else None
    else:
        raise PageError("the list's answer is neither a JSON list nor an object")
    for item in items:
        cid = item.get("campaign_id") if isinstance(item, Mapping) else None
        if not isinstance(cid, str) or not is_valid_id(cid):
            raise PageError(
                "an item of the list has no campaign_id bulkpatch can use "
                f"({str(cid)[:60]!r}); the list cannot be read"
            )
    return Page(items=[dict(i) for i in items], total=total, next_link=link)


def list_query(
    *, offset: int, status: str | None = None, search: str | None = None
) -> dict[str, str]:
    """The query of a page asked for by offset."""
    query = {"offset": str(offset), "limit": str(PAGE_LIMIT), **SORT}
    if status:
        query["campaign_status"] = status
    if search:
        query["search"] = search
    return query


def list_path(org: str, workspace: str, query: Mapping[str, str]) -> str:
    """The API-relative path and query of a list page."""
    return f"{workspace_path(org, workspace)}/campaigns?{urlencode(query)}"


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else _PORTS.get(scheme)


def follow_link(link: str, *, base_url: str, current: str, org: str, workspace: str) -> str:
    """The API-relative path and query to request for ``link`` (a ``next_page_uri``), found
    in the answer to the API-relative ``current``.  :class:`LinkRefused` when the link leads
    anywhere but this workspace's campaign list on this API."""
    base = urlsplit(base_url)
    try:
        target = urlsplit(urljoin(base_url.rstrip("/") + current, link))
        target_port = target.port
    except ValueError as exc:
        raise LinkRefused(f"it cannot be read as a URL ({exc})") from None
    if target.scheme != base.scheme:
        raise LinkRefused(f"its scheme is {target.scheme or 'missing'}, not {base.scheme}")
    if (target.hostname or "").lower() != (base.hostname or "").lower() or _port(
        target.scheme, target_port
    ) != _port(base.scheme, base.port):
        raise LinkRefused(f"it points at another host ({target.netloc}), not {base.netloc}")
    if target.username or target.password:
        raise LinkRefused("it carries credentials")
    root = base.path.rstrip("/")
    path = target.path
    if root and path.startswith(root + "/"):
        relative = path[len(root) :]
    elif path.startswith("/v1/"):
        relative = path
    else:
        raise LinkRefused(f"its path {path[:120]!r} is outside the API ({root or '/'})")
    if relative.rstrip("/") != f"{workspace_path(org, workspace)}/campaigns":
        raise LinkRefused(f"its path {path[:120]!r} is not this workspace's campaign list")
    return relative + (f"?{target.query}" if target.query else "")
