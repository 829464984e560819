"""Text that came from a sheet or the API is data: shown literally, shortened, made safe.

* :func:`shorten` -- any value as one short line for a message (``…`` marks a cut).
* :func:`printable` -- control characters (CR, LF, ESC, ...) replaced, so a terminal or a log
  line shows the text and cannot be steered by it.
* :func:`cap` -- a long text cut to a limit, saying so.
* :func:`safe_cell` -- a report cell a spreadsheet will not run as a formula (the OWASP
  CSV-injection rule: a cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading
  ``'``), also printable and capped.

Rich markup is never built from such text: print it with ``markup=False`` or as a
``rich.text.Text``.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Values in messages are shortened to about this many characters.
VALUE_WIDTH = 40
#: Server text kept in a report cell or a journal line at most (bytes of UTF-8, roughly).
MESSAGE_CAP = 2048
_CUT_NOTE = " … [cut: {n:,} more characters]"

_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
_BREAKS = re.compile(r"[\r\n\t]+")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def printable(text: str) -> str:
    """``text`` on one line: line breaks and tabs become a space, other control and
    bidirectional-override characters are dropped."""
    if text.isprintable():
        return text
    return _CONTROL.sub("", _BREAKS.sub(" ", text))


def cap(text: str, limit: int = MESSAGE_CAP) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + _CUT_NOTE.format(n=len(text) - limit)


def shorten(value: Any, width: int = VALUE_WIDTH) -> str:
    """A value as short, single-line, printable text for a message (``…`` marks a cut)."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    if not text.isprintable():
        text = " ".join(printable(text).split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text


def safe_cell(value: Any, *, limit: int = MESSAGE_CAP) -> Any:
    """A value for a report cell that spreadsheets open: printable, capped, never a formula.

    Numbers and None pass unchanged; text starting with a formula character gets a ``'``
    in front (what spreadsheets themselves use to mean "this is text").
    """
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_STARTS):
        value = "'" + value
    return cap(printable(value), limit)
