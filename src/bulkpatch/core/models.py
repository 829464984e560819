"""The Scheduling API data as pydantic v2 models: one definition for the client and the simulator.

The field rules (docs/sheet.md) live here, on small annotated leaf types (``Name``, ``ClockTime``,
``DayList``, ...).  The sheet validator checks one cell against one leaf type, the simulator checks
a whole PATCH body against :class:`UpdateCampaignRequest`, and both give the same verdict because
they use the same types.

Two families of models:

* request models (``extra="forbid"``): what a PATCH body may hold.  ``allowed_schedule`` and
  ``app_config`` are *full replacements*, so their models require every field the API stores.
* response models (``extra="allow"``): what GET and PATCH answer.  Unknown fields the real API adds
  are kept, never dropped, so that a merge sends them back untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib.resources import files
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from bulkpatch.core.ids import ID_PATTERN as ID_PATTERN
from bulkpatch.core.ids import is_valid_id as is_valid_id

# --------------------------------------------------------------------------------------------
# Leaf types: one rule each.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SheetExample:
    """A type's cell in a sheet, as JSON text, for the message about JSON that cannot be read
    (``Annotated[..., SheetExample("...")]``; a model says it as :meth:`Sheeted.sheet_example`).
    Pydantic ignores it."""

    text: str


#: Campaign name: 1-50 letters, digits, spaces, hyphens, underscores.
Name = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9 _-]+$")]

#: Campaign description: at most 150 characters.
Description = Annotated[str, StringConstraints(max_length=150)]

_CLOCK_RE = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")


_DATE_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d")


def _check_clock(value: str) -> str:
    if not _CLOCK_RE.fullmatch(value):
        if _DATE_TIME_RE.match(value):
            raise ValueError(
                "is a date and time, not a time of day HH:MM (a spreadsheet time cell is a "
                "date): format the column as text and type the time, for example 09:00"
            )
        raise ValueError("must be a 24-hour time HH:MM, for example 09:00 or 18:30")
    return value


#: ``HH:MM``, 24-hour.
ClockTime = Annotated[str, AfterValidator(_check_clock)]

DAYS: tuple[str, ...] = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
DayName = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _check_days(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must name at least one day")
    seen: set[str] = set()
    for day in value:
        if day in seen:
            raise ValueError(f"names {day} twice")
        seen.add(day)
    return value


#: A non-empty list of distinct day names, ``Monday`` ... ``Sunday``.
DayList = Annotated[
    list[DayName],
    AfterValidator(_check_days),
    SheetExample('["Monday", "Tuesday"] (or Mon,Tue)'),
]


#: The IANA regions: a time zone is ``Region/Location`` (``Asia/Kolkata``,
#: ``America/Argentina/Buenos_Aires``), or ``UTC``.
TIMEZONE_REGIONS: frozenset[str] = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)
_UTC_ALIASES = frozenset(
    {"etc/utc", "etc/uct", "etc/gmt", "gmt", "uct", "universal", "zulu", "etc/universal", "z"}
)


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    """The region names of the ``tzdata`` package's own list: the same on every host, whatever
    its system time zone files hold (``localtime``, ``posixrules``, ``posix/...`` are not
    zones)."""
    names = files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    regional = {n for n in names if "/" in n and n.split("/", 1)[0] in TIMEZONE_REGIONS}
    return frozenset({*regional, "UTC"})


@lru_cache(maxsize=1)
def _timezones_by_lower() -> dict[str, str]:
    return {name.lower(): name for name in _timezones()}


def is_timezone(value: str) -> bool:
    """True for an IANA region time zone name (``Asia/Kolkata``) or ``UTC``."""
    return value in _timezones()


def _check_timezone(value: str) -> str:
    if value in _timezones():
        return value
    lowered = value.strip().lower()
    if lowered in _UTC_ALIASES:
        raise ValueError("is not a region time zone name: write UTC")
    close = _timezones_by_lower().get(lowered)
    if close is not None:
        raise ValueError(f"is not an IANA time zone name: did you mean {close}?")
    raise ValueError(
        "is not an IANA time zone name: use Region/City, for example Asia/Kolkata, or UTC"
    )


#: An IANA time zone name.
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]


#: Integer fields hold at most a signed 32-bit integer.  (The API does not document a limit;
#: this is the common one, and refuses ``9999999999999999999999999`` before the API must.)
MAX_INT = 2**31 - 1

_INT_TEXT = re.compile(r"[+-]?\d+", re.ASCII)
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_NON_FINITE_TEXT = frozenset(
    {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan", "-nan"}
)


def _whole_number(value: Any) -> Any:
    """A whole number: an int, an integral float (Parquet, Excel: ``7.0``), or text of digits
    only (``7``, ``-3``).  ``1_000``, ``7.0`` as text, ``0x10`` and ``1e3`` are refused."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError("must be a whole number, without a fraction")
    if isinstance(value, str):
        text = value.strip()
        if _INT_TEXT.fullmatch(text):
            if len(text) > 30:
                raise ValueError(f"must be at most {MAX_INT}")
            return int(text)
        if _NUMBER_TEXT.fullmatch(text):
            raise ValueError("must be a whole number written with digits only, for example 7")
        raise ValueError("must be a whole number (digits only, for example 7)")
    return value


