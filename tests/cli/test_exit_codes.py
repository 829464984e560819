"""One exit-code map for every command: a bug is 70 (never 1), Ctrl-C is 3 everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import bulkpatch.cli.commands  # noqa: F401  (registers the commands)
from bulkpatch.cli import cli
from bulkpatch.engine import procedure
from bulkpatch.validation import sheetcheck
from support.runs import campaign_rows, run_dirs, write_sheet

ORG, WS = "org-x", "ws-x"


def sheet(tmp_path: Path) -> Path:
    return write_sheet(tmp_path / "s.csv", campaign_rows(["c1", "c2"], ORG, WS, name="New name"))


def test_a_bug_exits_70_with_one_line_and_the_traceback_in_the_run_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("an injected bug")

    monkeypatch.setattr(procedure, "plan_row", broken)
    reports = tmp_path / "reports"
    result = CliRunner().invoke(
        cli, ["run", str(sheet(tmp_path)), "--simulate", "--report-dir", str(reports), "-q"]
    )
    assert result.exit_code == 70, result.output
    lines = [line for line in result.output.splitlines() if "internal error" in line]
    assert len(lines) == 1
    assert "please report it" in lines[0]
    assert "Traceback" not in result.output
    (run_dir,) = run_dirs(reports)
    saved = run_dir / "traceback.txt"
    assert str(saved) in lines[0]
    assert "RuntimeError: an injected bug" in saved.read_text()


def test_a_bug_in_validate_exits_70_with_the_traceback_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("an injected bug")

    monkeypatch.setattr("bulkpatch.ops.validate.check_sheet", broken)
    result = CliRunner().invoke(cli, ["validate", str(sheet(tmp_path))])
    assert result.exit_code == 70
    assert "internal error (ZeroDivisionError)" in result.output
    saved = Path(result.output.split("traceback in ")[1].split()[0])
    assert "ZeroDivisionError: an injected bug" in saved.read_text()
    saved.unlink()


@pytest.mark.parametrize("command", ["validate", "run", "plan"])
def test_ctrl_c_exits_3_in_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(sheetcheck, "RowValidator", interrupted)
    args = [command, str(sheet(tmp_path))]
    if command != "validate":
        args += ["--simulate", "--report-dir", str(tmp_path / "reports")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3, result.output
