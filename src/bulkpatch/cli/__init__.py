"""The command line: a thin shell turning library results and errors into messages and exit codes.

Each command lives in a module of its own and registers itself on :data:`cli`.
"""

from __future__ import annotations

import click

from bulkpatch.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="bulkpatch")
def cli() -> None:
    """Apply a CSV or Parquet sheet of per-campaign changes to the Sarvam Scheduling API.

    \b
    Start with:
      bulkpatch validate SHEET          check every row offline
      bulkpatch plan SHEET --simulate   preview against the embedded simulator
      bulkpatch run SHEET --simulate    apply it to the embedded simulator
    """


def main() -> None:
    # Commands register on import.
    from bulkpatch.cli import commands  # noqa: F401

    cli(prog_name="bulkpatch")
