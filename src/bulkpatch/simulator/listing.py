"""``GET .../campaigns``: the query as the API checks it, and the page in the shape configured.

The query (the API notes): ``offset`` >= 0 (default 0), ``limit`` 1..100 (default 20),
``campaign_status``, ``search`` (in the name or id), ``sort_by`` (``created_at`` by default),
``sort_order`` (``desc`` by default); anything out of range is a FastAPI 422.

The answer's shape is not documented, so every plausible one can be served (``list_shape``,
``next_page_uri`` in the config):

* ``{"items": [...], "total": N, "next_page_uri": ..., "prev_page_uri": ...}`` by default; the
  items may sit under ``campaigns``, ``data`` or ``results`` instead;
* ``bare``: the items as a JSON list, without a total or page links;
* page links as a server-root path with the query (default), a full URL (``absolute``), or left
  out (``none``: a client must page by ``offset`` and ``total``).  A link is null where there is
  no such page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from yarl import URL

from bulkpatch.core.models import CampaignStatus
from bulkpatch.simulator import errors
from bulkpatch.simulator.config import ListShape, PageUriForm
from bulkpatch.simulator.state import MAX_PAGE, SORT_FIELDS

_STATUSES: tuple[str, ...] = tuple(sorted(CampaignStatus.__args__))  # type: ignore[attr-defined]
DEFAULT_LIMIT = 20


@dataclass(frozen=True, slots=True)
class ListQuery:
    offset: int = 0
    limit: int = DEFAULT_LIMIT
    status: str | None = None
    search: str | None = None
    sort_by: str = "created_at"
    sort_order: str = "desc"


def parse_query(query: Mapping[str, str]) -> ListQuery:
    """The list's query, checked as the API does; raises a FastAPI-shaped 422 ``ApiError``."""
    problems: list[dict[str, Any]] = []
    offset = _int_param(query.get("offset"), "offset", 0, 0, None, problems)
    limit = _int_param(query.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_PAGE, problems)
    status = query.get("campaign_status") or None
    if status is not None and status not in _STATUSES:
        problems.append(_enum_error("campaign_status", _STATUSES, status))
    sort_by = query.get("sort_by") or "created_at"
    if sort_by not in SORT_FIELDS:
        problems.append(_enum_error("sort_by", SORT_FIELDS, sort_by))
    sort_order = query.get("sort_order") or "desc"
    if sort_order not in ("asc", "desc"):
        problems.append(_enum_error("sort_order", ("asc", "desc"), sort_order))
    if problems:
        raise errors.unprocessable(problems)
    return ListQuery(offset, limit, status, query.get("search") or None, sort_by, sort_order)


def page_body(
    items: list[dict[str, Any]],
    total: int,
    query: ListQuery,
    url: URL,
    *,
    shape: ListShape = "items",
    links: PageUriForm = "path",
) -> Any:
    """The list's answer.  ``url`` is the request's URL: absolute for ``links="absolute"``, else
    its server-root path with the query."""
    if shape == "bare":
        return items
    body: dict[str, Any] = {shape: items, "total": total}
    if links != "none":
        offset, limit = query.offset, query.limit
        after = offset + limit < total
        body["next_page_uri"] = (
            str(url.update_query(offset=offset + limit, limit=limit)) if after else None
        )
        body["prev_page_uri"] = (
            str(url.update_query(offset=max(0, offset - limit), limit=limit)) if offset else None
        )
    return body


def _enum_error(name: str, allowed: Sequence[str], value: str) -> dict[str, Any]:
    quoted = [f"'{v}'" for v in allowed]
    choices = ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return errors.field_error(("query", name), "Input should be " + choices, "enum", value)


def _int_param(
    raw: str | None,
    name: str,
    default: int,
    minimum: int,
    maximum: int | None,
    problems: list[dict[str, Any]],
) -> int:
    if raw is None or raw == "":
        return default
    loc = ("query", name)
    try:
        value = int(raw)
    except ValueError:
        problems.append(
            errors.field_error(
                loc,
                "Input should be a valid integer, unable to parse string as an integer",
                "int_parsing",
                raw,
            )
        )
        return default
    if value < minimum:
        problems.append(
            errors.field_error(
                loc,
                f"Input should be greater than or equal to {minimum}",
                "greater_than_equal",
                raw,
            )
        )
    elif maximum is not None and value > maximum:
        problems.append(
            errors.field_error(
                loc, f"Input should be less than or equal to {maximum}", "less_than_equal", raw
            )
        )
    return value
