"""The ``bulkpatch`` command group (:data:`cli`) and its overview, on which each command registers.

Each command lives in a module of its own that imports this one and registers on :data:`cli`.
The group is lazy: :data:`COMMANDS` names each command's module, arguments and first paragraph
of help, so ``bulkpatch``, ``bulkpatch --help`` and the completion of a command's name import
no command module, and a command's module is imported (``importlib.import_module``) only when
that command is resolved.  ``tests/cli/test_lazy_group.py`` checks the table against the
commands themselves.  ``bulkpatch`` alone prints the commands, one line each, and the first
command to try (:func:`overview`).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from bulkpatch.cli.telemetry import add_otel_flag
from bulkpatch.version import __version__

#: The commands in the order a person meets them; any other command follows, by name.
ORDER = (
    "validate",
    "plan",
    "run",
    "resume",
    "report",
    "verify",
    "undo",
    "export",
    "merge",
    "simulate",
)
#: One line per command for ``bulkpatch`` alone (a command not named here shows the first
#: sentence of its help).
ONE_LINE = {
    "validate": "check every row of a sheet offline (no network, no key)",
    "plan": "preview: read each campaign, show what would change; nothing is sent",
    "run": "apply a sheet: read, merge, update each campaign; a report per row",
    "resume": "continue an interrupted or crashed run from its journal",
    "report": "rebuild a run's report.html and CSV files from its journal",
    "verify": "read a run's campaigns back: do they still hold what it set?",
    "undo": "put back what a run changed (never over a later edit)",
    "export": "write live campaigns to a sheet to edit and run",
    "merge": "combine the run directories of one sheet's shards",
    "simulate": "serve the embedded simulator of the Scheduling API",
}
FIRST_COMMAND = "bulkpatch run input_examples/mass-schedule-change.csv --simulate"
COMPLETION = 'eval "$(_BULKPATCH_COMPLETE=bash_source bulkpatch)"'

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem


@dataclass(frozen=True)
class Entry:
    """What the group knows of a command before importing it."""

    #: The module that defines the command (it registers on :data:`cli` when imported).
    module: str
    #: Its arguments as ``--help`` names them (``SHEET``, ``RUN_DIRS...``).
    arguments: str
    #: The first paragraph of its help (or its ``short_help``): the source of its line in
    #: ``bulkpatch --help`` and in shell completion, shortened as click shortens it.
    summary: str
    #: The summary is the command's ``short_help`` (shown whole), not the start of its help.
    short: bool = False

    def stub(self, name: str) -> click.Command:
        """A stand-in with the command's name and summary, to list it without importing it."""
        if self.short:
            return click.Command(name, short_help=self.summary)
        return click.Command(name, help=self.summary)


#: Every command, by name: the registry the lazy group imports from.
COMMANDS = {
    "validate": Entry(
        "bulkpatch.cli.validate", "SHEET", "Check every row of a sheet offline.", short=True
    ),
    "plan": Entry(
        "bulkpatch.cli.run",
        "SHEET",
        "Preview SHEET: read every campaign, show what would change, send nothing.",
    ),
    "run": Entry("bulkpatch.cli.run", "SHEET", "Apply SHEET to the Scheduling API."),
    "resume": Entry(
        "bulkpatch.cli.run",
        "RUN_DIR",
        "Continue an interrupted or crashed run from RUN_DIR's journal.",
    ),
    "report": Entry(
        "bulkpatch.cli.report",
        "RUN_DIR",
        "Rebuild a run's report.html and CSV files from its journal.",
    ),
    "verify": Entry(
        "bulkpatch.cli.verify",
        "RUN_DIR",
        "Read back every campaign RUN_DIR's run updated or left unchanged: does it still hold "
        "what the run set?",
    ),
    "undo": Entry(
        "bulkpatch.cli.verify",
        "RUN_DIR",
        "Put back what RUN_DIR's run changed, unless someone changed it since.",
    ),
    "export": Entry(
        "bulkpatch.cli.export",
        "OUT",
        "Write the live campaigns of a workspace to OUT (.csv, .parquet or .xlsx).",
    ),
    "merge": Entry(
        "bulkpatch.cli.merge",
        "RUN_DIRS...",
        "Combine the run directories of one sheet's shards (`run --shard K/N`) into one "
        "results.csv (sheet order), retry.csv and summary.json in --out.",
    ),
    "simulate": Entry(
        "bulkpatch.cli.simulate",
        "",
        "Serve the embedded simulator of the Scheduling API until Ctrl-C.",
    ),
}


