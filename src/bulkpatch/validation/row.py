"""One row: its key, its change and guard cells converted, and the checks that span its cells
(start before end, two columns setting the same path, a row that changes nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bulkpatch.core.columns import CHANGE_PATHS, EXPECT_PATHS, KEY_COLUMNS, classify_header
from bulkpatch.core.models import is_valid_id
from bulkpatch.core.rows import CampaignKey, Problem, RowChange, RowVerdict
from bulkpatch.core.text import shorten
from bulkpatch.sheet import UNNAMED
from bulkpatch.validation.cells import ColumnConverter
from bulkpatch.validation.header import check_header, key_rule
from bulkpatch.validation.words import CACHE_SIZE

# ---------------------------------------------------------------------------------------------
# One row
# ---------------------------------------------------------------------------------------------

_UNNAMED_RULE = (
    "a cell in a column without a name holds a value: name the column in the header, "
    "or clear the cell"
)
_START = "allowed_schedule.allowed_start_time"
_END = "allowed_schedule.allowed_end_time"


def _leaf_paths(path: str, value: Any) -> list[str]:
    """The dotted paths a change sets: an object sets each of its keys (recursively)."""
    spec = CHANGE_PATHS.get(path)
    if spec is not None and spec.is_object and isinstance(value, dict) and value:
        out: list[str] = []
        for key, item in value.items():
            out.extend(_leaf_paths(f"{path}.{key}", item))
        return out
    return [path]


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


class RowValidator:
    """Validates rows of one sheet: converters are built once, from the header.

    Header problems are not repeated per row; get them from :attr:`header_problems`.
    """

    def __init__(
        self,
        columns: Sequence[str],
        *,
        org: str | None = None,
        workspace: str | None = None,
        copy_values: bool = True,
    ) -> None:
        self.columns = tuple(columns)
        self.header, _ = classify_header(list(columns))
        self.header_problems = check_header(columns, org=org, workspace=workspace)
        self._defaults: dict[str, str | None] = {
            "org_id": org if org is not None and is_valid_id(org) else None,
            "workspace_id": workspace if workspace is not None and is_valid_id(workspace) else None,
            "campaign_id": None,
        }
        # A key with neither a column nor a default is reported once, in the header.
        self._key_columns = tuple(c for c in KEY_COLUMNS if c in self.header.keys)
        self._key_fixed = {c: self._defaults[c] for c in KEY_COLUMNS if c not in self.header.keys}
        self._org_default = self._defaults["org_id"]
        self._workspace_default = self._defaults["workspace_id"]
        #: org and workspace ids seen valid (they repeat row after row).
        self._good_scopes: set[Any] = set()
        #: Hand each row its own copy of list and object values (False when they are dropped).
        self.copy_values = copy_values
        converters = [ColumnConverter(c, CHANGE_PATHS[c]) for c in self.header.changes]
        self._changes = [(conv.path, conv, conv.cache) for conv in converters]
        self._expects = [
            (column, path, ColumnConverter(path, EXPECT_PATHS[path]))
            for column, path in self.header.expects.items()
        ]
        paths = list(self.header.changes)
        self._overlapping = [
            (a, b)
            for i, a in enumerate(paths)
            for b in paths[i + 1 :]
            if b.startswith(a + ".") or a.startswith(b + ".")
        ]
        self._schedule_check = any(
            p in (_START, _END, "allowed_schedule") for p in self.header.changes
        )
        self._seen_ids: dict[str, dict[str, bool]] = {"org_id": {}, "workspace_id": {}}

    # -- keys ------------------------------------------------------------------------------

    def _key_part(
        self, row: int, cells: Mapping[str, Any], column: str, problems: list[Problem]
    ) -> str | None:
        value = cells.get(column)
        if value is None or value == "":
            default = self._defaults[column]
            if default is not None:
                return default
            flag = {"org_id": " and no --org", "workspace_id": " and no --workspace"}.get(
                column, ""
            )
            problems.append(Problem(row, column, "", f"is empty{flag}: every row needs a {column}"))
            return None
        if type(value) is not str:
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            else:
                problems.append(Problem(row, column, shorten(value), "must be text"))
                return None
        seen = self._seen_ids.get(column)
        if seen is not None:  # org and workspace ids repeat: remember the verdict
            ok = seen.get(value)
            if ok is None:
                ok = is_valid_id(value)
                if len(seen) >= CACHE_SIZE:
                    seen.clear()
                seen[value] = ok
        else:
            ok = is_valid_id(value)
        if not ok:
            problems.append(Problem(row, column, shorten(value), key_rule(column)))
            return None
        return value

    def _key(
        self, row: int, cells: Mapping[str, Any], problems: list[Problem]
    ) -> tuple[str, str, str] | None:
        parts: dict[str, str | None] = dict(self._key_fixed)
        for column in self._key_columns:
            parts[column] = self._key_part(row, cells, column, problems)
        org, workspace, campaign = parts["org_id"], parts["workspace_id"], parts["campaign_id"]
        if org is None or workspace is None or campaign is None:
            return None
        good = self._good_scopes
        if len(good) >= CACHE_SIZE:
            good.clear()
        good.add(org)
        good.add(workspace)
        return org, workspace, campaign

    # -- the row ---------------------------------------------------------------------------

    def validate(self, row: int, cells: Mapping[str, Any]) -> RowVerdict:
        """Check one row.  Never raises for any cell content."""
        ids, problems, changes, expects = self.examine(row, cells)
        key = CampaignKey(*ids) if ids is not None else None
        if problems or key is None:
            # No key and no problem: the header lacks a key column (reported once, as a
            # sheet problem).
            return RowVerdict(row=row, key=key, change=None, problems=tuple(problems))
        change = RowChange(row=row, key=key, changes=changes, expects=expects)
        return RowVerdict(row=row, key=key, change=change)

    def examine(
        self, row: int, cells: Mapping[str, Any]
    ) -> tuple[tuple[str, str, str] | None, list[Problem], dict[str, Any], dict[str, Any]]:
        """The parts of a verdict without building it: ``(ids, problems, changes, expects)``.

        ``ids`` is ``(org_id, workspace_id, campaign_id)`` when all three are valid.  Used where a
        million verdicts would be built only to be dropped.
        """
        problems: list[Problem] = []
        get = cells.get
        stray = get(UNNAMED)
        if stray is not None:
            problems.append(Problem(row, "", shorten(stray), _UNNAMED_RULE))
        # The common case first: ids already seen valid, a campaign id that matches.
        org = get("org_id") or self._org_default
        workspace = get("workspace_id") or self._workspace_default
        campaign = get("campaign_id")
        good = self._good_scopes
        key: tuple[str, str, str] | None
        if (
            type(org) is str
            and type(workspace) is str
            and type(campaign) is str
            and org in good
            and workspace in good
            and is_valid_id(campaign)
        ):
            key = (org, workspace, campaign)
        else:
            key = self._key(row, cells, problems)
        changes: dict[str, Any] = {}
        bad_cells = False
        copy_values = self.copy_values
        for column, convert, cache in self._changes:
            cell = get(column)
            if cell is None:
                continue
            hit = cache.get(cell) if type(cell) is str else None
            if hit is not None and not hit[1]:
                value, _, copy = hit
                changes[column] = value if copy is None or not copy_values else copy(value)
                continue
            value, rules = convert(cell)
            if rules:
                bad_cells = True
                shown = shorten(cell)
                problems.extend(Problem(row, column, shown, rule) for rule in rules)
            else:
                changes[column] = value
        expects: dict[str, Any] = {}
        for column, path, convert in self._expects:
            cell = get(column)
            if cell is None:
                continue
            value, rules = convert(cell)
            if rules:
                shown = shorten(cell)
                problems.extend(Problem(row, column, shown, rule) for rule in rules)
            else:
                expects[path] = value
        if not changes:
            if not bad_cells and self._changes:
                problems.append(
                    Problem(
                        row, "", "", "changes nothing: every change column of this row is empty"
                    )
                )
        else:
            if self._overlapping and len(changes) > 1:
                self._check_overlaps(row, changes, problems)
            if self._schedule_check:
                self._check_window(row, changes, problems)
        return key, problems, changes, expects

    def _check_overlaps(self, row: int, changes: dict[str, Any], problems: list[Problem]) -> None:
        for a, b in self._overlapping:
            if a not in changes or b not in changes:
                continue
            outer, inner = (a, b) if b.startswith(a + ".") else (b, a)
            inner_paths = _leaf_paths(inner, changes[inner])
            for path in _leaf_paths(outer, changes[outer]):
                clash = next((p for p in inner_paths if _overlap(p, path)), None)
                if clash is not None:
                    problems.append(
                        Problem(
                            row,
                            inner,
                            shorten(changes[inner]),
                            f"sets `{clash}`, which column `{outer}` also sets in this row: "
                            "keep one of them",
                        )
                    )
                    break

    def _check_window(self, row: int, changes: dict[str, Any], problems: list[Problem]) -> None:
        start = changes.get(_START)
        end = changes.get(_END)
        schedule = changes.get("allowed_schedule")
        if type(schedule) is dict:
            if start is None:
                start = schedule.get("allowed_start_time")
            if end is None:
                end = schedule.get("allowed_end_time")
        if type(start) is not str or type(end) is not str or start < end:
            return
        if _END in changes:
            column = _END
        elif type(schedule) is dict and "allowed_end_time" in schedule:
            column = "allowed_schedule"
        else:
            column = _START
        problems.append(
            Problem(
                row,
                column,
                f"{start} to {end}",
                f"allowed_start_time {start} must be before allowed_end_time {end}",
            )
        )


_VALIDATORS: dict[tuple[tuple[str, ...], str | None, str | None], RowValidator] = {}


def validate_row(
    row: int,
    cells: Mapping[str, Any],
    *,
    org: str | None = None,
    workspace: str | None = None,
) -> RowVerdict:
    """Validate one row on its own: ``cells`` maps column names to cell values.

    Problems with the columns themselves (unknown names, a missing key column) are reported
    against this row.  For many rows of one sheet, build a :class:`RowValidator` once instead.
    """
    columns = tuple(cells)
    cache_key = (columns, org, workspace)
    validator = _VALIDATORS.get(cache_key)
    if validator is None:
        if len(_VALIDATORS) >= 64:
            _VALIDATORS.clear()
        validator = _VALIDATORS[cache_key] = RowValidator(columns, org=org, workspace=workspace)
    verdict = validator.validate(row, cells)
    if not validator.header_problems:
        return verdict
    moved = tuple(Problem(row, p.column, p.value, p.rule) for p in validator.header_problems)
    return RowVerdict(row=row, key=verdict.key, change=None, problems=moved + verdict.problems)
