"""Make ``docs/report.png``: the report.html of a real run with faults, in headless Chromium.

    python docs/report_png.py [ROWS] [OUT_PNG]

Starts ``bulkpatch simulate --generate ROWS --fail-rate 0.1 --rate-limit 50`` in a process of its
own, applies a schedule change to its ROWS campaigns (default 600) with ``bulkpatch run --rate
80`` in another, and screenshots the run's report.html (Chromium from the system packages:
``apt-get install -y chromium``).  The PNG is reduced to a palette so that it stays small.
Prints the run's own summary and where the page and the PNG are.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "support"))

from html_samples import chromium, screenshot  # noqa: E402

KEY = "sim-docs-key"
WIDTH, HEIGHT = 1100, 1760


def write_sheet(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "org_id",
                "workspace_id",
                "campaign_id",
                "allowed_schedule.allowed_start_time",
                "allowed_schedule.allowed_end_time",
                "allowed_schedule.allowed_days",
            ]
        )
        for n in range(1, rows + 1):
            writer.writerow(["org-demo", "ws-demo", f"cmp-{n:06d}", "10:00", "19:00", "Mon-Sat"])


def start_simulator(rows: int) -> tuple[subprocess.Popen[str], str]:
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bulkpatch",
            "simulate",
            "--port",
            "0",
            "--api-key",
            KEY,
            "--generate",
            str(rows),
            "--fail-rate",
            "0.1",
            "--rate-limit",
            "50",
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert sim.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = sim.stdout.readline()
        found = re.search(r"base URL:\s+(\S+)", line)
        if found:
            return sim, found.group(1)
    sim.kill()
    raise SystemExit("the simulator did not say where it listens")


def main(rows: int = 600, out: Path = HERE / "report.png") -> None:
    from PIL import Image

    browser = chromium()
    if browser is None:
        raise SystemExit("no Chromium found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="bulkpatch-demo-") as tmp:
        work = Path(tmp)
        sheet = work / "collections-window.csv"
        write_sheet(sheet, rows)
        sim, base_url = start_simulator(rows)
        try:
            env = {**os.environ, "SARVAM_API_KEY": KEY, "COLUMNS": "110"}
            run = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bulkpatch",
                    "run",
                    str(sheet),
                    "--base-url",
                    base_url,
                    "--rate",
                    "80",
                    "--report-dir",
                    str(work / "reports"),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            sim.terminate()
            sim.wait(timeout=30)
        print(run.stderr)
        run_dir = next(p for p in (work / "reports").iterdir() if p.is_dir() and p.name[0] != ".")
        page = run_dir / "report.html"
        screenshot(browser, page, out, WIDTH, HEIGHT)
        Image.open(out).convert("RGB").quantize(colors=96).save(out, optimize=True)
        print(f"{page} -> {out} ({out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 600,
        Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "report.png",
    )
