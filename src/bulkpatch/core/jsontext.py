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
* :func:`loads` reads with orjson and falls back to :func:`json.loads` for the texts orjson
  refuses and :mod:`json` reads (``NaN``, lone surrogates, ``1e400``), so an answer readable
  before stays readable, with the same values.  orjson reads an integer beyond 64 bits as a
  float, silently: a text with a run of 19 digits or more goes to :mod:`json` from the start.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


#: A number that orjson might read as a float though it is an integer (int64 has 19 digits).
_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")


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
    """:func:`json.loads`, faster: raises :class:`ValueError` for a text that is not JSON."""
    long = _LONG_DIGITS_BYTES.search(text) if isinstance(text, bytes) else _LONG_DIGITS.search(text)
    if long is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)
