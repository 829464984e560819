"""The campaign store and the API's rules, without HTTP.

Campaigns are created lazily: population only records which keys exist (and their overrides); a
campaign's detail is generated the first time anything looks at it.  Generation is deterministic
per key, so this changes nothing anyone can observe, and a simulator seeded with a million
campaigns starts at once.

Operations that the API performs (:meth:`SimulatorState.apply_patch`,
:meth:`SimulatorState.change_status`, ...) raise :class:`~bulkpatch.simulator.errors.ApiError`
for an error answer; the web app turns it into a response.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from bulkpatch.core.models import EDITABLE_STATUSES, StatusChange, UpdateCampaignRequest
from bulkpatch.core.rows import CampaignKey, as_key
from bulkpatch.simulator import errors
from bulkpatch.simulator.config import SimulatorConfig
from bulkpatch.simulator.population import (
    MAX_RUN,
    MIN_RUN,
    apply_overrides,
    default_anchor,
    format_timestamp,
    generate_campaign,
    generated_id,
    parse_timestamp,
    summary_of,
    sync_summary,
)
from bulkpatch.simulator.stats import SimStats

#: action -> (statuses it is allowed from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "pause": (frozenset({"scheduled", "active"}), "paused"),
    "resume": (frozenset({"paused"}), "scheduled"),
    "cancel": (frozenset({"scheduled", "active", "paused"}), "cancelled"),
}
LIVE_STATUSES = frozenset({"active", "scheduled"})
_NO_OVERRIDES: Mapping[str, Any] = MappingProxyType({})
SORT_FIELDS = ("created_at", "updated_at", "name", "campaign_id", "status")
MAX_PAGE = 100
#: Who changes a campaign through ``/_sim/campaigns/...``: someone other than any API key.
OTHER_USER = "someone.else@example.com"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class _Stored:
    """One campaign: its detail, and the detail's JSON cached until it changes."""

    __slots__ = ("_json", "detail")

    def __init__(self, detail: dict[str, Any]) -> None:
        self.detail = detail
        self._json: bytes | None = None

    def json(self) -> bytes:
        if self._json is None:
            self._json = _dumps(self.detail)
        return self._json

    def changed(self) -> None:
        self._json = None


