"""``bulkpatch export``: the live campaigns of a workspace as a sheet to edit and feed back.

    summary = await export_campaigns_async(
        "live.csv", org="org-a", workspace="ws-1", statuses=("paused", "scheduled"),
        where=(parse_where("allowed_schedule.timezone=Asia/Kolkata"),), options=options)

It pages the list (``paging.py``), GETs each campaign's detail at the run's rate with the run's
retries, breaker and key guard (``reading.py``), keeps those that match ``--status`` and every
``--where`` (``filters.py``), and writes one row per campaign:

* ``org_id``, ``workspace_id``, ``campaign_id``; ``#status`` (and ``#name`` when ``name`` is not
  a chosen column), notes a run ignores;
* the chosen change columns, holding the campaign's **current** values as cells the sheet
  grammar reads back exactly (``sheetcells.py``), so that the untouched sheet runs as all
  ``unchanged`` and an edited one changes only what was edited;
* ``expect.updated_at`` and an ``expect.<column>`` copy of each chosen column: a campaign anyone
  changes between the export and the run is ``skipped`` as stale, never overwritten.

The sheet is written whole or not at all (CSV, Parquet or ``.xlsx`` by extension, mode 0600).
An export that is stopped (a refused key, an outage, Ctrl-C) writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import SheetError, UsageError
from bulkpatch.core.events import EventSink, Notice, RunStarted, ignore
from bulkpatch.core.loop import sync
from bulkpatch.core.models import is_valid_id
from bulkpatch.core.options import RunOptions
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.stopper import Stopper
from bulkpatch.core.summary import RunSummary, exit_code_for
from bulkpatch.core.text import shorten
from bulkpatch.core.timing import REAL, Timing
from bulkpatch.engine.apireads import Reader, read_all, reading, simulated
from bulkpatch.ops.exportrows import campaign_row, check_columns, header, value_cells
from bulkpatch.ops.observe import watched
from bulkpatch.sheet import sheet_kind, write_table
from bulkpatch.transport.paging import (
    MAX_PAGES,
    LinkRefused,
    Page,
    PageError,
    follow_link,
    list_path,
    list_query,
    read_page,
)
from bulkpatch.transport.replies import Kind
from bulkpatch.transport.retries import Sent
from bulkpatch.validation.cellvalues import is_formula
from bulkpatch.validation.where import Condition, matches_all, parse_where

#: The change columns exported when ``--columns`` is not given: a campaign's schedule and the
#: agent's version and pace (fields every campaign holds).
DEFAULT_COLUMNS: tuple[str, ...] = (
    "name",
    "end_timestamp",
    "allowed_schedule.allowed_start_time",
    "allowed_schedule.allowed_end_time",
    "allowed_schedule.allowed_days",
    "allowed_schedule.timezone",
    "app_config.app_version",
    "app_config.attempts_per_second",
)
#: Campaigns the simulator of ``export --simulate`` holds.
SIMULATED_CAMPAIGNS = 100
STATUSES = ("paused", "scheduled", "active", "ended", "cancelled")
#: Campaigns named in a message at most.
NAMED = 10


def where_conditions(texts: Sequence[str]) -> list[Condition]:
    """``--where`` texts as conditions; ``ValueError`` says which one cannot be read and why."""
    return [parse_where(text) for text in texts]


class _Tally:
    """What the export saw, for the summary."""

    def __init__(self) -> None:
        self.listed = 0
        self.total_hint = 0
        self.read = 0
        self.gone = 0
        self.filtered = 0
        self.unreadable: list[str] = []
        self.rows: list[list[Any]] = []
        self.empty_values = 0
        self.blank_rows = 0
        self.blank_ids: list[str] = []
        self.formula_cells = 0


async def _pages(
    reader: Reader,
    org: str,
    workspace: str,
    status: str | None,
    search: str | None,
    seen: set[str],
    tally: _Tally,
) -> AsyncIterator[Page]:
    """The list's pages, by ``next_page_uri`` when it stays on the API, else by offset."""
    emit = reader.emit_notice
    offset = 0
    current = list_path(org, workspace, list_query(offset=0, status=status, search=search))
    followed: set[str] = set()
    refused = False
    for _ in range(MAX_PAGES):
        sent = await reader.list_page(org, workspace, current)
        if not sent.reply.ok:
            if not reader.control.stopping:
                reader.control.stop(f"listing the campaigns failed: {sent.reply.describe()}")
            return
        try:
            page = read_page(sent.reply.data)
        except PageError as exc:
            reader.control.stop(str(exc))
            return
        if not page.items:
            return
        fresh = [i for i in page.items if i["campaign_id"] not in seen]
        if offset == 0 and page.total is not None:
            tally.total_hint += page.total
        yield page
        offset += len(page.items)
        if not fresh:
            emit(
                "warning",
                "the list answered a page of campaigns already listed; stopping the listing "
                "there (the API may ignore `offset`)",
                "list_repeats",
            )
            return
        if page.next_link is not None and not refused:
            try:
                link = follow_link(
                    page.next_link,
                    base_url=reader.base_url,
                    current=current,
                    org=org,
                    workspace=workspace,
                )
            except LinkRefused as exc:
                refused = True
                emit(
                    "warning",
                    f"not following the list's next_page_uri {shorten(page.next_link, 120)!r}: "
                    f"{exc}; the API key is only ever sent to {reader.base_url}. Paging by "
                    "offset instead",
                    "next_link_refused",
                )
            else:
                if link in followed:
                    emit("warning", "the list links back to a page already read", "list_loop")
                    return
                followed.add(link)
                current = link
                continue
        if page.total is not None and offset >= page.total:
            return
        current = list_path(org, workspace, list_query(offset=offset, status=status, search=search))
    emit("warning", f"stopped listing after {MAX_PAGES:,} pages", "list_pages")


