"""The rate when none is given: one rule for the library and the command line."""

from __future__ import annotations

import json
from pathlib import Path

from bulkpatch.core.options import DEFAULT_RATE, SIMULATE_RATE, RunOptions, default_rate
from bulkpatch.ops.apply import apply_sheet


def test_options_without_a_rate_take_the_default_of_where_they_send() -> None:
    assert RunOptions().rate == default_rate(False) == DEFAULT_RATE
    assert RunOptions(simulate=True).rate == default_rate(True) == SIMULATE_RATE
    assert RunOptions(simulate=True, rate=5.0).rate == 5.0
    assert RunOptions(simulate=True, rate=None).rate is None


def test_a_simulated_run_from_the_library_paces_as_the_command_line_does(tmp_path: Path) -> None:
    sheet = tmp_path / "s.csv"
    sheet.write_text("org_id,workspace_id,campaign_id,name\no,w,c1,N\no,w,c2,M\n")

    summary = apply_sheet(sheet, options=RunOptions(simulate=True, report_dir=tmp_path / "r"))

    stored = json.loads((summary.run_dir / "summary.json").read_text())
    assert stored["options"]["rate"] == SIMULATE_RATE
