"""Every ``bulkpatch`` command line the README and the docs pages show in a shell block names a
command bulkpatch has and only options that command takes, so renaming an option breaks here
instead of in a reader's terminal."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

import bulkpatch.cli.commands  # noqa: F401  (the commands register on import)
from bulkpatch.cli import cli

ROOT = Path(__file__).resolve().parents[2]
#: The pages people read; the CLI reference is the commands' own help, checked by cog.
PAGES = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "cli-reference.md"),
]
SHELL_BLOCK = re.compile(r"^```(?:bash|sh|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def shell_lines(text: str) -> list[str]:
    """The logical lines of a page's shell blocks: continuations joined, comments dropped."""
    lines = []
    for block in SHELL_BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def bulkpatch_calls(line: str) -> list[list[str]]:
    """The words after each ``bulkpatch`` that starts a command in a shell line."""
    words = shlex.split(line.replace("$(", "( "), comments=False)
    calls, current = [], None
    for word in words:
        if word in ("&&", "||", ";", "|"):
            current = None
        elif word == "bulkpatch" and current is None:
            current = []
            calls.append(current)
        elif current is not None:
            current.append(word)
    return calls


def problems(args: list[str]) -> list[str]:
    if not args or args[0].startswith("-"):
        return []  # `bulkpatch --help`, `bulkpatch --version`
    command = cli.commands.get(args[0])
    if command is None:
        return [f"bulkpatch has no command {args[0]!r}"]
    flags = {
        opt
        for param in command.params
        if isinstance(param, click.Option)
        for opt in (*param.opts, *param.secondary_opts)
    } | {"--help", "-h"}
    return [
        f"`bulkpatch {args[0]}` has no option {word.split('=')[0]}"
        for word in args[1:]
        if word.startswith("--") and word.split("=")[0] not in flags
    ]


CALLS = [
    (f"{page.name}: bulkpatch {' '.join(args)}", args)
    for page in PAGES
    for line in shell_lines(page.read_text(encoding="utf-8"))
    for args in bulkpatch_calls(line)
]


def test_the_readme_and_the_docs_pages_show_command_lines_to_check() -> None:
    pages = {where.split(":")[0] for where, _ in CALLS}
    assert {"README.md", "index.md", "round-trip.md", "operations.md"} <= pages
    assert len(CALLS) >= 20


@pytest.mark.parametrize(("where", "args"), CALLS, ids=[where for where, _ in CALLS])
def test_every_command_line_in_the_readme_and_the_docs_names_only_what_the_cli_takes(
    where: str, args: list[str]
) -> None:
    assert problems(args) == [], where


def test_the_check_refuses_an_unknown_command_or_option() -> None:
    assert problems(["run", "s.csv", "--rait", "10"]) == ["`bulkpatch run` has no option --rait"]
    assert problems(["runn", "s.csv"]) == ["bulkpatch has no command 'runn'"]
    assert problems(["run", "s.csv", "--rate=10", "--pause-active"]) == []
    assert bulkpatch_calls("pip install . && bulkpatch run a.csv --simulate") == [
        ["run", "a.csv", "--simulate"]
    ]


def test_the_test_command_in_the_readme_and_contributing_is_the_one_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    ci_command = ci[ci.index("# The README's test command:") + 1]
    for page in ("README.md", "CONTRIBUTING.md"):
        assert f"```bash\n{ci_command}\n```" in (ROOT / page).read_text(encoding="utf-8"), page
    assert "mkdocs build --strict" in ci_command
