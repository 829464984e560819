"""The ``bulkpatch`` command group (:data:`cli`) and its overview, on which each command registers.

Each command lives in a module of its own that imports this one; ``bulkpatch`` alone prints the
commands, one line each, and the first command to try (:func:`overview`).
"""

from __future__ import annotations

import click

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


class Commands(click.Group):
    """A group that lists its commands in :data:`ORDER`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(ORDER)), n))


def _usage(command: click.Command) -> str:
    """``run SHEET``, ``merge RUN_DIRS...``: the command and its arguments."""
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
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        rows.append((_usage(command), ONE_LINE.get(name) or _first_sentence(command)))
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
