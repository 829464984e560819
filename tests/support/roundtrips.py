"""Helpers for the round trip's tests: export, plan to a directory, apply a plan, verify and undo,
in-process through the library against a simulator, shown on a console we capture."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bulkpatch.cli.display import ConsoleDisplay
from bulkpatch.cli.exits import report_error
from bulkpatch.core.errors import BulkpatchError
from bulkpatch.core.events import Event, Notice
from bulkpatch.core.options import RunOptions
from bulkpatch.core.summary import RunSummary
from bulkpatch.ops.export import export_campaigns_async
from bulkpatch.ops.plan import apply_plan_async, plan_to_dir_async
from bulkpatch.ops.undo import undo_run_async
from bulkpatch.ops.verify import verify_run_async
from bulkpatch.validation.where import parse_where


@dataclass
class Done:
    code: int
    summary: RunSummary | None
    output: str
    notices: list[Notice]

    @property
    def run_dir(self) -> Path:
        assert self.summary is not None
        return self.summary.run_dir

    def results(self, name: str = "results.csv") -> list[dict[str, str]]:
        return read_csv(self.run_dir / name)

    def outcomes(self) -> dict[str, str]:
        return {r["campaign_id"]: r["outcome"] for r in self.results()}

    def summary_json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.run_dir / "summary.json").read_text())
        return data

    def said(self, code: str) -> list[str]:
        return [n.text for n in self.notices if n.code == code]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


async def call(
    body: Callable[[Callable[[Event], None]], Awaitable[RunSummary]],
    sim: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Done:
    """Run a library call with the simulator's key in the environment and a captured display."""
    monkeypatch.setenv("SARVAM_API_KEY", sim.config.api_key)
    buffer = io.StringIO()
    console = Console(file=buffer, width=160)
    display = ConsoleDisplay(console, console, quiet=False, json_out=False)
    notices: list[Notice] = []

    def sink(event: Event) -> None:
        if isinstance(event, Notice):
            notices.append(event)
        if getattr(event, "summary", None) is not None and event.summary.mode in (  # type: ignore[union-attr]
            "export",
            "verify",
        ):
            return
        display(event)

    try:
        summary = await body(sink)
    except BulkpatchError as exc:
        display.stop()
        code = report_error(console, exc)
        return Done(int(code), None, buffer.getvalue(), notices)
    return Done(summary.exit_code, summary, buffer.getvalue(), notices)


def options_for(sim: Any, tmp_path: Path, **options: Any) -> RunOptions:
    options.setdefault("rate", None)
    options.setdefault("report_dir", tmp_path / "reports")
    options.setdefault("base_url", sim.base_url)
    return RunOptions(**options)


async def export(
    out: Path,
    sim: Any,
    monkeypatch: pytest.MonkeyPatch,
    *,
    org: str = "org-demo",
    workspace: str = "ws-demo",
    where: tuple[str, ...] = (),
    **kwargs: Any,
) -> Done:
    options = kwargs.pop("options", None) or options_for(sim, out.parent)
    return await call(
        lambda sink: export_campaigns_async(
            out,
            org=org,
            workspace=workspace,
            where=[parse_where(w) for w in where],
            options=options,
            on_event=sink,
            **kwargs,
        ),
        sim,
        monkeypatch,
    )


async def plan_to(
    sheet: Path, out: Path, sim: Any, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> Done:
    opts = options_for(sim, sheet.parent, **options)
    return await call(
        lambda sink: plan_to_dir_async(sheet, out, options=opts, on_event=sink), sim, monkeypatch
    )


async def apply_plan(
    plan_dir: Path, sim: Any, monkeypatch: pytest.MonkeyPatch, **kwargs: Any
) -> Done:
    overrides = {"rate": None, "report_dir": plan_dir.parent / "reports"}
    overrides.update(kwargs.pop("overrides", {}))
    if "approved_digest" not in kwargs:  # the digest plan.json states (a test of the pin says)
        kwargs["approved_digest"] = approved_digest_of(plan_dir)
    return await call(
        lambda sink: apply_plan_async(plan_dir, overrides=overrides, on_event=sink, **kwargs),
        sim,
        monkeypatch,
    )


def approved_digest_of(plan_dir: Path) -> str | None:
    """The digest plan.json states, as a reviewer would copy it from the page."""
    try:
        digest = json.loads((plan_dir / "plan.json").read_text())["digest"]
    except (OSError, ValueError, KeyError, TypeError):
        return "sha256:" + "0" * 64
    return str(digest)


async def verify(run_dir: Path, sim: Any, monkeypatch: pytest.MonkeyPatch, **over: Any) -> Done:
    over.setdefault("rate", None)
    return await call(
        lambda sink: verify_run_async(run_dir, overrides=over, on_event=sink), sim, monkeypatch
    )


async def undo(
    run_dir: Path,
    sim: Any,
    monkeypatch: pytest.MonkeyPatch,
    *,
    plan_only: bool = False,
    **over: Any,
) -> Done:
    over.setdefault("rate", None)
    return await call(
        lambda sink: undo_run_async(run_dir, plan_only=plan_only, overrides=over, on_event=sink),
        sim,
        monkeypatch,
    )
