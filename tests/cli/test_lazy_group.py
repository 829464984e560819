"""The command line starts light: ``bulkpatch --help``, ``bulkpatch run --help`` and shell
completion import no library that a run needs (the engine, aiohttp, polars, pydantic, pyarrow,
rich), and the lazy group's table (``cli/group.py`` ``COMMANDS``) says what the commands do."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

import bulkpatch.cli.commands  # noqa: F401  (the commands register on import)
from bulkpatch.cli import Commands, cli
from bulkpatch.cli.group import COMMANDS, usage

#: What a person waiting for ``--help`` or a completion must not pay for.
HEAVY = (
    "aiohttp",
    "polars",
    "pydantic",
    "pyarrow",
    "rich",
    "anyio",
    "bulkpatch.engine",
    "bulkpatch.ops",
    "bulkpatch.transport",
    "bulkpatch.sheet",
    "bulkpatch.validation",
    "bulkpatch.rundir",
)
#: Each invocation in a child process of its own; prints the modules it imported, as JSON.
CHILD = """
import json, os, sys
args, env = json.loads(sys.argv[1]), json.loads(sys.argv[2])
os.environ.update(env)
from bulkpatch.cli import cli
try:
    cli.main(args, prog_name="bulkpatch")
except SystemExit:
    pass
sys.stdout.flush()
print("\\nMODULES " + json.dumps(sorted(sys.modules)))
"""
COMPLETE = "_BULKPATCH_COMPLETE"


def imported(args: list[str], env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args), json.dumps(env or {})],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out, _, modules = done.stdout.rpartition("\nMODULES ")
    return out, set(json.loads(modules))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))


@pytest.mark.parametrize(
    ("args", "env"),
    [
        ([], {}),
        (["--help"], {}),
        (["run", "--help"], {}),
        (["plan", "--help"], {}),
        (["resume", "--help"], {}),
        ([], {COMPLETE: "bash_complete", "COMP_WORDS": "bulkpatch r", "COMP_CWORD": "1"}),
        ([], {COMPLETE: "zsh_complete", "COMP_WORDS": "bulkpatch ", "COMP_CWORD": "1"}),
        ([], {COMPLETE: "bash_complete", "COMP_WORDS": "bulkpatch run --ra", "COMP_CWORD": "2"}),
    ],
    ids=["alone", "help", "run-help", "plan-help", "resume-help", "complete", "zsh", "run-flag"],
)
def test_help_and_completion_import_nothing_a_run_needs(
    args: list[str], env: dict[str, str]
) -> None:
    out, modules = imported(args, env)

    assert out.strip()
    assert heavy(modules) == []
    if env.get("COMP_WORDS", "").startswith("bulkpatch run"):
        assert "plain,--rate" in out.split()


def test_completing_a_command_name_gives_each_command_and_its_short_help() -> None:
    out, _ = imported([], {COMPLETE: "zsh_complete", "COMP_WORDS": "bulkpatch ", "COMP_CWORD": "1"})

    lines = out.splitlines()
    names = lines[1::3]
    assert names == [n for n in cli.list_commands(click.Context(cli)) if n in cli.commands]
    shown = dict(zip(names, lines[2::3], strict=True))
    assert shown["run"] == cli.commands["run"].get_short_help_str()
    assert shown["merge"] == cli.commands["merge"].get_short_help_str()


def test_a_command_runs_once_resolved_and_its_module_is_imported_then() -> None:
    _, modules = imported(["validate", "input_examples/mass-schedule-change.csv", "--quiet"])

    assert "bulkpatch.cli.validate" in modules
    assert "bulkpatch.cli.run" not in modules


def test_the_table_names_every_command_its_module_arguments_and_help() -> None:
    assert set(COMMANDS) == set(cli.commands)
    for name, entry in COMMANDS.items():
        command = cli.commands[name]
        assert command.callback is not None
        assert command.callback.__module__ == entry.module, name
        assert usage(entry.stub(name)) == usage(command), name
        assert not command.hidden
        for limit in (30, 45, 60, 74, 80, 94, 200):
            got = entry.stub(name).get_short_help_str(limit)
            assert got == command.get_short_help_str(limit), (name, limit)


@pytest.mark.parametrize("width", [60, 80, 100, 140])
def test_the_lazy_list_of_commands_is_clicks_own(width: int) -> None:
    ctx = click.Context(cli, max_content_width=100)
    lazy = click.HelpFormatter(width=width, max_width=100)
    eager = click.HelpFormatter(width=width, max_width=100)

    cli.format_commands(ctx, lazy)
    click.Group.format_commands(cli, ctx, eager)

    assert isinstance(cli, Commands)
    assert lazy.getvalue() == eager.getvalue()
    assert "run" in lazy.getvalue()


@pytest.mark.parametrize("name", ["run", "verify", "export"])
def test_a_command_loaded_lazily_has_its_otel_flag_as_when_all_are_loaded(name: str) -> None:
    out, modules = imported([name, "--help"])

    assert "--otel" in out
    if name == "run":  # verify and export still import the library at the top of their module
        assert "bulkpatch.ops.observe" not in modules
