"""``--no-read``: why a valid row cannot be applied without GETting its campaign first."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from bulkpatch.core.columns import CHANGE_PATHS, FULL_REPLACEMENT_OBJECTS
from bulkpatch.core.rows import Problem, RowChange
from bulkpatch.core.text import shorten
from bulkpatch.validation.words import errors_of, rules_of

# ---------------------------------------------------------------------------------------------
# --no-read
# ---------------------------------------------------------------------------------------------

_FULL_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def no_read_problems(change: RowChange) -> list[Problem]:
    """Why this row cannot be applied without GETting the campaign first (``--no-read``).

    Without the current campaign only top-level fields and whole objects can be sent, a whole
    ``allowed_schedule`` / ``app_config`` must then be complete (it replaces the stored one), and
    ``expect.`` guards cannot be checked.  An empty list means the row can go without a GET.
    """
    problems: list[Problem] = []
    for path, value in change.changes.items():
        spec = CHANGE_PATHS.get(path)
        top = path.split(".", 1)[0]
        if spec is None or not spec.top_level:
            problems.append(
                Problem(
                    change.row,
                    path,
                    shorten(value),
                    f"--no-read sends whole objects only: `{path}` changes part of `{top}`, "
                    f"which needs the current `{top}` (drop --no-read, or give the whole "
                    f"`{top}` in one column)",
                )
            )
            continue
        if path in FULL_REPLACEMENT_OBJECTS and spec.model is not None:
            adapter = _FULL_ADAPTERS.get(path)
            if adapter is None:
                adapter = _FULL_ADAPTERS[path] = TypeAdapter(spec.model)
            try:
                adapter.validate_python(value)
            except ValidationError as exc:
                for rule in rules_of(errors_of(exc)):
                    problems.append(
                        Problem(
                            change.row,
                            path,
                            shorten(value),
                            f"with --no-read the whole `{path}` is sent as given and replaces "
                            f"the stored one, so it must be complete: {rule}",
                        )
                    )
    for path in change.expects:
        problems.append(
            Problem(
                change.row,
                f"expect.{path}",
                shorten(change.expects[path]),
                "an expect. guard needs the current campaign, which --no-read does not fetch",
            )
        )
    return problems
