"""`bulkpatch` alone, `--help`, `--version`, and shell completion (click's), in child processes
as a shell runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bulkpatch.cli.commands  # (commands register on import)
from bulkpatch.cli import FIRST_COMMAND, cli
from bulkpatch.version import __version__


def bulkpatch(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bulkpatch", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def visible_commands() -> list[str]:
    return [name for name, command in cli.commands.items() if not command.hidden]


def test_bulkpatch_alone_lists_every_command_on_a_line_of_its_own_and_the_first_to_try() -> None:
    done = bulkpatch()

    assert done.returncode == 0
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"bulkpatch {__version__}: ")
    listed = [line.split()[0] for line in lines if line.startswith("  ") and line.strip()]
    for name in visible_commands():
        assert listed.count(name) == 1, name
    assert listed.index("validate") < listed.index("plan") < listed.index("run")
    assert f"  {FIRST_COMMAND}" in lines
    assert all(len(line) <= 100 for line in lines)
    assert len(lines) <= 25
    # the first command to try works from the source directory
    root = Path(__file__).resolve().parents[2]
    assert (root / FIRST_COMMAND.split()[2]).is_file()


def test_help_still_gives_the_full_help_and_version_the_version() -> None:
    helped = bulkpatch("--help")
    assert helped.returncode == 0
    assert helped.stdout.startswith("Usage: bulkpatch [OPTIONS]")
    assert "Commands:" in helped.stdout
    assert "_BULKPATCH_COMPLETE=bash_source bulkpatch" in helped.stdout
    versioned = bulkpatch("--version")
    assert (versioned.returncode, versioned.stdout) == (0, f"bulkpatch, version {__version__}\n")


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _bulkpatch_completion bulkpatch"),
        ("zsh", "#compdef bulkpatch"),
        ("fish", "complete --no-files --command bulkpatch"),
    ],
)
def test_the_completion_script_for_each_shell_is_produced(shell: str, marker: str) -> None:
    done = bulkpatch(_BULKPATCH_COMPLETE=f"{shell}_source")
    assert done.returncode == 0
    assert marker in done.stdout
    assert f"_BULKPATCH_COMPLETE={shell}_complete" in done.stdout


def test_completion_offers_the_commands_and_options_that_start_with_what_was_typed() -> None:
    commands = bulkpatch(
        _BULKPATCH_COMPLETE="bash_complete", COMP_WORDS="bulkpatch re", COMP_CWORD="1"
    )
    assert sorted(commands.stdout.split()) == ["plain,report", "plain,resume"]
    options = bulkpatch(
        _BULKPATCH_COMPLETE="bash_complete", COMP_WORDS="bulkpatch run --pause", COMP_CWORD="2"
    )
    assert options.stdout.split() == ["plain,--pause-active"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash to load the script into")
def test_bash_loads_the_script_and_completes_a_command() -> None:
    here = Path(sys.executable).parent
    script = (
        'eval "$(_BULKPATCH_COMPLETE=bash_source bulkpatch)"; '
        "COMP_WORDS=(bulkpatch va); COMP_CWORD=1; _bulkpatch_completion bulkpatch; "
        'echo "${COMPREPLY[@]}"'
    )
    if shutil.which("bulkpatch", path=str(here)) is None:
        pytest.skip("the bulkpatch console script is not installed beside this Python")
    done = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "PATH": f"{here}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "validate\n")


def test_every_help_names_excel_beside_csv_and_parquet_and_simulate_reads_xlsx() -> None:
    from click.testing import CliRunner

    import bulkpatch.cli.commands  # noqa: F401  (registers the commands)
    from bulkpatch.cli import cli

    runner = CliRunner()
    top = runner.invoke(cli, ["--help"]).output
    assert "Excel (.xlsx)" in top
    for command in ("run", "plan", "simulate", "validate"):
        shown = runner.invoke(cli, [command, "--help"], terminal_width=200).output
        assert "CSV or Parquet" not in shown
    assert "[csv|parquet|xlsx]" in runner.invoke(cli, ["simulate", "--help"]).output
