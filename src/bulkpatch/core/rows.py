"""The values that flow between the stages: a sheet row, a problem with it, a row ready to apply.

Plain frozen dataclasses, so every stage can be tested without the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class CampaignKey(NamedTuple):
    """Where a campaign lives: the client, the journal and the simulator all use this one type.

    A plain ``(org, workspace, campaign)`` tuple compares equal.  ``str(key)`` is
    ``org/workspace/campaign``, the form the journal and the reports use.
    """

    org_id: str
    workspace_id: str
    campaign_id: str

    def __str__(self) -> str:
        return f"{self.org_id}/{self.workspace_id}/{self.campaign_id}"

    @classmethod
    def parse(cls, text: str) -> CampaignKey:
        """The inverse of ``str(key)``."""
        org, workspace, campaign = text.split("/")
        return cls(org, workspace, campaign)


def as_key(key: Any) -> CampaignKey:
    """A :class:`CampaignKey` from a 3-tuple, ``org/ws/campaign`` text, or anything with the
    three key attributes."""
    if isinstance(key, CampaignKey):
        return key
    if isinstance(key, str):
        return CampaignKey.parse(key)
    if isinstance(key, tuple) and len(key) == 3:
        return CampaignKey(str(key[0]), str(key[1]), str(key[2]))
    try:
        return CampaignKey(key.org_id, key.workspace_id, key.campaign_id)
    except AttributeError:
        raise TypeError(f"not a campaign key: {key!r}") from None


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule: where (row, column), what (the value, shortened) and which rule."""

    row: int  # 1-based data row; 0 for a problem with the sheet as a whole (header, file)
    column: str
    value: str
    rule: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "sheet"
        shown = f" = {self.value!r}" if self.value else ""
        col = f", column `{self.column}`" if self.column else ""
        return f"{where}{col}{shown}: {self.rule}"


@dataclass(frozen=True, slots=True)
class RowChange:
    """A validated row: which campaign, and what to change.

    ``changes`` maps dotted paths (``allowed_schedule.allowed_days``) to JSON-ready values, already
    checked and normalised (days as ``Monday``..., timestamps as ISO 8601 text with their zone,
    objects as dicts holding only the keys the row gave).  ``expects`` maps guarded paths
    (``status``, ``app_config.app_version``) to the value the campaign must hold now.
    """

    row: int
    key: CampaignKey
    changes: dict[str, Any]
    expects: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RowVerdict:
    """What validation says of one row: a change to apply, or the problems that stop it."""

    row: int
    key: CampaignKey | None
    change: RowChange | None
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return self.change is not None and not self.problems
