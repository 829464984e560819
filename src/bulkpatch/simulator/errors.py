"""The simulator's error answers: codes and messages in one place, bodies in the API's shapes.

The real API's codes and texts for most errors are not documented (see the notes on the Scheduling
API).  Each guess is one constant here, so that a guess that turns out wrong is a one-line change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
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
#: A key used on a campaign of an org it is not allowed to act on.
FORBIDDEN_STATUS = 403
FORBIDDEN_ORG_MESSAGE = "This API key is not allowed to act on org {org_id}"
#: A campaign the key may not see (``forbid``).
FORBIDDEN_CAMPAIGN_MESSAGE = "You do not have permission to access this campaign"
RATE_LIMITED_STATUS = 429
OUTAGE_STATUS = 503

HTML_ERROR_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "{extra}</body>\r\n</html>\r\n"
)


#: The machine-readable ``code`` of the ``{"error": ...}`` shape, by status.
CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "unprocessable_entity",
    429: "rate_limit_exceeded",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


class ApiError(Exception):
    """An error answer: raised by the state's operations, turned into a response by the app.

    It holds the *content* (status, message, code, and for a FastAPI 422 the list of field
    problems); the app chooses the body's shape (``bulkpatch.simulator.error_bodies``).
    ``gateway`` errors (429, 503, injected 5xx) always take the ``{"error": ...}`` shape.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        problems: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        gateway: bool = False,
    ) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.code = code or CODES.get(status, "error")
        self.problems = problems
        self.headers: Mapping[str, str] = headers or {}
        self.gateway = gateway

    def detail_body(self, text: Callable[[str], str] = str) -> dict[str, Any]:
        """FastAPI's shape: ``{"detail": "..."}``, or ``{"detail": [problems]}`` for a 422."""
        if self.problems is None:
            return {"detail": text(self.message)}
        return {"detail": [{**item, "msg": text(item["msg"])} for item in self.problems]}

    def sarvam_body(self, text: Callable[[str], str] = str) -> dict[str, Any]:
        """The shape Sarvam's other APIs use: ``{"error": {"message": ..., "code": ...}}``."""
        return {"error": {"message": text(self.message), "code": self.code}}

    @property
    def body(self) -> dict[str, Any]:
        """The body in the default shape."""
        return self.sarvam_body() if self.gateway else self.detail_body()

    def __str__(self) -> str:
        return f"{self.status} {json.dumps(self.body, default=str)}"


def detail(status: int, message: str) -> ApiError:
    """An error FastAPI's ``HTTPException`` answers as ``{"detail": "..."}``."""
    return ApiError(status, message)


def sarvam_error(
    status: int, message: str, code: str, headers: Mapping[str, str] | None = None
) -> ApiError:
    """A gateway's error, always ``{"error": {"message": ..., "code": ...}}``."""
    return ApiError(status, message, code=code, headers=headers, gateway=True)


def field_error(
    loc: Sequence[str | int], msg: str, type_: str = "value_error", value: Any = None
) -> dict[str, Any]:
    """One item of a FastAPI 422 ``detail`` list."""
    item: dict[str, Any] = {"type": type_, "loc": list(loc), "msg": msg}
    if value is not None:
        item["input"] = value
    return item


def unprocessable(errors: list[dict[str, Any]]) -> ApiError:
    """A FastAPI-shaped 422: ``{"detail": [{"loc": [...], "msg": ..., "type": ...}, ...]}``.
    Its one-line ``message`` (for the ``{"error": ...}`` shape) joins ``loc: msg`` of each."""
    message = "; ".join(
        ".".join(str(part) for part in item["loc"]) + ": " + str(item["msg"]) for item in errors
    )
    return ApiError(422, message or "Unprocessable entity", problems=errors)


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
