"""Every sheet shipped in input_examples/ works on any date: ``validate`` says what it is meant
to say, and ``run --simulate`` gives no row ``invalid`` -- today, and with the simulator's
campaigns made on other days (its dates are drawn around "today").

When this fails for an example that used to pass, the example has gone stale: rebuild the
examples with ``python input_examples/make_examples.py`` (see its docstring) and commit them."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from bulkpatch.cli.display import ConsoleDisplay
from bulkpatch.core.options import RunOptions
from bulkpatch.ops.apply import apply_sheet_async
from bulkpatch.simulator import state as simulator_state
from support.runs import bulkpatch

EXAMPLES = Path(__file__).resolve().parents[2] / "input_examples"
REBUILD = (
    "rebuild the examples with `python input_examples/make_examples.py` (see its docstring) "
    "and commit them"
)
#: Examples meant to run: ``validate`` exits 0, and no row is invalid under ``--simulate``.
GOOD = (
    "mass-schedule-change.csv",
    "migration.parquet",
    "nightly-end-dates.csv",
    "retry-policy.xlsx",
)
#: Examples meant to show errors: ``validate`` exits 2 (each line or column shows one mistake).
MEANT_TO_SHOW_ERRORS = ("bad-rows.csv", "bad-column.csv")
#: "Today" for the simulator's campaigns: the real today, a day long past, a day years ahead.
TODAYS: dict[str, Callable[[], datetime] | None] = {
    "today": None,
    "2026-01-15": lambda: datetime(2026, 1, 15, tzinfo=UTC),
    "2034-07-01": lambda: datetime(2034, 7, 1, tzinfo=UTC),
}


def test_every_shipped_example_is_named_here_as_good_or_meant_to_show_errors() -> None:
    shipped = {p.name for p in EXAMPLES.iterdir() if p.suffix in (".csv", ".parquet", ".xlsx")}
    assert shipped == set(GOOD) | set(MEANT_TO_SHOW_ERRORS), (
        "name each example in tests/sheet/test_input_examples.py: GOOD or MEANT_TO_SHOW_ERRORS"
    )


@pytest.mark.parametrize("name", [*GOOD, *MEANT_TO_SHOW_ERRORS])
async def test_validate_says_of_each_example_what_it_is_meant_to_say(
    name: str, tmp_path: Path
) -> None:
    done = await bulkpatch("validate", EXAMPLES / name, "--quiet", cwd=tmp_path)
    meant = 0 if name in GOOD else 2
    assert done.returncode == meant, (
        f"input_examples/{name}: `bulkpatch validate` exits {done.returncode}, not {meant}; "
        f"if it went stale, {REBUILD}. {done.stderr.decode()[-2000:]}"
    )


@pytest.mark.parametrize("today", list(TODAYS))
@pytest.mark.parametrize("name", GOOD)
async def test_each_good_example_runs_under_simulate_without_an_invalid_row_on_any_date(
    name: str, today: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    anchor = TODAYS[today]
    if anchor is not None:
        monkeypatch.setattr(simulator_state, "default_anchor", anchor)
    buffer = io.StringIO()
    console = Console(file=buffer, width=160)
    display = ConsoleDisplay(console, console, quiet=True, json_out=False)
    options = RunOptions(simulate=True, rate=None, report_dir=tmp_path / "reports")

    summary = await apply_sheet_async(EXAMPLES / name, options=options, on_event=display)

    outcomes = summary.outcomes
    reasons = [r for r in summary.as_dict().get("top_reasons", []) if r["outcome"] == "invalid"]
    assert outcomes["invalid"] == 0, (
        f"input_examples/{name}: {outcomes['invalid']} row(s) invalid under --simulate with "
        f"the simulator's today = {today} ({reasons[:2]}); the example has gone stale: {REBUILD}"
    )
    assert outcomes["failed"] == outcomes["rejected"] == outcomes["not_attempted"] == 0, outcomes
    assert outcomes["updated"] > 0, outcomes
