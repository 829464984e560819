"""docs/api-assumptions.md names, for every assumption about the API, the one place in the code
that makes it (``src/bulkpatch/<pkg>/<module>.py`` and a name in it); each place must exist, so a
module or a name that moves takes the page with it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "api-assumptions.md"
#: `src/bulkpatch/pkg/module.py` followed by one or more `Name` or `Class.name` in backticks.
PLACE = re.compile(r"`(src/bulkpatch/[a-z_]+/[a-z_]+\.py)`((?:[\s,(]*(?:and )?`[A-Za-z_.]+`)+)")


def defined_names(path: Path) -> set[str]:
    """Top-level names of a module, and ``Class.method`` for its classes' members."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}.{member.name}")
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def places() -> list[tuple[str, str]]:
    found = []
    for module, names in PLACE.findall(PAGE.read_text(encoding="utf-8")):
        found += [(module, name) for name in re.findall(r"`([A-Za-z_.]+)`", names)]
    return found


def test_every_place_the_api_assumptions_page_names_is_in_the_code() -> None:
    named = places()
    assert len(named) >= 15
    missing = [
        f"{module} {name}"
        for module, name in named
        if not (ROOT / module).is_file() or name not in defined_names(ROOT / module)
    ]
    assert missing == [], "docs/api-assumptions.md names places the code no longer has"