class SimulatorState:
    """Every campaign the simulator knows, and its request statistics (:attr:`stats`).

    Keys may be :class:`CampaignKey`, plain ``(org, workspace, campaign)`` tuples, or anything
    with ``org_id`` / ``workspace_id`` / ``campaign_id`` attributes.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.config = config or SimulatorConfig()
        self._wall_clock = wall_clock
        self.stats = SimStats(timeline_seconds=self.config.timeline_seconds)
        self.anchor = self.config.anchor or default_anchor()
        self._refusals = {as_key(k): v for k, v in self.config.refuse_patches.items()}
        # key -> (serial number or None, overrides): known, not generated yet
        self._pending: dict[CampaignKey, tuple[int | None, Mapping[str, Any]]] = {}
        self._store: dict[CampaignKey, _Stored] = {}
        # (org, workspace) -> campaign ids in the order they were added
        self._workspaces: dict[tuple[str, str], dict[str, None]] = {}
        # (org, workspace) -> the same ids as a list, built when first needed
        self._id_lists: dict[tuple[str, str], list[str]] = {}
        self._last_stamp = datetime.min.replace(tzinfo=UTC)
        self._populate()

    # --- population ------------------------------------------------------------------------

    def _populate(self) -> None:
        config = self.config
        total = config.generate
        for number in range(1, total + 1):
            key = CampaignKey(config.org_id, config.workspace_id, generated_id(number, total))
            self._register(key, number, _NO_OVERRIDES)
        for raw in config.campaigns:
            key = as_key(raw)
            if key not in self:
                self._register(key, None, _NO_OVERRIDES)
        for raw, overrides in config.overrides.items():
            self.add(raw, overrides)

    def _register(self, key: CampaignKey, number: int | None, overrides: Mapping[str, Any]) -> None:
        self._pending[key] = (number, overrides)
        self._workspaces.setdefault((key.org_id, key.workspace_id), {})[key.campaign_id] = None
        self._id_lists.pop((key.org_id, key.workspace_id), None)

    def _materialize(self, key: CampaignKey) -> _Stored | None:
        stored = self._store.get(key)
        if stored is not None:
            return stored
        pending = self._pending.pop(key, None)
        if pending is None:
            return None
        number, overrides = pending
        detail = generate_campaign(
            key,
            seed=self.config.seed,
            anchor=self.anchor,
            status_weights=self.config.status_weights,
            number=number,
            hostile_text=self.config.hostile_text,
        )
        if overrides:
            apply_overrides(detail, overrides)
        stored = self._store[key] = _Stored(detail)
        return stored

    def add(self, key: Any, overrides: Mapping[str, Any] | None = None) -> None:
        """Make a campaign exist (generated from the seed), then set ``overrides`` on it
        (dotted path -> value, e.g. ``{"status": "active", "app_config.app_version": 3}``)."""
        key = as_key(key)
        stored = self._store.get(key)
        if stored is not None:
            if overrides:
                apply_overrides(stored.detail, overrides)
                stored.changed()
            return
        pending = self._pending.get(key)
        if pending is None:
            self._register(key, None, dict(overrides) if overrides else _NO_OVERRIDES)
        elif overrides:
            self._pending[key] = (pending[0], {**pending[1], **overrides})

    def put(self, key: Any, detail: Mapping[str, Any]) -> None:
        """Store a whole campaign detail as given (``campaign_id`` is taken from the key)."""
        key = as_key(key)
        new = copy.deepcopy(dict(detail))
        new["campaign_id"] = key.campaign_id
        sync_summary(new)
        self._pending.pop(key, None)
        self._store[key] = _Stored(new)
        self._workspaces.setdefault((key.org_id, key.workspace_id), {})[key.campaign_id] = None
        self._id_lists.pop((key.org_id, key.workspace_id), None)

    def update(self, key: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Set dotted paths on an existing campaign; returns its new detail."""
        stored = self._require(as_key(key), KeyError)
        apply_overrides(stored.detail, overrides)
        stored.changed()
        return copy.deepcopy(stored.detail)

    def edit(self, key: Any, overrides: Mapping[str, Any], by: str = OTHER_USER) -> dict[str, Any]:
        """Change a campaign as someone else would, behind the clients' backs: set the dotted
        paths, then a strictly later ``updated_at`` and ``updated_by`` = ``by`` (unless the
        overrides set them).  A campaign that does not exist yet is created (:meth:`add`) as
        given, without a new stamp.  Returns the campaign's detail."""
        key = as_key(key)
        stored = self._materialize(key)
        if stored is None:
            self.add(key, overrides)
            return self.get(key)
        detail = stored.detail
        apply_overrides(detail, overrides)
        if "updated_at" not in overrides:
            detail["updated_at"] = self._stamp(detail)
        if "updated_by" not in overrides:
            detail["updated_by"] = by
        stored.changed()
        self.stats.admin_edits += 1
        return copy.deepcopy(detail)

    # --- reading ---------------------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        try:
            k = as_key(key)
        except TypeError:
            return False
        return k in self._store or k in self._pending

    def __len__(self) -> int:
        return len(self._store) + len(self._pending)

    def __iter__(self) -> Iterator[CampaignKey]:
        return iter(self.keys())

    def keys(self) -> list[CampaignKey]:
        """Every campaign's key, workspace by workspace, in the order they were added."""
        return [
            CampaignKey(org, ws, cid) for (org, ws), ids in self._workspaces.items() for cid in ids
        ]

    def get(self, key: Any) -> dict[str, Any]:
        """A copy of the campaign's full detail (what GET answers).  KeyError when unknown."""
        return copy.deepcopy(self._require(as_key(key), KeyError).detail)

    def status_of(self, key: Any) -> str:
        return str(self._require(as_key(key), KeyError).detail["status"])

    def dump(self) -> list[dict[str, Any]]:
        """Every campaign, each detail with its ``org_id`` and ``workspace_id`` in front."""
        out: list[dict[str, Any]] = []
        for key in self.keys():
            stored = self._materialize(key)
            assert stored is not None
            out.append({"org_id": key.org_id, "workspace_id": key.workspace_id, **stored.detail})
        return out

    def _require(self, key: CampaignKey, kind: type[Exception] | None = None) -> _Stored:
        stored = self._materialize(key)
        if stored is None:
            if kind is not None:
                raise kind(str(key))
            raise errors.detail(errors.NOT_FOUND_STATUS, errors.NOT_FOUND_MESSAGE)
        return stored

    def _stamp(self, detail: Mapping[str, Any]) -> str:
        """A new ``updated_at``: now, but strictly after every stamp given so far and after the
        campaign's own current one, even within one microsecond."""
        now = self._wall_clock()
        floor = self._last_stamp
        current = detail.get("updated_at")
        if isinstance(current, str):
            with contextlib.suppress(ValueError):
                floor = max(floor, parse_timestamp(current))
        if now <= floor:
            now = floor + timedelta(microseconds=1)
        self._last_stamp = now
        return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    # --- the API's operations ----------------------------------------------------------------

    def campaign_json(self, key: CampaignKey) -> bytes:
        """GET /campaigns/{id}: the detail as JSON."""
        return self._require(key).json()

    def other_campaign_json(self, key: CampaignKey, pick: float) -> bytes | None:
        """Another existing campaign's detail as JSON (what a mixed-up GET answers): one of the
        same workspace, chosen by ``pick`` in [0, 1); else one of any workspace; None if ``key``
        is the only campaign."""
        where = (key.org_id, key.workspace_id)
        ids = self._id_lists.get(where)
        if ids is None:
            ids = self._id_lists[where] = list(self._workspaces.get(where, ()))
        if len(ids) > 1:
            at = int(pick * (len(ids) - 1))
            if ids[at] == key.campaign_id:  # skip the campaign itself
                at += 1
            other = CampaignKey(key.org_id, key.workspace_id, ids[at])
        else:
            others = [k for k in self.keys() if k != key]
            if not others:
                return None
            other = others[int(pick * len(others))]
        stored = self._materialize(other)
        return None if stored is None else stored.json()

    def apply_patch(self, key: CampaignKey, body: bytes, updated_by: str) -> dict[str, Any]:
        """PATCH /campaigns/{id}: validate, check against the stored campaign, replace what was
        sent; returns the campaign summary."""
        try:
            request = UpdateCampaignRequest.model_validate_json(body)
        except ValidationError as exc:
            raise errors.from_validation_error(exc, "body") from None
        stored = self._require(key)
        refusal = self._refusals.get(key)
        if refusal is not None:
            raise errors.detail(400, refusal)
        detail = stored.detail
        status = detail.get("status")
        if status not in EDITABLE_STATUSES:
            raise errors.detail(
                self.config.not_editable_status, errors.NOT_EDITABLE_MESSAGE.format(status=status)
            )
        changes: dict[str, Any] = {}
        problems: list[dict[str, Any]] = []
        if request.name is not None:
            changes["name"] = request.name
        if request.description is not None:
            changes["description"] = request.description
        if request.app_config is not None:
            current = detail.get("app_config") or {}
            new = request.app_config.model_dump(mode="json")
            for name in ("app_id", "app_type"):
                sent = new[name]
                if sent is not None and sent != current.get(name):
                    problems.append(
                        errors.field_error(
                            ("body", "app_config", name),
                            f"{name} cannot be changed (current: {current.get(name)})",
                            value=sent,
                        )
                    )
                new[name] = current.get(name)
            changes["app_config"] = new
        if request.end_timestamp is not None:
            start = parse_timestamp(detail["start_timestamp"])
            end = request.end_timestamp
            bound: str | None = None
            if end < start + MIN_RUN:
                bound = f"at least {int(MIN_RUN.total_seconds())} seconds"
            elif end > start + MAX_RUN:
                bound = f"at most {MAX_RUN.days} days"
            if bound is not None:
                problems.append(
                    errors.field_error(
                        ("body", "end_timestamp"),
                        f"end_timestamp must be {bound} after start_timestamp "
                        f"({detail['start_timestamp']})",
                        value=end.isoformat(),
                    )
                )
            changes["end_timestamp"] = format_timestamp(end)
        if request.allowed_schedule is not None:
            changes["allowed_schedule"] = request.allowed_schedule.model_dump(mode="json")
        if problems:
            raise errors.unprocessable(problems)
        detail.update(changes)
        sync_summary(detail)
        detail["updated_at"] = self._stamp(detail)
        detail["updated_by"] = updated_by
        stored.changed()
        self.stats.patch_applied(key)
        return summary_of(detail)

    def change_status(self, key: CampaignKey, body: bytes, updated_by: str) -> dict[str, Any]:
        """PUT /campaigns/{id}/status: apply the lifecycle rules; returns the campaign summary."""
        try:
            action = StatusChange.model_validate_json(body).action
        except ValidationError as exc:
            raise errors.from_validation_error(exc, "body") from None
        stored = self._require(key)
        detail = stored.detail
        status = detail.get("status")
        allowed, target = TRANSITIONS[action]
        if status not in allowed:
            raise errors.detail(
                errors.ILLEGAL_TRANSITION_STATUS,
                errors.ILLEGAL_TRANSITION_MESSAGE.format(
                    action=action, status=status, allowed=", ".join(sorted(allowed))
                ),
            )
        limit = self.config.live_limit_per_org
        if limit is not None and target in LIVE_STATUSES and status not in LIVE_STATUSES:
            live = self._live_count(key.org_id)
            if live >= limit:
                raise errors.detail(
                    errors.LIVE_LIMIT_STATUS,
                    errors.LIVE_LIMIT_MESSAGE.format(count=live, limit=limit),
                )
        detail["status"] = target
        detail["updated_at"] = self._stamp(detail)
        detail["updated_by"] = updated_by
        stored.changed()
        self.stats.status_changed(key)
        return summary_of(detail)

    def _live_count(self, org_id: str) -> int:
        count = 0
        for (org, ws), ids in self._workspaces.items():
            if org != org_id:
                continue
            for cid in ids:
                stored = self._materialize(CampaignKey(org, ws, cid))
                if stored is not None and stored.detail.get("status") in LIVE_STATUSES:
                    count += 1
        return count

    def list_campaigns(
        self,
        org_id: str,
        workspace_id: str,
        *,
        offset: int = 0,
        limit: int = 20,
        status: str | None = None,
        search: str | None = None,
        sort_by: str = "created_at",
        sort_order: str = "desc",
    ) -> tuple[list[dict[str, Any]], int]:
        """GET /campaigns: one page of summaries and the total that match."""
        details = list(self._details_in(org_id, workspace_id))
        if status is not None:
            details = [d for d in details if d.get("status") == status]
        if search:
            needle = search.casefold()
            details = [
                d
                for d in details
                if needle in str(d.get("name", "")).casefold()
                or needle in str(d.get("campaign_id", "")).casefold()
            ]
        details.sort(key=lambda d: (str(d.get(sort_by) or ""), str(d.get("campaign_id"))))
        if sort_order == "desc":
            details.reverse()
        page = details[offset : offset + limit]
        return [summary_of(d) for d in page], len(details)

    def _details_in(self, org_id: str, workspace_id: str) -> Iterator[dict[str, Any]]:
        for cid in self._workspaces.get((org_id, workspace_id), {}):
            stored = self._materialize(CampaignKey(org_id, workspace_id, cid))
            if stored is not None:
                yield stored.detail