async def _export(
    reader: Reader,
    org: str,
    workspace: str,
    statuses: tuple[str, ...],
    search: str | None,
    where: tuple[Condition, ...],
    columns: tuple[str, ...],
    tally: _Tally,
) -> None:
    seen: set[str] = set()
    reader.progress = lambda: (tally.read, max(tally.total_hint, tally.listed))
    for status in statuses or (None,):
        async for page in _pages(reader, org, workspace, status, search, seen, tally):
            ids = [i["campaign_id"] for i in page.items if i["campaign_id"] not in seen]
            ids = list(dict.fromkeys(ids))
            seen.update(ids)
            tally.listed += len(ids)
            details = await _read_details(reader, org, workspace, ids, tally)
            if reader.control.stopping:
                return
            for cid in ids:
                key = CampaignKey(org, workspace, cid)
                _take(key, details[cid], statuses, where, columns, tally)


async def _read_details(
    reader: Reader, org: str, workspace: str, ids: list[str], tally: _Tally
) -> dict[str, Sent]:
    details: dict[str, Sent] = {}

    def keep(cid: str, sent: Sent) -> None:
        details[cid] = sent
        tally.read += 1

    await read_all(reader, ids, lambda cid: CampaignKey(org, workspace, cid), keep)
    return details


def _take(
    key: CampaignKey,
    sent: Sent,
    statuses: tuple[str, ...],
    where: tuple[Condition, ...],
    columns: tuple[str, ...],
    tally: _Tally,
) -> None:
    reply = sent.reply
    detail = reply.data
    if reply.kind is Kind.NOT_FOUND:
        tally.gone += 1
        return
    if not reply.ok or not isinstance(detail, dict):
        why = reply.describe() if not reply.ok else "not a campaign"
        tally.unreadable.append(f"{key.campaign_id} ({why})")
        return
    if detail.get("campaign_id") not in (None, key.campaign_id):
        tally.unreadable.append(f"{key.campaign_id} (the API answered with another campaign)")
        return
    if statuses and detail.get("status") not in statuses:
        tally.filtered += 1
        return
    if not matches_all(where, detail):
        tally.filtered += 1
        return
    values = value_cells(detail, columns)
    row = campaign_row(key, detail, columns, values)
    missing = sum(1 for v in values if v is None)
    if missing == len(columns):
        # Nothing to run: a row that changes nothing is refused by `run`, so the untouched
        # sheet would not run. Left out, and named.
        tally.blank_rows += 1
        tally.blank_ids.append(key.campaign_id)
        return
    tally.empty_values += missing
    tally.formula_cells += sum(1 for v in row if isinstance(v, str) and is_formula(v))
    tally.rows.append(row)


