"""Helpers for end-to-end tests: write a sheet, run bulkpatch in-process against a simulator,
read the reports back."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from rich.console import Console

from bulkpatch.runner import Mode, Runner, Settings, UsageError
from bulkpatch.simulator import Simulator

#: The ``start_simulator`` fixture's type (see conftest.py).
StartSimulator = Callable[..., Awaitable[Simulator]]


def write_sheet(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns: list[str] = []
    for row in rows:
        for column in row:
            if column not in columns:
                columns.append(column)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return path


@dataclass
class RunOutcome:
    code: int
    run_dir: Path | None
    output: str
    runner: Runner

    def results(self, name: str = "results.csv") -> list[dict[str, str]]:
        assert self.run_dir is not None
        with (self.run_dir / name).open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def outcomes(self) -> dict[str, str]:
        """campaign_id -> outcome."""
        return {r["campaign_id"]: r["outcome"] for r in self.results()}

    def summary(self) -> dict[str, Any]:
        assert self.run_dir is not None
        data: dict[str, Any] = json.loads((self.run_dir / "summary.json").read_text())
        return data


async def run_sheet(
    sheet: Path,
    sim: Any,
    monkeypatch: pytest.MonkeyPatch,
    *,
    mode: Mode = "run",
    run_dir: Path | None = None,
    hook: Callable[[Runner], None] | None = None,
    **options: Any,
) -> RunOutcome:
    """Run ``bulkpatch run`` (or plan/resume) in-process against ``sim`` (anything with
    ``config.api_key`` and ``base_url``); ``hook`` sees the runner before it starts."""
    monkeypatch.setenv("SARVAM_API_KEY", sim.config.api_key)
    options.setdefault("rate", None)
    options.setdefault("report_dir", sheet.parent / "reports")
    options.setdefault("base_url", sim.base_url)
    settings = Settings(sheet=sheet, **options)
    buffer = io.StringIO()
    console = Console(file=buffer, width=160)
    runner = Runner(settings, mode, console=console, out=console)
    if hook is not None:
        hook(runner)
    try:
        code = await runner.execute(run_dir)
    except UsageError as exc:
        return RunOutcome(2, runner.run_dir, buffer.getvalue() + f"\nerror: {exc}", runner)
    return RunOutcome(code, runner.run_dir, buffer.getvalue(), runner)


def cli_env(api_key: str | None) -> dict[str, str]:
    """The environment for a ``bulkpatch`` child process: ours, with the key we choose."""
    env = {k: v for k, v in os.environ.items() if k not in ("SARVAM_API_KEY", "BULKPATCH_BASE_URL")}
    env["COLUMNS"] = "160"
    if api_key is not None:
        env["SARVAM_API_KEY"] = api_key
    return env


async def bulkpatch(
    *args: str | Path, api_key: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m bulkpatch ARGS`` in a child process (the event loop keeps serving)."""
    return await anyio.run_process(
        [sys.executable, "-m", "bulkpatch", *map(str, args)],
        env=cli_env(api_key),
        cwd=cwd,
        check=False,
    )


def only_run_dir(report_dir: Path) -> Path:
    dirs = [p for p in report_dir.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def campaign_rows(ids: list[str], org: str, ws: str, **changes: str) -> list[dict[str, Any]]:
    return [{"org_id": org, "workspace_id": ws, "campaign_id": cid, **changes} for cid in ids]
