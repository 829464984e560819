"""The command line: a thin shell turning library results and errors into messages and exit codes.

Owns the ``bulkpatch`` command: the group and its overview (``group``), one module per command
(``run``, ``validate``, ``report``, ``verify``, ``export``, ``merge``, ``simulate``), what they
print (``display``, ``readdisplay``, ``approval``) and the exit codes (``exits``).

May import: ``bulkpatch.ops`` and ``bulkpatch.core`` only (checked by import-linter): every
decision is made below it.

Each command registers itself on :data:`cli` when its module is imported: the group imports it
when the command is resolved (its table ``group.COMMANDS``), so that the options, ``--help`` and
shell completion load nothing heavy; ``commands`` imports them all.  Shell completion is
click's: ``eval "$(_BULKPATCH_COMPLETE=bash_source bulkpatch)"`` in ``~/.bashrc``
(``zsh_source`` for zsh, ``fish_source`` for fish).
"""

from __future__ import annotations

from bulkpatch.cli.group import COMPLETION, FIRST_COMMAND, ONE_LINE, ORDER, Commands, cli, overview

__all__ = [
    "COMPLETION",
    "FIRST_COMMAND",
    "ONE_LINE",
    "ORDER",
    "Commands",
    "cli",
    "main",
    "overview",
]


def main() -> None:
    """The ``bulkpatch`` console script (and ``python -m bulkpatch``)."""
    cli.own_process = True  # what a command imports is loaded as Commands.loading says
    cli(prog_name="bulkpatch")
