"""The simulator's error answers: codes and messages in one place, bodies in the API's shapes.

The real API's codes and texts for most errors are not documented (see the notes on the Scheduling
API).  Each guess is one constant here, so that a guess that turns out wrong is a one-line change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

#: PATCH of a campaign that is not ``paused`` / ``scheduled``.
NOT_EDITABLE_STATUS = 409
NOT_EDITABLE_MESSAGE = (
    "Campaign can only be updated when status is paused or scheduled (current: {status})"
)
#: PUT status with an action the campaign's status does not allow.
ILLEGAL_TRANSITION_STATUS = 409
ILLEGAL_TRANSITION_MESSAGE = (
    "Cannot {action} a campaign whose status is {status} (allowed from: {allowed})"
)
#: Resume beyond the org's limit of live (active + scheduled) campaigns.
LIVE_LIMIT_STATUS = 409
LIVE_LIMIT_MESSAGE = (
    "Organisation already has {count} active or scheduled campaigns (limit: {limit})"
)
NOT_FOUND_STATUS = 404
NOT_FOUND_MESSAGE = "Campaign not found"
UNAUTHORIZED_STATUS = 401
MISSING_KEY_MESSAGE = "Missing API key: send it in the X-API-Key header"
WRONG_KEY_MESSAGE = "Invalid API key"
REVOKED_KEY_MESSAGE = "API key has been revoked"
RATE_LIMITED_STATUS = 429
OUTAGE_STATUS = 503

HTML_ERROR_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class ApiError(Exception):
    """An error answer: raised by the state's operations, turned into a response by the app."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers: Mapping[str, str] = headers or {}

    def __str__(self) -> str:
        return f"{self.status} {json.dumps(self.body, default=str)}"


def detail(status: int, message: str) -> ApiError:
    """FastAPI's ``HTTPException`` shape: ``{"detail": "..."}``."""
    return ApiError(status, {"detail": message})


def sarvam_error(
    status: int, message: str, code: str, headers: Mapping[str, str] | None = None
) -> ApiError:
    """The shape Sarvam's other APIs use: ``{"error": {"message": ..., "code": ...}}``."""
    return ApiError(status, {"error": {"message": message, "code": code}}, headers)


def field_error(
    loc: Sequence[str | int], msg: str, type_: str = "value_error", value: Any = None
) -> dict[str, Any]:
    """One item of a FastAPI 422 ``detail`` list."""
    item: dict[str, Any] = {"type": type_, "loc": list(loc), "msg": msg}
    if value is not None:
        item["input"] = value
    return item


def unprocessable(errors: list[dict[str, Any]]) -> ApiError:
    """A FastAPI-shaped 422: ``{"detail": [{"loc": [...], "msg": ..., "type": ...}, ...]}``."""
    return ApiError(422, {"detail": errors})


def from_validation_error(exc: ValidationError, where: str) -> ApiError:
    """A pydantic error as FastAPI reports it, each ``loc`` prefixed with ``where`` (``body``)."""
    errors: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False, include_context=False):
        item: dict[str, Any] = {
            "type": err["type"],
            "loc": [where, *err["loc"]],
            "msg": err["msg"],
        }
        if "input" in err:
            item["input"] = _json_safe(err["input"])
        errors.append(item)
    return unprocessable(errors)


def _json_safe(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value
