"""Where the command line writes: a rich console on a terminal, a plain writer everywhere else.

Off a terminal (a pipe, a file, a log collector, ``--quiet --json`` under cron) rich writes text
as it is: no colour, no bar.  :class:`PlainConsole` writes the same without importing rich
(about 20 ms of start-up), and without cutting long lines at 80 columns: a path or a command in a
log stays whole, to copy.  A rich renderable (a table at the end of a run) is still drawn by rich,
loaded then.

:func:`open_console` picks one as rich itself would decide whether the stream is a terminal
(``TTY_COMPATIBLE``, ``FORCE_COLOR``, ``isatty``).  :func:`say` writes one line in a style (the
style only shows on a terminal).
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO, TypeAlias

if TYPE_CHECKING:
    from rich.console import Console

#: What rich's Text removes from what it prints (bell, backspace, vertical tab, form feed, CR).
_CONTROL = str.maketrans({7: None, 8: None, 11: None, 12: None, 13: None})
#: rich's tab size.
TAB_SIZE = 8


class PlainConsole:
    """The part of rich's ``Console`` the command line uses, for a stream that is not a terminal.

    Text is written as it is (tabs expanded, the control characters rich drops dropped), one
    line per :meth:`print`; ``markup``, ``highlight`` and ``style`` change nothing off a terminal.
    """

    is_terminal = False

    def __init__(self, *, stderr: bool = False, file: TextIO | None = None) -> None:
        self._stderr = stderr
        self._file = file
        self._rich: Console | None = None

    @property
    def file(self) -> TextIO:
        """The stream, looked up when written to (as rich does: a test may swap sys.stderr)."""
        if self._file is not None:
            return self._file
        return sys.stderr if self._stderr else sys.stdout

    def print(
        self,
        *objects: Any,
        sep: str = " ",
        end: str = "\n",
        style: Any = None,
        highlight: bool | None = None,
        markup: bool | None = None,
        soft_wrap: bool | None = None,
    ) -> None:
        """Write ``objects``; a rich renderable (a table) is drawn by rich."""
        if any(not isinstance(o, str) for o in objects):
            drawn = self._drawn()
            drawn.print(
                *objects, sep=sep, end=end, style=style, highlight=highlight, soft_wrap=soft_wrap
            )
            return
        text = sep.join(objects).translate(_CONTROL).expandtabs(TAB_SIZE)
        self.file.write(text + end)
        self.file.flush()

    def print_json(self, text: str) -> None:
        """JSON text indented by two, as rich's ``print_json`` writes it off a terminal."""
        self.print(json.dumps(json.loads(text), indent=2, ensure_ascii=False))

    def _drawn(self) -> Console:
        if self._rich is None:
            # rich loads only for what plain text cannot draw (a table at the end of a run)
            from rich.console import Console

            self._rich = Console(file=self.file)
        return self._rich


if TYPE_CHECKING:
    #: What the displays write to: rich on a terminal, plain text elsewhere.
    Screen: TypeAlias = Console | PlainConsole


def is_terminal(stream: TextIO) -> bool:
    """Whether rich would treat ``stream`` as a terminal (``TTY_COMPATIBLE``, ``FORCE_COLOR``,
    then ``isatty``)."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def open_console(*, stderr: bool = False, soft_wrap: bool = False) -> Screen:
    """A rich console for a terminal, a :class:`PlainConsole` otherwise."""
    if not is_terminal(sys.stderr if stderr else sys.stdout):
        return PlainConsole(stderr=stderr)
    # rich loads only when it draws on a terminal
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=soft_wrap)


def say(console: Screen, text: str, style: str = "") -> None:
    """One line (or a few) in ``style``, never read as markup; kept whole (not wrapped)."""
    if isinstance(console, PlainConsole):
        console.print(text)
        return
    # rich loads only when it draws on a terminal
    from rich.text import Text

    console.print(Text(text, style=style), highlight=False, soft_wrap=True)
