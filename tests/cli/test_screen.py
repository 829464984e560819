"""Off a terminal the command line writes through ``PlainConsole`` (no rich to import): the same
text rich writes there, lines kept whole, and rich's own drawing for a table."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table

from bulkpatch.cli.screen import PlainConsole, is_terminal, open_console, say

#: What the displays print, as they print it: text from a sheet or the API included.
LINES = [
    "run directory: /tmp/reports/sheet-20261207T101500Z",
    "a\ttab, a bell\x07, a carriage return\r and [bold]markup[/] as written",
    "two\nlines",
    "",
]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def both() -> tuple[PlainConsole, io.StringIO, Console, io.StringIO]:
    plain_out, rich_out = io.StringIO(), io.StringIO()
    return PlainConsole(file=plain_out), plain_out, Console(file=rich_out), rich_out


def test_off_a_terminal_the_plain_console_writes_what_rich_writes() -> None:
    plain, plain_out, rich, rich_out = both()

    for console in (plain, rich):
        for line in LINES:
            console.print(line, highlight=False, markup=False, soft_wrap=True)
            say(console, line, "bold red")
        say(console, "error: x " * 20, "yellow")
        console.print_json('{"run_dir": "/tmp/r", "outcomes": {"updated": 3}, "é": [1, 2.5]}')

    assert plain_out.getvalue() == rich_out.getvalue()


def test_a_table_on_the_plain_console_is_drawn_by_rich_as_before() -> None:
    plain, plain_out, rich, rich_out = both()
    table = Table(title="bulkpatch run")
    table.add_column("outcome")
    table.add_row("updated")

    plain.print(table)
    rich.print(table)

    assert plain_out.getvalue() == rich_out.getvalue()


def test_the_plain_console_keeps_a_long_line_whole_where_rich_cut_it_at_80_columns() -> None:
    plain, plain_out, rich, rich_out = both()
    line = "run directory: /srv/" + "x" * 100

    plain.print(line, highlight=False, markup=False)
    rich.print(line, highlight=False, markup=False)

    assert plain_out.getvalue() == line + "\n"
    assert rich_out.getvalue() != line + "\n"


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"TTY_COMPATIBLE": "0"},
        {"TTY_COMPATIBLE": "1"},
        {"FORCE_COLOR": "1"},
        {"FORCE_COLOR": ""},
        {"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"},
    ],
)
@pytest.mark.parametrize("stream", [io.StringIO, Tty])
def test_the_console_is_plain_exactly_where_rich_would_see_no_terminal(
    env: dict[str, str], stream: type[io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TTY_COMPATIBLE", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("sys.stderr", stream())

    assert is_terminal(stream()) == Console(file=stream()).is_terminal
    opened = open_console(stderr=True)
    assert isinstance(opened, PlainConsole) == (not Console(file=stream()).is_terminal)
