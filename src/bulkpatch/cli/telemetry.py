"""``--otel``: traces and metrics to an OpenTelemetry collector (``bulkpatch.ops.observe``)."""

from __future__ import annotations

import logging

import click

from bulkpatch.core.errors import UsageError


def _otel(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """Telemetry on (exit 2 when the extra is missing).  The OpenTelemetry SDK's own complaints
    (a collector that is down) are not printed: the run says it in one line at its end."""
    logging.getLogger("opentelemetry").addHandler(logging.NullHandler())
    if value:
        # start-up cost: the library's telemetry loads only when --otel is given, not for
        # --help or shell completion
        from bulkpatch.ops.observe import request_otel

        try:
            request_otel()
        except UsageError as exc:
            raise click.UsageError(str(exc), ctx=ctx) from None


#: The commands that talk to the API, and so can be traced.
TRACED_COMMANDS = ("run", "plan", "resume", "undo", "verify", "export")
HELP = (
    "Send traces and metrics to an OpenTelemetry collector (OTLP over HTTP, where the "
    "OTEL_EXPORTER_OTLP_* environment says; on by itself when that names an endpoint). "
    "Needs `pip install 'bulkpatch[otel]'`."
)


def add_otel_flag(group: click.Group, names: tuple[str, ...] = TRACED_COMMANDS) -> None:
    """Give each of ``names`` that is one of :data:`TRACED_COMMANDS` and registered on ``group``
    the ``--otel`` flag (after its other options), once.  The lazy group calls it for each
    command it loads; ``cli/commands.py`` for all of them."""
    for name in names:
        command = group.commands.get(name)
        if name not in TRACED_COMMANDS or command is None:
            continue
        if any(p.name == "otel" for p in command.params):
            continue
        flag = click.Option(["--otel"], is_flag=True, expose_value=False, callback=_otel, help=HELP)
        command.params.append(flag)