class Commands(click.Group):
    """A lazy group that lists its commands in :data:`ORDER`: a command's module is imported
    when the command is resolved, and listing them (``--help``, completion) imports none."""

    #: True in the ``bulkpatch`` process itself (set by :func:`bulkpatch.cli.main`), not in a
    #: test or a script running the group: what a command imports then lives as long as the
    #: process (see :meth:`loading`).
    own_process = False

    @contextlib.contextmanager
    def loading(self) -> Iterator[None]:
        """Import a command's libraries: in the ``bulkpatch`` process, with the garbage
        collector paused while they load and what they made frozen after (never scanned
        again, nor at exit).  An import makes tens of thousands of objects that live as long as
        the process; scanning them for cycles costs a run about 40 ms of CPU while they load
        and 90 ms more when the process exits."""
        if not self.own_process or not gc.isenabled():
            yield
            return
        gc.disable()
        try:
            yield
        finally:
            gc.freeze()
            gc.enable()

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx)) | set(COMMANDS)
        rank = {name: i for i, name in enumerate(ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(ORDER)), n))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if cmd_name not in self.commands and entry is not None:
            with self.loading():
                importlib.import_module(entry.module)
            add_otel_flag(self, (cmd_name,))  # --otel on the commands that talk to the API
        return super().get_command(ctx, cmd_name)

    def listed(self, ctx: click.Context, name: str) -> click.Command | None:
        """A command as the lists show it: registered, or else its stand-in (nothing imported)."""
        if name in self.commands:
            return self.commands[name]
        entry = COMMANDS.get(name)
        return entry.stub(name) if entry is not None else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, from :meth:`listed`."""
        commands = [(n, c) for n in self.list_commands(ctx) if (c := self.listed(ctx, n))]
        commands = [(n, c) for n, c in commands if not c.hidden]
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            with formatter.section("Commands"):
                formatter.write_dl([(n, c.get_short_help_str(limit)) for n, c in commands])

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """As click's, from :meth:`listed`."""
        from click.shell_completion import CompletionItem  # as click does: only when completing

        names = [n for n in self.list_commands(ctx) if n.startswith(incomplete)]
        items = [
            CompletionItem(n, help=c.get_short_help_str())
            for n in names
            if (c := self.listed(ctx, n)) is not None and not c.hidden
        ]
        return items + click.Command.shell_complete(self, ctx, incomplete)


def usage(command: click.Command) -> str:
    """``run SHEET``, ``merge RUN_DIRS...``: the command and its arguments."""
    entry = COMMANDS.get(command.name or "")
    if entry is not None and not command.params:
        return " ".join(w for w in (command.name, entry.arguments) if w)
    args = [
        p.human_readable_name.upper() + ("..." if p.nargs == -1 else "")
        for p in command.params
        if isinstance(p, click.Argument)
    ]
    return " ".join([command.name or "", *args])


def _first_sentence(command: click.Command) -> str:
    """A command's short help as a line of the list: its first sentence, lower case first."""
    text = command.get_short_help_str(limit=200).split(". ")[0].rstrip(".")
    text = text if len(text) <= 72 else text[:71].rstrip() + "…"
    return text[:1].lower() + text[1:]


def overview(group: click.Group, ctx: click.Context) -> str:
    """What ``bulkpatch`` alone prints: the commands, one line each, and the first to try."""
    rows = []
    for name in group.list_commands(ctx):
        command = group.listed(ctx, name) if isinstance(group, Commands) else None
        command = command or group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        rows.append((usage(command), ONE_LINE.get(name) or _first_sentence(command)))
    width = max((len(u) for u, _ in rows), default=0)
    lines = [
        f"bulkpatch {__version__}: apply a sheet of per-campaign changes to the Sarvam "
        "Scheduling API",
        "",
        "commands:",
        *(f"  {usage.ljust(width)}  {text}" for usage, text in rows),
        "",
        "try first (in bulkpatch's source directory; no key, no network):",
        f"  {FIRST_COMMAND}",
        "",
        "bulkpatch COMMAND --help shows a command's options. Shell completion (bash):",
        f"  {COMPLETION}",
    ]
    return "\n".join(lines)


@click.group(
    cls=Commands,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="bulkpatch")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Apply a CSV, Parquet or Excel (.xlsx) sheet of per-campaign changes to the Sarvam
    Scheduling API.

    \b
    Start with:
      bulkpatch validate SHEET          check every row offline
      bulkpatch plan SHEET --simulate   preview against the embedded simulator
      bulkpatch run SHEET --simulate    apply it to the embedded simulator
      bulkpatch report RUN_DIR          rebuild a run's report.html and CSVs

    \b
    Shell completion: add to ~/.bashrc (zsh: zsh_source, fish: fish_source)
      eval "$(_BULKPATCH_COMPLETE=bash_source bulkpatch)"
    """
    if ctx.invoked_subcommand is None:
        assert isinstance(ctx.command, click.Group)
        click.echo(overview(ctx.command, ctx))
        ctx.exit(0)
