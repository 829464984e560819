"""The header: unknown, repeated, invisible or missing columns, and what the user meant."""

from __future__ import annotations

from collections.abc import Sequence

from bulkpatch.core.columns import KEY_COLUMNS, HeaderProblem, classify_header, loose_name, visible
from bulkpatch.core.models import ID_PATTERN, is_valid_id
from bulkpatch.core.rows import Problem
from bulkpatch.core.text import shorten
from bulkpatch.validation.words import PATTERN_WORDS

# ---------------------------------------------------------------------------------------------
# The header
# ---------------------------------------------------------------------------------------------


def key_rule(column: str) -> str:
    return f"{PATTERN_WORDS[ID_PATTERN]} (the {column} goes into the URL path)"


#: Unknown columns listed one by one at most; the rest are counted in one line.
MAX_UNKNOWN_LISTED = 20


def _capped(found: list[HeaderProblem]) -> list[Problem]:
    """The header's problems, with unknown columns past :data:`MAX_UNKNOWN_LISTED` in one line."""
    out: list[Problem] = []
    rest: list[str] = []
    listed = 0
    for problem in found:
        if problem.kind == "repeated":
            out.append(Problem(0, problem.column, "", problem.message))
        elif listed < MAX_UNKNOWN_LISTED:
            out.append(Problem(0, problem.column, "", problem.message))
            listed += 1
        else:
            rest.append(problem.column)
    if rest:
        sample = ", ".join(f"`{shorten(visible(c), 30)}`" for c in rest[:3])
        out.append(
            Problem(
                0,
                "",
                "",
                f"and {len(rest):,} more unknown column{'s' if len(rest) != 1 else ''} "
                f"({sample}{', ...' if len(rest) > 3 else ''}): is this the right file?",
            )
        )
    return out


def check_header(
    columns: Sequence[str], *, org: str | None = None, workspace: str | None = None
) -> list[Problem]:
    """Problems with the sheet as a whole (row 0): unknown, repeated or missing columns."""
    header, found = classify_header(list(columns))
    known = header.keys or header.changes or header.expects or header.notes
    problems: list[Problem] = []
    if not known and len(columns) == 1 and any(sep in columns[0] for sep in ";\t|"):
        sep = next(s for s in ";\t|" if s in columns[0])
        shown = {"\t": "tabs", ";": "semicolons", "|": "pipes"}[sep]
        problems.append(
            Problem(
                0,
                columns[0],
                shorten(columns[0]),
                f"the header is a single column separated by {shown}: "
                "bulkpatch reads comma-separated CSV; save the sheet with commas",
            )
        )
        return problems
    near = any(
        p.kind == "invisible" or (p.hint is not None and loose_name(p.hint) == loose_name(p.column))
        for p in found
    )
    if not known and not near and columns:
        problems.append(
            Problem(
                0,
                "",
                shorten(",".join(columns)),
                "the first line names no known column, so the sheet seems to have no header: "
                "the first line must name the columns (campaign_id, org_id, workspace_id, "
                "and the fields to change)",
            )
        )
        return problems
    problems.extend(_capped(found))
    defaults = {"org_id": ("--org", org), "workspace_id": ("--workspace", workspace)}
    for column in KEY_COLUMNS:
        if column in header.keys:
            continue
        if column == "campaign_id":
            problems.append(
                Problem(0, column, "", "no `campaign_id` column: every row must name its campaign")
            )
            continue
        flag, default = defaults[column]
        if default is None:
            problems.append(
                Problem(0, column, "", f"no `{column}` column and no {flag}: add one or the other")
            )
    for column, (flag, default) in defaults.items():
        if default is not None and not is_valid_id(default):
            problems.append(Problem(0, flag, shorten(default), key_rule(column)))
    if not header.changes:
        problems.append(
            Problem(
                0,
                "",
                "",
                "no change column: add at least one column naming a field to change "
                "(for example `allowed_schedule.allowed_days`); see `bulkpatch validate --help`",
            )
        )
    return problems
