"""The campaigns a sheet names, read with the client's own sheet reader (``bulkpatch.sheet``):
only the key columns are looked at."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

from bulkpatch.core.columns import KEY_COLUMNS
from bulkpatch.core.errors import SheetError
from bulkpatch.core.models import is_valid_id
from bulkpatch.core.rows import CampaignKey
from bulkpatch.sheet import SheetKind, open_sheet
from bulkpatch.simulator.config import DEFAULT_ORG, DEFAULT_WORKSPACE

_BATCH_ROWS = 10_000


def keys_from_sheet(
    path: str | Path,
    *,
    org_id: str | None = None,
    workspace_id: str | None = None,
    format: str | None = None,
) -> list[CampaignKey]:
    """Every distinct campaign a sheet names, in sheet order.

    A missing ``org_id`` / ``workspace_id`` column or an empty cell takes ``org_id`` /
    ``workspace_id`` (default ``org-demo`` / ``ws-demo``).  Rows without a usable campaign id are
    left out: the client refuses them anyway.  Raises :class:`~bulkpatch.core.errors.SheetError`
    when the sheet cannot be read or has no ``campaign_id`` column.
    """
    sheet = open_sheet(path, fmt=cast(SheetKind | None, format))
    if "campaign_id" not in sheet.columns:
        raise SheetError(f"{sheet.path}: the sheet has no campaign_id column")
    default_org = sys.intern(org_id or DEFAULT_ORG)
    default_ws = sys.intern(workspace_id or DEFAULT_WORKSPACE)
    org_col, ws_col, id_col = KEY_COLUMNS
    keys: dict[CampaignKey, None] = {}
    # Every column of a batch becomes Python values: smaller batches keep a wide sheet's
    # memory down at little cost in time.
    for _, cells in sheet.iter_rows(_BATCH_ROWS):
        campaign = _text(cells.get(id_col))
        if not campaign:
            continue
        # Orgs and workspaces repeat on every row: keep one string object for each.
        key = CampaignKey(
            sys.intern(_text(cells.get(org_col)) or default_org),
            sys.intern(_text(cells.get(ws_col)) or default_ws),
            campaign,
        )
        if key not in keys and all(is_valid_id(part) for part in key):
            keys[key] = None
    return list(keys)


def _text(cell: Any) -> str:
    """A key cell as text: trimmed; a Parquet number as its digits; empty for none."""
    if cell is None:
        return ""
    return str(cell).strip()
