"""report.html and plan.html in a real browser: headless Chromium from the system packages.

Skipped, saying why, when no Chromium binary is installed.  The pages are opened from files with
every network feature of the browser off; their own policy forbids any fetch.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bulkpatch.html.planpage import render_plan_page
from bulkpatch.html.runpage import render_run_report
from bulkpatch.html.runreport import build_run_report
from support.html_samples import chromium, faulty_run, plan_rows, screenshot

BROWSER = chromium()
pytestmark = [
    pytest.mark.skipif(
        BROWSER is None,
        reason="no Chromium binary found (install the system package `chromium` to run the "
        "headless-browser tests)",
    ),
    pytest.mark.slow,  # a headless Chromium starts for each page: 1 to 3 s
]


def pages() -> dict[str, str]:
    records, summary = faulty_run()
    rows, meta = plan_rows()
    return {
        "report": render_run_report(build_run_report(records, summary)),
        "plan": render_plan_page(rows, meta),
    }


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


#: A colour the page's style sheet gives, which appears only if the style sheet applied.
STYLED = {"report": (0x54, 0xAE, 0xFF), "plan": (0x1A, 0x7F, 0x37)}  # chart bars; "updated"


@pytest.mark.parametrize("name", ["report", "plan"])
def test_the_page_renders_in_headless_chromium_to_a_sensible_png(name: str, tmp_path: Path) -> None:
    from PIL import Image

    assert BROWSER is not None
    page = tmp_path / f"{name}.html"
    page.write_text(pages()[name], encoding="utf-8")
    png = tmp_path / f"{name}.png"
    screenshot(BROWSER, page, png, 1280, 1600)

    data = png.read_bytes()
    assert png_size(data) == (1280, 1600)
    assert len(data) > 30_000  # a blank page compresses to almost nothing
    image = Image.open(png).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None
    assert len(colours) > 50
    counts = {rgb: n for n, rgb in colours}
    dark = sum(n for rgb, n in counts.items() if sum(rgb) < 200)
    assert dark > 5_000  # text
    assert counts.get(STYLED[name], 0) > 500  # the style sheet applied under the page's policy


def with_probe(page: str, probe: str) -> str:
    """``page`` with one more script, allowed by adding its hash to the page's policy."""
    digest = base64.b64encode(hashlib.sha256(probe.encode()).digest()).decode()
    page = re.sub(
        r"script-src ('sha256-[^']+')", rf"script-src \1 'sha256-{digest}'", page, count=1
    )
    return page.replace("</body>", f"<script>{probe}</script></body>")


#: Lays the page out 390 px wide (a phone; the page's narrow layout applies below 700 px) and
#: lists everything that sticks out sideways, except inside containers that scroll on their own.
#: Then works the filters and the sort the way a reader would, and reports what it saw.
PROBE = """addEventListener('load',function(){
var W=390,r={};document.body.style.width=W+'px';
function wide(){var out=[];document.querySelectorAll('main *').forEach(function(e){
if(e.closest('.tablewrap')&&!e.classList.contains('tablewrap'))return;
if(e.closest('svg')&&e.tagName.toLowerCase()!=='svg')return;
var b=e.getBoundingClientRect();if(b.width&&b.right>W+0.5)out.push(e.tagName+'.'+e.className+
' '+Math.round(b.right));});
document.querySelectorAll('.tablewrap').forEach(function(e){
if(e.scrollWidth>e.clientWidth+1)out.push('scrolls: '+e.firstElementChild.className);});
return out;}
function shown(id){return Array.prototype.filter.call(document.getElementById(id).tBodies[0].rows,
function(tr){return !tr.hidden;});}
r.wide=wide();
var fo=document.getElementById('f-o');
if(document.getElementById('fail')){r.rows=shown('fail').length;
fo.value='rejected';fo.dispatchEvent(new Event('change'));r.rejected=shown('fail').length;
var fr=document.getElementById('f-r');fo.value='';fr.value='0';
fr.dispatchEvent(new Event('change'));
r.reason0=shown('fail').length;r.count=document.getElementById('f-n').textContent;}
if(document.getElementById('plan')){r.rows=shown('plan').length;
var b=document.querySelectorAll('th button.sort')[1];b.click();b.click();
r.firstDesc=shown('plan')[0].cells[1].textContent;
document.querySelector('button.card[data-o=invalid]').click();r.invalid=shown('plan').length;
r.count=document.getElementById('f-n').textContent;}
document.body.setAttribute('data-probe',JSON.stringify(r));});"""


def probe(page: str, tmp_path: Path) -> dict[str, Any]:
    assert BROWSER is not None
    path = tmp_path / "probed.html"
    path.write_text(with_probe(page, PROBE), encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                BROWSER,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--window-size=500,900",
                "--dump-dom",
                path.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
    found = re.search(r'data-probe="([^"]*)"', done.stdout.decode("utf-8", "replace"))
    assert found, "the probe did not run (blocked by the page's policy?)"
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return result


def test_the_run_report_fits_a_phone_and_its_filters_show_the_rows_they_name(
    tmp_path: Path,
) -> None:
    records, summary = faulty_run()
    report = build_run_report(records, summary)
    seen = probe(render_run_report(report), tmp_path)
    assert seen["wide"] == []
    assert seen["rows"] == len(report.failures)
    assert seen["rejected"] == report.outcomes["rejected"]
    assert seen["reason0"] == report.reasons[0][1]
    assert seen["count"] == f"{report.reasons[0][1]:,} of {len(report.failures):,} shown"


def test_the_plan_fits_a_phone_sorts_by_a_clicked_column_and_filters_by_a_clicked_count(
    tmp_path: Path,
) -> None:
    rows, meta = plan_rows()
    seen = probe(render_plan_page(rows, meta), tmp_path)
    assert seen["wide"] == []
    assert seen["rows"] == len(rows)
    assert seen["firstDesc"] == max(r["campaign"] for r in rows)
    assert seen["invalid"] == meta["counts"]["invalid"]
