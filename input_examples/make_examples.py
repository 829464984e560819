"""Rebuild the generated example sheets, byte for byte the same each time.

    python input_examples/make_examples.py [--base-date 2026-12-01]

Writes, beside this file:

* ``mass-schedule-change.csv``: move 300 campaigns of one workspace to a 10:00-19:00 window,
  Monday to Saturday (a note column, and two rows guarded with ``expect.status``);
* ``migration.parquet``: point 400 agent campaigns at app version 7, the new webhook and a new
  retry policy (a native Parquet struct);
* ``nightly-end-dates.csv``: a warehouse export of new end dates (ISO 8601 with offsets), each
  guarded by the end the warehouse saw (``expect.end_timestamp``: a campaign someone changed in
  between is skipped, never overwritten);
* ``retry-policy.xlsx``: an Excel workbook (worksheet ``Changes`` first, then ``Readme``) giving
  150 campaigns a new retry policy: numbers and booleans as Excel cells, the dialling window as
  text cells ``HH:MM`` (a time-formatted cell would be a date: see the README).

``bad-rows.csv`` and ``bad-column.csv`` are written by hand: each line shows one kind of error.

End dates must lie between a campaign's start + 120 s and start + 30 days.  The nightly sheet's
dates lie years ahead (``--base-date``, default 2031-03-01), and the embedded simulator
(``--simulate``) seeds each campaign with the end its row expects (and a start that makes that end
possible), so the sheet runs the same on any date.  ``tests/sheet/test_input_examples.py`` runs
every example through ``validate`` and ``run --simulate``; when it says one has gone stale, rebuild
them with this script (``python input_examples/make_examples.py``) and commit the result.
"""

from __future__ import annotations

import argparse
import csv
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ORG = "org-demo"
WORKSPACE = "ws-demo"


def campaign_id(number: int) -> str:
    return f"cmp-{number:06d}"


def mass_schedule_change(out: Path, rows: int = 300) -> None:
    header = [
        "org_id",
        "workspace_id",
        "campaign_id",
        "allowed_schedule.allowed_start_time",
        "allowed_schedule.allowed_end_time",
        "allowed_schedule.allowed_days",
        "expect.status",
        "#note",
    ]
    notes = {1: "pilot campaign: check first", 150: "owner asked for Saturdays", 300: "last one"}
    guards = {2: "paused", 3: "scheduled"}
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for number in range(1, rows + 1):
            writer.writerow(
                [
                    ORG,
                    WORKSPACE,
                    campaign_id(number),
                    "10:00",
                    "19:00",
                    "Mon,Tue,Wed,Thu,Fri,Sat",
                    guards.get(number, ""),
                    notes.get(number, ""),
                ]
            )


def migration(out: Path, rows: int = 400) -> None:
    retry = pa.struct(
        [
            pa.field("max_retries", pa.int64()),
            pa.field("retry_interval_minutes", pa.list_(pa.float64())),
        ]
    )
    schema = pa.schema(
        [
            pa.field("org_id", pa.string()),
            pa.field("workspace_id", pa.string()),
            pa.field("campaign_id", pa.string()),
            pa.field("expect.app_config.app_version", pa.int64()),
            pa.field("app_config.app_version", pa.int64()),
            pa.field("app_config.webhook_config.url", pa.string()),
            pa.field("app_config.retry_config", retry),
            pa.field("_ticket", pa.string()),
        ]
    )
    numbers = range(1001, 1001 + rows)
    table = pa.table(
        {
            "org_id": [ORG] * rows,
            "workspace_id": ["ws-agents"] * rows,
            "campaign_id": [campaign_id(n) for n in numbers],
            # Only the first ten rows are guarded: they must still be on version 6.
            "expect.app_config.app_version": [6 if i < 10 else None for i in range(rows)],
            "app_config.app_version": [7] * rows,
            "app_config.webhook_config.url": ["https://hooks.example.com/sarvam/v7"] * rows,
            "app_config.retry_config": [
                {"max_retries": 4, "retry_interval_minutes": [5.0, 15.0, 60.0, 240.0]}
            ]
            * rows,
            "_ticket": ["MIG-7"] * rows,
        },
        schema=schema,
    )
    pq.write_table(table, out, compression="zstd")


def nightly_end_dates(out: Path, base: date, rows: int = 120) -> None:
    offsets = [timezone(timedelta(hours=5, minutes=30)), UTC, timezone(timedelta(hours=-4))]
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        header = ["org_id", "workspace_id", "campaign_id", "expect.end_timestamp", "end_timestamp"]
        writer.writerow(header)
        for i in range(rows):
            zone = offsets[i % len(offsets)]
            day = base + timedelta(days=1 + i % 7)
            end = datetime(day.year, day.month, day.day, 21, 30, tzinfo=zone)
            seen = end - timedelta(days=1)  # the end the warehouse read: one day earlier
            texts = [t.isoformat().replace("+00:00", "Z") for t in (seen, end)]
            writer.writerow([ORG, "ws-nightly", campaign_id(2001 + i), *texts])


def retry_policy(out: Path, rows: int = 150) -> None:
    import xlsxwriter

    header = [
        "org_id",
        "workspace_id",
        "campaign_id",
        "app_config.retry_config.max_retries",
        "app_config.attempts_per_second",
        "app_config.retry_config.retry_on.busy.enabled",
        "allowed_schedule.allowed_start_time",
        "#owner",
    ]
    book = xlsxwriter.Workbook(str(out), {"strings_to_numbers": False})
    book.set_properties({"created": datetime(2026, 12, 1, tzinfo=UTC), "author": "bulkpatch"})
    bold = book.add_format({"bold": True})
    text = book.add_format({"num_format": "@"})  # a Text column: 09:30 stays text
    changes = book.add_worksheet("Changes")
    changes.write_row(0, 0, header, bold)
    changes.set_column(6, 6, 12, text)
    for i in range(rows):
        number = 3001 + i
        changes.write_string(i + 1, 0, ORG)
        changes.write_string(i + 1, 1, "ws-sales")
        changes.write_string(i + 1, 2, campaign_id(number))
        changes.write_number(i + 1, 3, 5 if i % 3 else 3)
        changes.write_number(i + 1, 4, 2.5 if i % 2 else 4)
        changes.write_boolean(i + 1, 5, i % 5 != 0)
        changes.write_string(i + 1, 6, "09:30" if i % 2 else "10:00", text)
        if i % 50 == 0:
            changes.write_string(i + 1, 7, "sales-ops")
    readme = book.add_worksheet("Readme")
    readme.write_string(0, 0, "bulkpatch reads the first worksheet (or --sheet-name Changes).")
    book.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-date", type=date.fromisoformat, default=date(2031, 3, 1))
    args = parser.parse_args()
    mass_schedule_change(HERE / "mass-schedule-change.csv")
    migration(HERE / "migration.parquet")
    nightly_end_dates(HERE / "nightly-end-dates.csv", args.base_date)
    retry_policy(HERE / "retry-policy.xlsx")


if __name__ == "__main__":
    main()
