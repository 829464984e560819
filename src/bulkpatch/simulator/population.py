"""Deterministic, realistic campaigns.

Each campaign is drawn from a ``random.Random`` seeded with the simulator's seed *and* its own key,
so a campaign is the same whatever other campaigns exist and in whatever order they are asked for
(which lets the state create campaigns lazily, on first use).

Generated objects are in the canonical form the API stores: ``app_config`` and ``allowed_schedule``
are exactly what ``AgentConfig`` / ``AllowedSchedule`` dump, so a GET before and after a PATCH that
sends the same values looks the same.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bulkpatch.core.models import CampaignStatus
from bulkpatch.core.rows import CampaignKey
from bulkpatch.simulator.config import DEFAULT_STATUS_WEIGHTS

#: ``end_timestamp`` bounds, relative to ``start_timestamp`` (from the API notes).
MIN_RUN = timedelta(seconds=120)
MAX_RUN = timedelta(days=30)

#: The fields of a campaign summary (what PATCH and PUT answer, and what a list holds).
SUMMARY_FIELDS: tuple[str, ...] = (
    "name",
    "campaign_id",
    "status",
    "app_id",
    "created_by",
    "created_at",
    "updated_at",
    "description",
    "app_type",
    "app_version",
    "updated_by",
)

_APPS = (
    "loan-reminder",
    "kyc-followup",
    "nps-survey",
    "collections-hi",
    "appointment-confirm",
    "order-status",
    "renewal-nudge",
    "feedback-ta",
)
_PURPOSES = (
    "EMI reminder",
    "KYC follow up",
    "NPS survey",
    "Collections",
    "Appointment confirm",
    "Order status",
    "Policy renewal",
    "Feedback call",
    "Lead qualify",
    "Payment due",
)
_REGIONS = ("North", "South", "East", "West", "Pune", "Chennai", "Delhi NCR", "Kolkata", "Hyd")
_PROVIDERS = ("exotel", "plivo", "twilio", "knowlarity", "ozonetel")
_PEOPLE = ("asha.rao", "vikram.s", "meera.iyer", "rahul.k", "ops-bot")
#: Calling hours in several zones, so that some campaigns are calling at any hour of the day
#: (what ``--outside-calling-hours`` meets).
_TIMEZONES: tuple[str, ...] = (
    "Asia/Kolkata",
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
)
_TIMEZONE_WEIGHTS: tuple[float, ...] = (0.55, 0.15, 0.15, 0.15)
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
#: Descriptions a hostile data set holds: rich markup and spreadsheet formulas (<= 150 chars).
HOSTILE_DESCRIPTIONS = (
    "Diwali offer [/] ends soon",
    "[bold red]x[/bold red] {name}",
    '=HYPERLINK("https://example.invalid","x")',
    "+91 calls [link=https://example.invalid]here[/link]",
    "-1+1 {name}",
    "@SUM(1+1) [/bold]",
)


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, microseconds only when there are any."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def default_anchor() -> datetime:
    """Today at 00:00 UTC: generated dates stay near the present, and stable within a day."""
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _rng(seed: int, key: CampaignKey) -> random.Random:
    return random.Random(f"{seed}|{key.org_id}|{key.workspace_id}|{key.campaign_id}")


def _phone(rng: random.Random) -> str:
    return f"+91{rng.randint(6, 9)}{rng.randrange(10**9):09d}"


def _retry_config(rng: random.Random) -> dict[str, Any]:
    max_retries = rng.choice((0, 1, 2, 3, 3, 3, 5))
    interval: float | list[float] | None
    if max_retries and rng.random() < 0.3:
        interval = [float(rng.choice((5, 10, 15, 30, 60))) for _ in range(max_retries)]
    else:
        interval = float(rng.choice((5, 10, 15, 30, 60)))
    return {
        "max_retries": max_retries,
        "retry_on": {
            "busy": {"enabled": rng.random() < 0.9},
            "failed": {"enabled": rng.random() < 0.8},
            "no_answer": {"enabled": rng.random() < 0.9},
            "short_duration": {
                "enabled": rng.random() < 0.5,
                "threshold_seconds": rng.choice((5, 10, 15, 20)),
            },
            "provider_error": {
                "enabled": True,
                "max_retries": rng.choice((3, 5, 10)),
                "retry_interval_minutes": float(rng.choice((2, 5, 6))),
            },
            "internal_error": {
                "enabled": True,
                "max_retries": 3,
                "retry_interval_minutes": 5.0,
            },
        },
        "retry_interval_minutes": interval,
    }


def _app_config(rng: random.Random) -> dict[str, Any]:
    app = rng.choice(_APPS)
    app_type = "workflow" if rng.random() < 0.1 else "agent"
    connections = [
        {
            "connection_id": f"conn-{rng.choice(_PROVIDERS)}-{rng.randint(1, 40):02d}",
            "phone_numbers": [_phone(rng) for _ in range(rng.choice((1, 1, 2, 3)))],
            "weight": rng.choice((1, 1, 1, 2, 3, 5)),
        }
        for _ in range(rng.choice((1, 1, 1, 2, 3)))
    ]
    webhook: dict[str, Any] | None = None
    if rng.random() < 0.7:
        webhook = {
            "url": f"https://hooks.example.com/{app}/{rng.randrange(16**6):06x}",
            "metadata": {"team": rng.choice(("ops", "growth", "risk")), "env": "prod"},
        }
    return {
        "app_id": f"app-{app}",
        "app_type": app_type,
        "app_version": rng.randint(1, 9),
        "attempts_per_second": float(rng.choice((0.5, 1, 2, 5, 10, 20, 50))),
        "connection_configs": connections,
        "retry_config": _retry_config(rng),
        "webhook_config": webhook,
    }


def _schedule(rng: random.Random) -> dict[str, Any]:
    days = list(_WEEKDAYS)
    if rng.random() < 0.4:
        days.append("Saturday")
    if rng.random() < 0.1:
        days.append("Sunday")
    return {
        "allowed_start_time": rng.choice(("08:00", "09:00", "09:30", "10:00")),
        "allowed_end_time": rng.choice(("17:00", "18:00", "19:00", "20:30")),
        "allowed_days": days,
        "timezone": rng.choices(_TIMEZONES, _TIMEZONE_WEIGHTS)[0],
    }


def _start_offset(rng: random.Random, status: str) -> timedelta:
    """Where the start lies relative to the anchor, so that the status is plausible."""
    hours = {
        "scheduled": (1, 240),
        "active": (-240, -1),
        "paused": (-240, 240),
        "ended": (-1440, -750),
        "cancelled": (-480, 240),
    }[status]
    return timedelta(minutes=rng.randint(hours[0] * 60, hours[1] * 60))


def generate_campaign(
    key: CampaignKey,
    *,
    seed: int = 0,
    anchor: datetime | None = None,
    status_weights: tuple[tuple[CampaignStatus, float], ...] = DEFAULT_STATUS_WEIGHTS,
    number: int | None = None,
    hostile_text: bool = False,
) -> dict[str, Any]:
    """The full detail of one campaign, as GET answers it.  Same inputs, same campaign.

    With ``hostile_text`` every description holds rich markup or a spreadsheet formula (drawn
    apart, so that every other field is the same as without it)."""
    rng = _rng(seed, key)
    anchor = anchor or default_anchor()
    statuses, weights = zip(*status_weights, strict=True)
    status: str = rng.choices(statuses, weights)[0]
    start = anchor + _start_offset(rng, status)
    end = start + timedelta(minutes=rng.randint(2 * 24 * 60, 29 * 24 * 60))
    created = min(start, anchor) - timedelta(minutes=rng.randint(60, 20 * 24 * 60))
    updated = created + (min(start, anchor) - created) * rng.random()
    updated = updated.replace(microsecond=0)
    app_config = _app_config(rng)
    label = number if number is not None else rng.randint(1, 9999)
    name = f"{rng.choice(_PURPOSES)} {rng.choice(_REGIONS)} {label}"[:50]
    description = (
        None
        if rng.random() < 0.3
        else f"{name}: outbound calls by {app_config['app_id']}, owner {rng.choice(_PEOPLE)}"
    )
    creator = f"{rng.choice(_PEOPLE)}@example.com"
    if hostile_text and description is not None:
        template = random.Random(f"{seed}|hostile|{key}").choice(HOSTILE_DESCRIPTIONS)
        description = template.format(name=name)[:150]
    return {
        "name": name,
        "campaign_id": key.campaign_id,
        "status": status,
        "app_id": app_config["app_id"],
        "created_by": creator,
        "created_at": format_timestamp(created),
        "updated_at": format_timestamp(updated),
        "description": description,
        "app_type": app_config["app_type"],
        "app_version": app_config["app_version"],
        "updated_by": creator,
        "app_config": app_config,
        "start_timestamp": format_timestamp(start),
        "end_timestamp": format_timestamp(end),
        "allowed_schedule": _schedule(rng),
    }


def generated_id(number: int, total: int) -> str:
    """``cmp-000123``: six digits, more when the population needs them."""
    width = max(6, len(str(total)))
    return f"cmp-{number:0{width}d}"


def set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path (``app_config.retry_config.max_retries``), creating objects on the way."""
    *parents, last = path.split(".")
    node = target
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[last] = copy.deepcopy(value)