def _plain_number(value: Any) -> Any:
    """A number: int or float, or text of a plain decimal number (``2.5``, ``1e3``).
    ``1_000`` and ``0x10`` are refused; ``inf`` and ``nan`` are left for the finite check."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER_TEXT.fullmatch(text) and text.lower() not in _NON_FINITE_TEXT:
            raise ValueError("must be a number, for example 2.5")
    return value


AppVersion = Annotated[int, BeforeValidator(_whole_number), Field(ge=1, le=MAX_INT)]
AttemptsPerSecond = Annotated[float, BeforeValidator(_plain_number), Field(ge=0.1, le=500)]
MaxRetries = Annotated[int, BeforeValidator(_whole_number), Field(ge=0, le=20)]
Minutes = Annotated[float, BeforeValidator(_plain_number), Field(ge=0)]
#: A number of minutes, or a list with one number per retry.
RetryInterval = Minutes | list[Minutes]
Weight = Annotated[int, BeforeValidator(_whole_number), Field(ge=1, le=MAX_INT)]
Seconds = Annotated[int, BeforeValidator(_whole_number), Field(ge=0, le=MAX_INT)]
NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]

_E164_RE = re.compile(r"^\+\d{7,15}$")


def _check_e164(value: str) -> str:
    if not _E164_RE.fullmatch(value):
        raise ValueError(
            "must be an E.164 phone number: + and 7-15 digits, for example +919812345678"
        )
    return value


PhoneNumber = Annotated[str, AfterValidator(_check_e164)]


_SPACE_RE = re.compile(r"\s")


def _check_https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc or _SPACE_RE.search(value):
        raise ValueError("must be an absolute https:// URL")
    return value


HttpsUrl = Annotated[str, AfterValidator(_check_https_url)]


#: ISO 8601 with a time zone.  A naive time is refused ("Input should have timezone info").
EndTimestamp = AwareDatetime

CampaignStatus = Literal["ended", "active", "paused", "scheduled", "cancelled"]
AppType = Literal["agent", "workflow"]
StatusAction = Literal["pause", "resume", "cancel"]

#: Statuses in which the API accepts a PATCH.
EDITABLE_STATUSES: frozenset[str] = frozenset({"paused", "scheduled"})

# --------------------------------------------------------------------------------------------
# Request models (PATCH body)
# --------------------------------------------------------------------------------------------

#: ``defer_build``: a model's validator is built when it first validates, not on import (about
#: 25 ms of start-up for all of them): a run reads the fields of most and validates few.
_STRICT = ConfigDict(extra="forbid", defer_build=True)


class Sheeted(BaseModel):
    """A request model; ``_example`` is its cell in a sheet as JSON text (see SheetExample)."""

    model_config = _STRICT
    _example: ClassVar[str | None] = None

    @classmethod
    def sheet_example(cls) -> str | None:
        return cls._example


class AllowedSchedule(Sheeted):
    """``allowed_schedule``: when the campaign may dial.  Sent whole (a full replacement)."""

    _example = '{"allowed_start_time": "10:00", "allowed_end_time": "19:00"}'

    allowed_start_time: ClockTime
    allowed_end_time: ClockTime
    allowed_days: DayList
    timezone: TimeZoneName = "Asia/Kolkata"

    @model_validator(mode="after")
    def _start_before_end(self) -> Self:
        if self.allowed_start_time >= self.allowed_end_time:
            raise ValueError(
                f"allowed_start_time {self.allowed_start_time} must be before "
                f"allowed_end_time {self.allowed_end_time}"
            )
        return self


class ConnectionConfig(Sheeted):
    connection_id: NonEmptyStr
    phone_numbers: Annotated[list[PhoneNumber], Field(min_length=1)]
    weight: Weight = 1


class RetryToggle(Sheeted):
    enabled: bool = True


class ShortDurationRetry(Sheeted):
    enabled: bool = True
    threshold_seconds: Seconds | None = None


class ErrorRetry(Sheeted):
    enabled: bool = True
    max_retries: MaxRetries | None = None
    retry_interval_minutes: Minutes | None = None


class RetryOn(Sheeted):
    busy: RetryToggle | None = None
    failed: RetryToggle | None = None
    no_answer: RetryToggle | None = None
    short_duration: ShortDurationRetry | None = None
    provider_error: ErrorRetry | None = None
    internal_error: ErrorRetry | None = None


class RetryConfig(Sheeted):
    _example = '{"max_retries": 3, "retry_interval_minutes": [5, 10]}'

    max_retries: MaxRetries = 3
    retry_on: RetryOn | None = None
    retry_interval_minutes: RetryInterval | None = None


class WebhookConfig(Sheeted):
    _example = '{"url": "https://example.com/hook"}'

    url: HttpsUrl
    metadata: Annotated[dict[str, Any], SheetExample('{"team": "sales"}')] = Field(
        default_factory=dict
    )


class AgentConfig(Sheeted):
    """``app_config``: sent whole (a full replacement).

    ``app_id`` and ``app_type`` may be omitted; when sent they must equal the stored values.
    """

    _example = '{"app_version": 7}'

    app_id: NonEmptyStr | None = None
    app_type: AppType | None = None
    app_version: AppVersion
    attempts_per_second: AttemptsPerSecond
    connection_configs: Annotated[
        list[ConnectionConfig],
        Field(min_length=1),
        SheetExample('[{"connection_id": "c1", "phone_numbers": ["+919812345678"], "weight": 1}]'),
    ]
    retry_config: RetryConfig
    webhook_config: WebhookConfig | None = None


class UpdateCampaignRequest(Sheeted):
    """The PATCH body.  Every field is optional; a field that is absent is left as it is."""

    name: Name | None = None
    description: Description | None = None
    app_config: AgentConfig | None = None
    end_timestamp: EndTimestamp | None = None
    allowed_schedule: AllowedSchedule | None = None


class StatusChange(BaseModel):
    """Body of ``PUT /campaigns/{id}/status``."""

    model_config = _STRICT

    action: StatusAction


# --------------------------------------------------------------------------------------------
# Response models
# --------------------------------------------------------------------------------------------

_OPEN = ConfigDict(extra="allow", defer_build=True)  # built on first use, as above


class CampaignSummary(BaseModel):
    """What PATCH answers (and what a list holds per campaign)."""

    model_config = _OPEN

    name: str
    campaign_id: str
    status: CampaignStatus
    app_id: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    app_type: AppType = "agent"
    app_version: int | None = None
    updated_by: str | None = None


class CampaignDetail(CampaignSummary):
    """What ``GET /campaigns/{id}`` answers: the summary plus the configuration objects."""

    app_config: dict[str, Any]
    start_timestamp: datetime
    end_timestamp: datetime | None = None
    allowed_schedule: dict[str, Any] | None = None


class CampaignPage(BaseModel):
    """What ``GET /campaigns`` answers."""

    model_config = _OPEN

    items: list[CampaignSummary]
    total: int
    next_page_uri: str | None = None
    prev_page_uri: str | None = None
