"""The campaigns a sheet names: only its key columns are read."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import polars as pl

from bulkpatch.columns import KEY_COLUMNS
from bulkpatch.models import is_valid_id
from bulkpatch.rows import CampaignKey
from bulkpatch.simulator.config import DEFAULT_ORG, DEFAULT_WORKSPACE

SheetFormat = Literal["csv", "parquet"]


def sheet_format(path: Path, given: str | None = None) -> SheetFormat:
    chosen = (given or path.suffix.lstrip(".")).lower()
    if chosen == "csv":
        return "csv"
    if chosen == "parquet":
        return "parquet"
    raise ValueError(f"{path}: cannot tell the sheet's format; use a .csv or .parquet file")


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
    left out: the client refuses them anyway.
    """
    path = Path(path)
    kind = sheet_format(path, format)
    frame = pl.scan_csv(path, infer_schema=False) if kind == "csv" else pl.scan_parquet(path)
    names = [_clean_header(n) for n in frame.collect_schema().names()]
    frame = frame.rename(dict(zip(frame.collect_schema().names(), names, strict=True)))
    if "campaign_id" not in names:
        raise ValueError(f"{path}: the sheet has no campaign_id column")
    defaults = {
        "org_id": org_id or DEFAULT_ORG,
        "workspace_id": workspace_id or DEFAULT_WORKSPACE,
    }
    columns = [
        (
            pl.col(name).cast(pl.String).str.strip_chars().fill_null("")
            if name in names
            else pl.lit("")
        ).alias(name)
        for name in KEY_COLUMNS
    ]
    rows = frame.select(columns).collect().iter_rows()
    keys: dict[CampaignKey, None] = {}
    # Orgs and workspaces repeat on every row: keep one string object for each.
    for org, ws, cid in rows:
        key = CampaignKey(
            sys.intern(org or defaults["org_id"]),
            sys.intern(ws or defaults["workspace_id"]),
            cid,
        )
        if key not in keys and all(is_valid_id(part) for part in key):
            keys[key] = None
    return list(keys)


def _clean_header(name: str) -> str:
    return name.lstrip("\ufeff").strip()
