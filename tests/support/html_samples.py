"""Sample data for the HTML pages (a realistic run with faults, a plan, hostile text) and
screenshots of them in headless Chromium.

Run as a script to write docs/plan.png (and, given a second directory, phone-width shots of both
pages there): ``python tests/support/html_samples.py docs [PHONE_DIR]``.  docs/report.png is of
a real run with faults: ``python docs/report_png.py``.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

T0 = 1796092267.0  # 2026-12-01 02:31:07 UTC
ORG, WS = "org-acme", "ws-collections"

#: Text a sheet or the API could hold that must never act as markup, a link or a formula.
HOSTILE = (
    '<script>alert("x")</script><img src=x onerror=alert(1)>'
    "\"'><link rel=stylesheet href=https://evil.example/x.css>"
    '[bold red]rich[/] =HYPERLINK("http://evil.example") url(http://evil.example/a.png) '
    "\x1b[31mred\x1b[0m \u202eevil\u202c \ud800 &amp; </td></tr></table>"
)
LONG = "A" * 20_000


def _options(rate: float | None, **more: Any) -> dict[str, Any]:
    return {
        "sheet": "/data/nightly/collections-window.csv",
        "org": None,
        "workspace": None,
        "base_url": "https://apps.sarvam.ai/api/scheduling",
        "simulate": False,
        "api_key_env": "SARVAM_API_KEY",
        "api_key_file": None,
        "rate": rate,
        "concurrency": 8,
        "max_attempts": 5,
        "timeout": 30.0,
        "pause_active": False,
        "skip_invalid": True,
        "no_read": False,
        **more,
    }


_REJECTS = (
    "patch: HTTP 422: allowed_schedule.allowed_end_time: end time must be after start time",
    "patch: HTTP 422: app_config.connection_configs.0.phone_numbers.0: not a valid E.164 number",
    "patch: campaign not found (HTTP 404: Campaign not found)",
)
_SKIPS = (
    "campaign is active; rerun with --pause-active to pause, edit, resume",
    "campaign is ended; nothing to do",
    "stale: expect.updated_at: 2026-11-29T18:02:11Z, now 2026-11-30T21:40:07Z",
)


def _done(rng: random.Random, row: int, t: float, outcome: str) -> dict[str, Any]:
    reason, status, attempts, cstatus = "", 200, 1, "scheduled"
    if outcome == "skipped":
        reason = rng.choice(_SKIPS)
        status, attempts = None, 0
        cstatus = "active" if "active" in reason else "ended" if "ended" in reason else "paused"
    elif outcome == "rejected":
        reason = rng.choice(_REJECTS)
        status = 404 if "404" in reason else 422
    elif outcome == "failed":
        reason = "patch: HTTP 503: Service Unavailable (gave up after retries)"
        status, attempts = 503, 5
    elif outcome == "invalid":
        reason = "allowed_schedule.timezone: not a valid IANA time zone"
        status, attempts, cstatus = None, 0, None
    elif outcome == "unchanged":
        reason, attempts = "campaign already holds every target value", 0
    return {
        "e": "done",
        "t": round(t, 3),
        "before": {},
        "row": row,
        "org_id": ORG,
        "workspace_id": WS,
        "campaign_id": f"cmp-{row:06d}",
        "outcome": outcome,
        "reason": reason,
        "http_status": status,
        "attempts": attempts,
        "changed_fields": "allowed_schedule.allowed_start_time;allowed_schedule.allowed_end_time",
        "campaign_status": cstatus,
        "updated_at": "2026-12-01T02:31:09Z" if outcome == "updated" else None,
        "duration_ms": rng.randint(40, 900),
    }


def _outcome(rng: random.Random) -> str:
    x = rng.random()
    for bound, name in (
        (0.07, "skipped"),
        (0.09, "rejected"),
        (0.10, "failed"),
        (0.105, "invalid"),
        (0.12, "unchanged"),
    ):
        if x < bound:
            return name
    return "updated"


def faulty_run(rows: int = 6000, seed: int = 3) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A run at --rate 80 against an API that allows 50/s and fails some requests: 429s that cut
    the pacer's target, bursts of 503s, a circuit breaker that opens once, an interrupt (exit 3),
    then a resume at --rate 50 that finishes with some rows failed (exit 1).  Returns the
    journal's records and the summary."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = [
        {
            "e": "start",
            "t": T0,
            "version": "0.2.0",
            "sheet": "/data/nightly/collections-window.csv",
            "sha256": "614853f46d8bb49f431076ed278160e54b5bf700f9095a37c6e40ee6add10fbf",
            "rows": rows,
            "options": _options(80.0),
        }
    ]
    row = 1
    t = T0
    target = 80.0
    stop_row = int(rows * 0.6)
    second = 0
    # session 1
    while row <= stop_row:
        second += 1
        t += 1.0
        burst = 40 <= second < 52  # the API has a bad minute
        breaker = 46 <= second < 52
        started = 0 if breaker else int(min(target, 80) * rng.uniform(0.93, 1.0))
        over = max(started - 50, 0)
        n429 = int(over * rng.uniform(0.6, 1.0))
        n5xx = int(started * rng.uniform(0.3, 0.5)) if burst else int(rng.random() < 0.12)
        none = rng.randint(1, 3) if burst and not breaker else 0
        n200 = max(started - n429 - n5xx - none, 0)
        base = rng.uniform(35, 45) * (4 if burst else 1)
        lat = None if started == 0 else [round(base, 1), round(base * 2.8, 1), round(base * 6, 1)]
        by_status = {"200": n200, "429": n429, "none": none}
        if n5xx:
            by_status["503"] = n5xx
        records.append(
            {
                "e": "tick",
                "t": round(t, 3),
                "dt": 1.0,
                "started": started,
                "by_status": by_status,
                "lat_ms": lat,
                "target": round(target, 1),
                "breaker_open": breaker,
            }
        )
        target = max(target * 0.7, 20.0) if n429 else min(target + 2.5, 80.0)
        for _ in range(n200 // 2):
            if row > stop_row:
                break
            outcome = _outcome(rng)
            if outcome == "updated":
                records.append(
                    {
                        "e": "sent",
                        "t": round(t - 0.5, 3),
                        "row": row,
                        "key": f"{ORG}/{WS}/cmp-{row:06d}",
                        "op": "patch",
                        "attempt": 1,
                    }
                )
            records.append(_done(rng, row, t - 0.2, outcome))
            row += 1
    records.append({"e": "end", "t": round(t + 0.4, 3), "exit_code": 3})
    # session 2, an hour later, at --rate 50
    t += 3600
    records.append(
        {"e": "resume", "t": round(t, 3), "rows": rows, "options": _options(50.0, concurrency=16)}
    )
    while row <= rows:
        t += 1.0
        started = int(50 * rng.uniform(0.95, 1.0))
        n429 = int(rng.random() < 0.05)
        n5xx = int(rng.random() < 0.15)
        n200 = started - n429 - n5xx
        base = rng.uniform(30, 40)
        by_status = {"200": n200, "429": n429}
        if n5xx:
            by_status["502"] = n5xx
        records.append(
            {
                "e": "tick",
                "t": round(t, 3),
                "dt": 1.0,
                "started": started,
                "by_status": by_status,
                "lat_ms": [round(base, 1), round(base * 2.5, 1), round(base * 5, 1)],
                "target": 50.0,
                "breaker_open": False,
            }
        )
        for _ in range(n200 // 2):
            if row > rows:
                break
            records.append(_done(rng, row, t - 0.2, _outcome(rng)))
            row += 1
    records.append({"e": "end", "t": round(t + 0.3, 3), "exit_code": 1})
    summary = {
        "bulkpatch": "0.2.0",
        "mode": "resume",
        "rows": rows,
        "requests": {"total": 5_012, "by_method": {"GET": 2_430, "PATCH": 2_582}},
        "retries": 61,
        "throttled_429": 9,
        "achieved_rate": 48.7,
        "target_rate": 50.0,
        "latency": {"p50_ms": 35.2, "p95_ms": 88.0, "p99_ms": 171.4},
        "rate_cuts": 0,
        "breaker": {"openings": 0, "paused_seconds": 0.0},
        "exit_code": 1,
        "options": _options(50.0, concurrency=16),
    }
    return records, summary


def hostile_run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A small run whose every text field is hostile."""
    records: list[dict[str, Any]] = [
        {
            "e": "start",
            "t": T0,
            "version": HOSTILE,
            "sheet": "/tmp/" + HOSTILE + LONG,
            "sha256": HOSTILE,
            "rows": 3,
            "options": {"sheet": HOSTILE, "api_key": "sk-live-must-not-show", HOSTILE: LONG},
        },
        {
            "e": "tick",
            "t": T0 + 1,
            "dt": 1.0,
            "started": 3,
            "by_status": {"200": 1, "429": 1, "503": 1, HOSTILE: 5},
            "lat_ms": [1, 2, 3],
            "target": HOSTILE,
            "breaker_open": HOSTILE,
        },
        {"e": "paused", "t": T0 + 1, "row": 2, "key": HOSTILE},
    ]
    for row, outcome in ((1, "rejected"), (2, HOSTILE), (3, "failed")):
        records.append(
            {
                "e": "done",
                "t": T0 + 2,
                "row": row,
                "org_id": HOSTILE,
                "workspace_id": LONG,
                "campaign_id": HOSTILE,
                "outcome": outcome,
                "reason": HOSTILE + LONG,
                "http_status": HOSTILE,
                "attempts": HOSTILE,
                "campaign_status": HOSTILE,
            }
        )
    records.append({"e": "end", "t": T0 + 3, "exit_code": 1})
    summary = {
        "requests": {"total": 3, "by_method": {HOSTILE: 3}},
        "stop_reason": HOSTILE,
        "latency": {"p50_ms": HOSTILE},
    }
    return records, summary


