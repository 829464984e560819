"""JSON on the hot path: orjson where it reads and writes the same as :mod:`json`, :mod:`json`
where it would not.

Every row of a run encodes a request body and two journal lines and decodes an answer; with the
standard library that was about a tenth of a run's CPU.  orjson does the same in a fraction of
the time, and these two functions keep :mod:`json`'s meaning:

* :func:`dumps` writes compact JSON (``separators=(",", ":")``) as UTF-8 bytes.  Values that
  :mod:`json` would hand to ``default=str`` (dates, dataclasses, anything unknown) get ``str``
  here too (an :class:`~enum.Enum` that is not a ``str`` is written as its value); dict keys
  that are not strings are written as :mod:`json` writes them.  Text is
  UTF-8 rather than ``\\u`` escapes: the same JSON to any reader.  A float ``NaN`` or
  ``Infinity`` (not JSON; only an answer that was not JSON either could carry one) is written
  as ``null``.
* :func:`loads` is :func:`json.loads`: exact for every number (an answer's values become the
  journal's before-values, which ``undo`` writes back).  orjson reads an integer beyond 64 bits
  as a float, silently, and spotting one in the text first costs as much as :mod:`json`'s own
  parse.
* :func:`loads_counting` is orjson's read, for folds over the journal that use its counts,
  outcomes, rows and times and never a campaign's values (``report.html``): an integer beyond
  64 bits comes back as a float there.  It raises :class:`ValueError` for what is not JSON, and
  reads ``NaN`` and the rest that only :mod:`json` reads through :mod:`json`.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _default(value: Any) -> str:
    # json's default=str, for what orjson does not write itself.
    return str(value)


def dumps(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes (what ``json.dumps(value, separators=(",", ":"),
    default=str)`` means)."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        # What orjson will not write (an integer beyond 64 bits, a float NaN inside a key...):
        # the standard library's text, byte for byte.
        return json.dumps(value, separators=(",", ":"), default=str).encode()


def loads(text: str | bytes) -> Any:
    """:func:`json.loads`: raises :class:`ValueError` for a text that is not JSON."""
    return json.loads(text)


def loads_counting(text: str | bytes) -> Any:
    """orjson's read (integers beyond 64 bits as floats): for folds that only count."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
