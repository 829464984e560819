"""Imports every command module so that each registers itself on the group."""

from __future__ import annotations

from bulkpatch.cli import (
    export,  # noqa: F401
    merge,  # noqa: F401
    report,  # noqa: F401
    run,  # noqa: F401
    simulate,  # noqa: F401
    validate,  # noqa: F401
    verify,  # noqa: F401
)
from bulkpatch.cli.group import cli
from bulkpatch.cli.telemetry import add_otel_flag

add_otel_flag(cli)  # --otel on every command that talks to the API