def plan_rows(rows: int = 300, seed: int = 5) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A plan of a schedule change: rows and the plan's facts."""
    rng = random.Random(seed)
    out = []
    for row in range(1, rows + 1):
        x = rng.random()
        changes: list[list[Any]] = []
        reason, status = "", rng.choice(["paused", "scheduled", "scheduled"])
        if x < 0.08:
            outcome, status = "skipped", "active"
            reason = "campaign is active; rerun with --pause-active to pause, edit, resume"
        elif x < 0.1:
            outcome, status, reason = "skipped", "ended", "campaign is ended; nothing to do"
        elif x < 0.12:
            outcome, reason = "unchanged", "campaign already holds every target value"
        elif x < 0.13:
            outcome, status = "invalid", None
            reason = "allowed_schedule.timezone: not a valid IANA time zone"
        else:
            outcome = "updated"
        if outcome in ("updated", "skipped"):
            changes.append(["allowed_schedule.allowed_start_time", "09:30", "10:00"])
            changes.append(["allowed_schedule.allowed_end_time", "20:30", "19:00"])
            if rng.random() < 0.4:
                changes.append(
                    [
                        "allowed_schedule.allowed_days",
                        ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
                        ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
                    ]
                )
            if rng.random() < 0.15:
                changes.append(["app_config.app_version", rng.randint(3, 6), 7])
        out.append(
            {
                "row": row,
                "campaign": f"{ORG}/{WS}/cmp-{row:06d}",
                "outcome": outcome,
                "reason": reason,
                "campaign_status": status,
                "updated_at": f"2026-11-{rng.randint(10, 30)}T{rng.randint(0, 23):02d}:"
                f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z",
                "changes": changes,
            }
        )
    counts: dict[str, int] = {}
    for r in out:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    meta = {
        "sheet": "/data/changes/collections-window.csv",
        "sha256": "614853f46d8bb49f431076ed278160e54b5bf700f9095a37c6e40ee6add10fbf",
        "digest": "sha256:3b9c0f6e1d2a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
        "created": "2026-12-01T02:31:07Z",
        "options": _options(10.0),
        "counts": counts,
    }
    return out, meta


