"""report.html of a real run against an API that throttles and fails: what the server saw is what
the page draws, and the page fetches nothing (statically, and in headless Chromium when one is
installed)."""

from __future__ import annotations

import html
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_html_browser import with_probe

from bulkpatch.html.reportfile import load_run_report
from support.faketime import FakeTime
from support.html_audit import external_references
from support.html_samples import chromium
from support.runs import StartScripted, run_sheet, write_sheet
from support.scripted import FrontOnClock

ROWS = 20
#: The server allows 20 requests a second and fails 1 in 5 with a 5xx; the run asks for 100/s.
LIMIT, FAIL, RATE = 20, 0.2, 100.0


def ticks(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "journal.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["e"] == "tick"]


def answered(samples: list[dict[str, Any]], status: str) -> int:
    return sum(n for t in samples for s, n in t["by_status"].items() if s.startswith(status))


def path_of(page: str, cls: str) -> str:
    found = re.search(rf'<path class="{cls}" d="([^"]*)"', page)
    return found.group(1) if found else ""


async def faulty_run(
    tmp_path: Path, start_scripted: StartScripted, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """The run, on a fake clock that the server's rate limit reads too: seconds of throttling
    and backing off take no real time.  What the server saw: its requests (the ones its limit
    refused included), its 429s and its injected 5xx."""
    fake = FakeTime()
    front = FrontOnClock(fake.clock, rate_limit=LIMIT)
    sim = await start_scripted(front, generate=ROWS, fail_rate=FAIL)
    rows = [
        {
            "org_id": "org-demo",
            "workspace_id": "ws-demo",
            "campaign_id": f"cmp-{n:06d}",
            "allowed_schedule.allowed_start_time": "10:00",
            "allowed_schedule.allowed_end_time": "19:00",
        }
        for n in range(1, ROWS + 1)
    ]
    run = await run_sheet(
        write_sheet(tmp_path / "window.csv", rows),
        sim,
        monkeypatch,
        rate=RATE,
        max_attempts=2,
        timing=fake.timing(),
    )
    assert run.run_dir is not None
    seen = {
        "requests_total": sim.script.total,
        "rate_limited": front.rate_limited,
        "injected_failures": sim.stats()["injected_failures"],
    }
    return run.run_dir, seen, run.summary()


async def test_the_page_of_a_throttled_failing_run_marks_its_429s_and_5xx_and_fetches_nothing(
    tmp_path: Path, start_scripted: StartScripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, seen, summary = await faulty_run(tmp_path, start_scripted, monkeypatch)

    # The journal's per-second samples add up to what the server saw.
    samples = ticks(run_dir)
    assert sum(t["started"] for t in samples) == seen["requests_total"]
    assert seen["requests_total"] == summary["requests"]["total"]
    assert answered(samples, "429") == seen["rate_limited"] == summary["throttled_429"] > 0
    assert answered(samples, "5") == seen["injected_failures"] > 0
    assert samples[0]["target"] < RATE  # the 429s of the first second cut the pacer's rate

    report = load_run_report(run_dir)
    traffic = report.traffic
    assert traffic.requests == seen["requests_total"]
    assert traffic.seconds_throttled > 0
    assert traffic.seconds_server_error > 0
    assert traffic.rate[0].target == RATE  # drawn as the rate in force when the second began
    throttled = [p for p in traffic.rate if p.throttled]
    assert sum(p.throttled_rate * (p.x1 - p.x0) for p in throttled) == pytest.approx(
        seen["rate_limited"]
    )

    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert external_references(page) == []
    said = re.search(r"([\d,]+) in ([\d.]+) s of sending", page)
    assert said is not None
    assert int(said.group(1).replace(",", "")) == seen["requests_total"]
    assert float(said.group(2)) == pytest.approx(sum(t["dt"] for t in samples), abs=0.15)
    for cls in ("m429", "m5xx", "s429", "s5xx", "bar", "target"):
        assert path_of(page, cls), f"no {cls} path in the rate chart"
    assert "answered 429" in page
    assert "answered 5xx" in page


#: Reports what the browser loaded besides the page, and the drawn size of each mark.
PROBE = """addEventListener('load',function(){var r={};
r.resources=performance.getEntriesByType('resource').map(function(e){return e.name;});
['m429','m5xx','s429','s5xx'].forEach(function(c){var p=document.querySelector('path.'+c);
var b=p?p.getBBox():null;r[c]=b?[b.width,b.height]:null;});
document.body.setAttribute('data-probe',JSON.stringify(r));});"""


@pytest.mark.slow  # a headless Chromium starts: 1 to 3 s
async def test_in_headless_chromium_the_marks_are_drawn_and_nothing_is_fetched(
    tmp_path: Path, start_scripted: StartScripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium binary found (install the system package `chromium`)")
    run_dir, _, _ = await faulty_run(tmp_path, start_scripted, monkeypatch)
    page = tmp_path / "probed.html"
    page.write_text(
        with_probe((run_dir / "report.html").read_text(encoding="utf-8"), PROBE), encoding="utf-8"
    )
    with tempfile.TemporaryDirectory() as profile:
        with anyio.fail_after(90):
            done = await anyio.run_process(
                [
                    browser,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    f"--user-data-dir={profile}",
                    "--window-size=1100,1600",
                    "--dump-dom",
                    page.as_uri(),
                ],
                check=True,
            )
    found = re.search(r'data-probe="([^"]*)"', done.stdout.decode("utf-8", "replace"))
    assert found, "the probe did not run (blocked by the page's policy?)"
    seen = json.loads(html.unescape(found.group(1)))
    assert seen["resources"] == []
    for cls in ("m429", "m5xx", "s429", "s5xx"):
        width, height = seen[cls]
        assert width > 0, cls
        assert height > 0, cls
