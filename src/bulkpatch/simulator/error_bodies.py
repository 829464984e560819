"""Error answers as HTTP responses: the body's shape, hostile text and padding the config asks for.

With the defaults (``error_shape="detail"``, no hostile text, no padding) an error is answered in
its default shape at once: FastAPI's ``{"detail": ...}``, or ``{"error": {"message", "code"}}``
for the gateway's errors (429, 503, injected 5xx).

* ``error_shape``: ``sarvam`` answers every 4xx as ``{"error": ...}``; ``alternate`` answers the
  4xx in turn as ``{"detail": ...}`` and ``{"error": ...}``.  The gateway's errors keep theirs.
* ``hostile_text``: every message starts with a spreadsheet formula (``=``, ``+``, ``-``, ``@``
  in turn) and carries rich markup and control characters (:func:`hostile`).
* ``error_body_bytes``: the message is padded so that the body is at least that many bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

from bulkpatch.simulator.config import SimulatorConfig
from bulkpatch.simulator.errors import CODES, HTML_ERROR_PAGE, ApiError

#: Formula starts, used in turn: a spreadsheet would run each of these.
HOSTILE_PREFIXES = ('=HYPERLINK("https://example.invalid","x")', "+1+1", "-1+1", "@SUM(1+1)")
#: Rich markup (an unbalanced ``[/]`` and a style), CR, LF and an ANSI colour escape.
HOSTILE_SUFFIX = " [/] [bold red]x[/bold red]\r\n\x1b[31mred\x1b[0m\r"
_PAD = "x"


def hostile(message: str, turn: int = 0) -> str:
    """``message`` as a hostile server would write it: formula start, markup, control chars."""
    return f"{HOSTILE_PREFIXES[turn % len(HOSTILE_PREFIXES)]} {message}{HOSTILE_SUFFIX}"


def _same(text: str) -> str:
    return text


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class ErrorWriter:
    """Turns :class:`ApiError` and injected 5xx into responses, as the config says."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.shape = config.error_shape
        self.hostile = config.hostile_text
        self.pad_to = config.error_body_bytes
        #: The defaults: no per-answer work beyond the JSON itself.
        self.plain = self.shape == "detail" and not self.hostile and not self.pad_to
        self._turns = 0  # hostile prefixes, in turn
        self._alternations = 0  # detail / sarvam, in turn

    def response(self, exc: ApiError) -> web.Response:
        response = web.Response(
            body=self.body(exc), status=exc.status, content_type="application/json"
        )
        for name, value in exc.headers.items():
            response.headers[name] = value
        return response

    def body(self, exc: ApiError) -> bytes:
        if self.plain:
            return _dumps(exc.body)
        shape = "sarvam" if exc.gateway else self.shape
        if shape == "alternate":
            shape = "detail" if self._alternations % 2 == 0 else "sarvam"
            self._alternations += 1
        text = self._text()
        value = exc.detail_body(text) if shape == "detail" else exc.sarvam_body(text)
        data = _dumps(value)
        if len(data) < self.pad_to:
            _pad_message(value, self.pad_to - len(data))
            data = _dumps(value)
        return data

    def failure(self, status: int, html: bool) -> web.Response:
        """An injected 5xx from the gateway: an nginx HTML page or ``{"error": ...}``."""
        reason = HTTPStatus(status).phrase
        if not html:
            exc = ApiError(status, reason, code=CODES.get(status), gateway=True)
            return self.response(exc)
        shown = self._text()(reason)
        page = HTML_ERROR_PAGE.format(status=status, reason=shown, extra="")
        size = len(page.encode())
        if size < self.pad_to:
            extra = _PAD * (self.pad_to - size)
            page = HTML_ERROR_PAGE.format(status=status, reason=shown, extra=extra)
        return web.Response(text=page, status=status, content_type="text/html")

    def _text(self) -> Callable[[str], str]:
        if not self.hostile:
            return _same
        turn = self._turns
        self._turns += 1
        return lambda message: hostile(message, turn)


def _pad_message(value: dict[str, Any], count: int) -> None:
    """Lengthen the body's (first) message by ``count`` ASCII characters."""
    if "error" in value:
        value["error"]["message"] += _PAD * count
    elif isinstance(value["detail"], str) or not value["detail"]:
        value["detail"] = str(value["detail"] or "") + _PAD * count
    else:
        value["detail"][0]["msg"] += _PAD * count