def hostile_plan() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows = [
        {
            "row": 1,
            "campaign": HOSTILE,
            "outcome": HOSTILE,
            "reason": HOSTILE + LONG,
            "campaign_status": HOSTILE,
            "updated_at": HOSTILE,
            "changes": [[HOSTILE, HOSTILE, {"x": HOSTILE}], [HOSTILE, [HOSTILE, 1], LONG], HOSTILE],
        },
        {"row": HOSTILE, "org_id": HOSTILE, "workspace_id": "w", "campaign_id": "c"},
    ]
    meta = {
        "sheet": HOSTILE + LONG,
        "sha256": HOSTILE,
        "digest": HOSTILE,
        "created": HOSTILE,
        "options": {"api_key": "sk-live-must-not-show", "note": HOSTILE, HOSTILE: 1},
        "counts": {HOSTILE: 1, "updated": HOSTILE},
    }
    return rows, meta


# ----------------------------------------------------------------------------------------------
# Screenshots
# ----------------------------------------------------------------------------------------------


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(browser: str, page: Path, png: Path, width: int = 1280, height: int = 1600) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )


def main(out: Path, phone: Path | None = None) -> None:
    """Screenshots with the sample data: ``plan.png`` in ``out`` (a palette PNG, small enough to
    commit), and phone-width ones of both pages in ``phone``."""
    from PIL import Image

    from bulkpatch.html.planpage import render_plan_page
    from bulkpatch.html.runpage import render_run_report
    from bulkpatch.html.runreport import build_run_report

    browser = chromium()
    if browser is None:
        raise SystemExit("no Chromium found")
    records, summary = faulty_run()
    rows, meta = plan_rows()
    shots = [("plan", out, 1280, 1200)]
    if phone is not None:
        shots += [("report", phone, 390, 2600), ("plan", phone, 390, 1600)]
    with tempfile.TemporaryDirectory() as tmp:
        pages = {
            "report": Path(tmp) / "report.html",
            "plan": Path(tmp) / "plan.html",
        }
        pages["report"].write_text(render_run_report(build_run_report(records, summary)))
        pages["plan"].write_text(render_plan_page(rows, meta))
        for name, where, width, height in shots:
            where.mkdir(parents=True, exist_ok=True)
            png = where / f"{name}.png"
            screenshot(browser, pages[name], png, width, height)
            Image.open(png).convert("RGB").quantize(colors=96).save(png, optimize=True)
            print(png, png.stat().st_size)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