@watched("export")  # logging, and OpenTelemetry when it is on
async def export_campaigns_async(
    out: str | os.PathLike[str],
    *,
    org: str,
    workspace: str,
    statuses: Sequence[str] = (),
    search: str | None = None,
    where: Sequence[Condition] = (),
    columns: Sequence[str] | None = None,
    options: RunOptions | None = None,
    on_event: EventSink = ignore,
    stopper: Stopper | None = None,
    api_key: str | None = None,
    timing: Timing = REAL,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> RunSummary:
    """Export the campaigns of ``org``/``workspace`` that match to the sheet ``out``.

    The summary's ``run_dir`` is the sheet written; ``data`` holds the counts.  Exit codes:
    0 written, every listed campaign read; 1 written, but some campaigns could not be read
    (left out, named in a notice); 3 stopped (a refused key, an outage, Ctrl-C): nothing written.
    """
    options = options or RunOptions()
    target = Path(out)
    try:
        sheet_kind(target)  # a known extension, before anything is sent
    except SheetError:
        raise UsageError(
            f"{target.name}: the exported sheet's name must end in .csv, .parquet or .xlsx "
            "(export writes the format its name says)"
        ) from None
    if not target.parent.is_dir():
        raise UsageError(f"{target.parent} is not a directory: the sheet cannot be written there")
    for name, value in (("--org", org), ("--workspace", workspace)):
        if not is_valid_id(value):
            raise UsageError(f"{name} {value!r} is not a valid id ([A-Za-z0-9_-], 1-128)")
    wanted = tuple(dict.fromkeys(s.strip() for s in statuses if s.strip()))
    for status in wanted:
        if status not in STATUSES:
            raise UsageError(f"--status {status!r} is not one of {', '.join(STATUSES)}")
    chosen = check_columns(columns if columns is not None else DEFAULT_COLUMNS)
    conditions = tuple(where)
    started = datetime.now(UTC)
    simulator = None
    if options.simulate:
        simulator = simulated(options, org=org, workspace=workspace, generate=SIMULATED_CAMPAIGNS)
    tally = _Tally()
    sources = reading(
        options, simulator, api_key=api_key, timing=timing, on_event=on_event, stopper=stopper
    )
    async with sources as reader:
        on_event(
            RunStarted(
                run_dir=target,
                mode="export",
                rows=0,
                resumed=False,
                target_rate=options.rate,
                simulated=options.simulate,
            )
        )
        async with reader.open():
            await reader.guarded(
                lambda: _export(reader, org, workspace, wanted, search, conditions, chosen, tally)
            )
    return _finish(target, reader, tally, chosen, conditions, wanted, search, started, on_event)


def _finish(
    target: Path,
    reader: Reader,
    tally: _Tally,
    columns: tuple[str, ...],
    where: tuple[Condition, ...],
    statuses: tuple[str, ...],
    search: str | None,
    started: datetime,
    on_event: EventSink,
) -> RunSummary:
    control = reader.control
    written = False
    code = exit_code_for({}, aborted=control.stopping, mismatches=len(tally.unreadable))
    if control.stopping:
        on_event(
            Notice(
                "error",
                f"the export stopped ({control.stop_reason}); nothing was written to {target}",
                "export_stopped",
            )
        )
    else:
        write_table(target, header(columns), tally.rows)
        written = True
        _warnings(target, tally, on_event)
    counts = {
        "exported": len(tally.rows) if written else 0,
        "listed": tally.listed,
        "filtered_out": tally.filtered,
        "gone": tally.gone,
        "unreadable": len(tally.unreadable),
    }
    data: dict[str, Any] = {
        "mode": "export",
        "sheet": str(target),
        "written": written,
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "counts": counts,
        "columns": list(columns),
        "statuses": list(statuses),
        "search": search,
        "where": [str(c) for c in where],
        "unreadable": tally.unreadable[:NAMED],
        "cells_left_empty": tally.empty_values,
        "left_out_holding_nothing": tally.blank_rows,
        "formula_cells": tally.formula_cells,
    }
    return reader.finish("export", target, int(code), counts, data, on_event)


def _warnings(target: Path, tally: _Tally, on_event: EventSink) -> None:
    def warn(text: str, code: str) -> None:
        on_event(Notice("warning", text, code))

    if tally.unreadable:
        named = ", ".join(tally.unreadable[:NAMED])
        more = f" and {len(tally.unreadable) - NAMED} more" if len(tally.unreadable) > NAMED else ""
        warn(
            f"{len(tally.unreadable)} campaign(s) could not be read and are not in the sheet: "
            f"{named}{more}",
            "export_unreadable",
        )
    if tally.empty_values:
        warn(
            f"{tally.empty_values} cell(s) are empty because the campaign holds no value there "
            "(or one the sheet cannot hold exactly); an empty cell leaves the field as it is",
            "export_empty_cells",
        )
    if tally.blank_rows:
        named = ", ".join(sorted(tally.blank_ids)[:NAMED])
        more = f" and {tally.blank_rows - NAMED} more" if tally.blank_rows > NAMED else ""
        warn(
            f"{tally.blank_rows} campaign(s) hold no value the sheet can show in any chosen "
            f"column and are left out (a row that changes nothing cannot run): {named}{more}. "
            "To set a value there, add a row for it by hand",
            "export_blank_rows",
        )
    if tally.formula_cells and target.suffix.lower() == ".csv":
        warn(
            f"{tally.formula_cells} cell(s) start with a formula character (=, +, -, @); a "
            "spreadsheet may run them when it opens the CSV: edit the .xlsx export instead, or "
            "import the CSV as text",
            "export_formula_cells",
        )


def export_campaigns(out: str | os.PathLike[str], **kwargs: Any) -> RunSummary:
    """:func:`export_campaigns_async` in an event loop of its own."""
    return sync(export_campaigns_async, out, **kwargs)