def apply_overrides(detail: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """Set each dotted path, then keep the summary's app fields in step with ``app_config``.

    A top-level ``app_id`` / ``app_type`` / ``app_version`` override is applied to ``app_config``
    too, so that the summary and the configuration never disagree.
    """
    for path, value in overrides.items():
        if path in ("app_id", "app_type", "app_version"):
            path = f"app_config.{path}"
        set_path(detail, path, value)
    if "end_timestamp" in overrides and "start_timestamp" not in overrides:
        _keep_run_possible(detail)
    sync_summary(detail)


def _keep_run_possible(detail: dict[str, Any]) -> None:
    """An end set from outside (a sheet's ``expect.end_timestamp``, an admin edit) that its
    start makes impossible -- before start + 120 s, or after start + 30 days -- moves the start
    with it, ten days before the end: the API holds no such campaign."""
    try:
        start = _instant(detail.get("start_timestamp"))
        end = _instant(detail.get("end_timestamp"))
    except (TypeError, ValueError):
        return
    if start is None or end is None or start + MIN_RUN <= end <= start + MAX_RUN:
        return
    detail["start_timestamp"] = format_timestamp(end - timedelta(days=10))


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else None


def sync_summary(detail: dict[str, Any]) -> None:
    """Copy ``app_id`` / ``app_type`` / ``app_version`` from ``app_config`` to the summary."""
    app_config = detail.get("app_config")
    if isinstance(app_config, dict):
        for name in ("app_id", "app_type", "app_version"):
            if name in app_config:
                detail[name] = app_config[name]


def summary_of(detail: Mapping[str, Any]) -> dict[str, Any]:
    return {name: detail.get(name) for name in SUMMARY_FIELDS}
