"""The source's layout holds: few stage packages, each saying what it owns and may import, no
import in a circle, no import of bulkpatch hidden inside a function, short modules and functions.

import-linter checks the layers and that no package's modules import in a circle
(``[tool.importlinter]`` in pyproject.toml); these tests check the rest, over the files in
``src/bulkpatch``.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "bulkpatch"
#: What the top of the package may hold besides its stage packages.
ENTRY_FILES = {"__init__.py", "__main__.py", "py.typed", "version.py"}
MAX_ENTRIES = 12
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80

#: Modules allowed over the limit, each at its length: they may shrink, never grow (none).
LONG_MODULES: dict[str, int] = {}
#: Functions allowed over the limit, each at its length: they may shrink, never grow (none).
LONG_FUNCTIONS: dict[str, int] = {}
#: Imports of bulkpatch inside a function, each for a reason its comment gives.
INNER_IMPORTS_ALLOWED = {
    # redis is slow to import and only --rate-store needs it.
    ("engine/target.py", "bulkpatch.transport.ratestore"),
    # OpenTelemetry is imported only when telemetry is on (the otel extra may be absent).
    ("ops/observe.py", "bulkpatch.ops.otel"),
    ("ops/observe.py", "bulkpatch.ops.otelsetup"),
    # start-up cost: `run`, `plan` and `resume` load the engine, aiohttp and polars only when
    # they run, not for --help or shell completion (cli/running.py does the work).
    ("cli/run.py", "bulkpatch.cli.running"),
    # start-up cost: telemetry's library side loads only when --otel is given.
    ("cli/telemetry.py", "bulkpatch.ops.observe"),
    # start-up cost: the simulator (an aiohttp server and its tables, ~35 ms) loads only for
    # --simulate, not before the first request of a run against the API.
    ("engine/target.py", "bulkpatch.engine.simulated"),
    # start-up cost: the HTML renderers (~30 ms) load when a session writes its reports at the
    # end, not before its first request.
    ("engine/closing.py", "bulkpatch.html.planpage"),
    ("engine/closing.py", "bulkpatch.html.reportfile"),
    ("engine/planfile.py", "bulkpatch.html.planpage"),
}


@functools.cache
def modules() -> tuple[tuple[str, ast.Module, list[str]], ...]:
    """Every module of the source, parsed once per test process (the tests only read them)."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found.append((path.relative_to(SRC).as_posix(), ast.parse(text), text.splitlines()))
    return tuple(found)


def functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def inner_imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Each import statement inside a function, with the module it names."""
    for function in functions(tree):
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                yield node, node.names[0].name
            elif isinstance(node, ast.ImportFrom):
                yield node, ("." * node.level) + (node.module or "")


def test_the_package_holds_at_most_twelve_entries_besides_its_entry_points() -> None:
    entries = sorted(
        p.name
        for p in SRC.iterdir()
        # caches a tool left in the source tree (not in git) are not entries
        if p.name not in ENTRY_FILES and p.name != "__pycache__" and not p.name.startswith(".")
    )
    assert len(entries) <= MAX_ENTRIES, entries
    assert all((SRC / name / "__init__.py").is_file() for name in entries), entries


def test_every_package_says_what_it_owns_and_what_it_may_import() -> None:
    packages = sorted(p.parent.name for p in SRC.glob("*/__init__.py"))
    assert packages
    for package in packages:
        tree = ast.parse((SRC / package / "__init__.py").read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree) or ""
        assert re.search(r"\bowns\b", doc, re.IGNORECASE), f"{package}: what does it own?"
        assert "May import:" in doc, f"{package}: what may it import?"


def test_no_modules_import_each_other_in_a_circle() -> None:
    graph = grimp.build_graph("bulkpatch")
    circles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                circles.append((importer, *back))
    assert circles == []


def test_no_bulkpatch_module_is_imported_inside_a_function() -> None:
    found = {
        (name, module)
        for name, tree, _ in modules()
        for _, module in inner_imports(tree)
        if module.startswith(("bulkpatch", "."))
    }
    assert found == INNER_IMPORTS_ALLOWED


def test_an_import_inside_a_function_says_why_it_waits() -> None:
    silent = []
    for name, tree, lines in modules():
        for node, module in inner_imports(tree):
            here = lines[node.lineno - 1]
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            if "#" not in here and not above.startswith("#"):
                silent.append(f"{name}:{node.lineno} {module}")
    assert silent == []


def test_every_module_is_at_most_500_lines() -> None:
    long = {name: len(lines) for name, _, lines in modules() if len(lines) > MAX_MODULE_LINES}
    assert set(long) <= set(LONG_MODULES), long
    grown = {name: n for name, n in long.items() if n > LONG_MODULES[name]}
    assert grown == {}


def test_every_function_is_at_most_80_lines() -> None:
    long = {
        f"{name}:{node.name}": node.end_lineno - node.lineno + 1
        for name, tree, _ in modules()
        for node in functions(tree)
        if node.end_lineno is not None and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    }
    assert set(long) <= set(LONG_FUNCTIONS), long
    grown = {name: n for name, n in long.items() if n > LONG_FUNCTIONS[name]}
    assert grown == {}


@pytest.mark.parametrize("package", ["transport", "engine"])
def test_only_the_reply_classifier_compares_status_codes(package: str) -> None:
    """``transport/replies.py`` reads status codes; the rest of the run switches on its kinds."""
    found = []
    for name, tree, _ in modules():
        inside, _, module = name.partition("/")
        if inside != package or "/" in module or module == "replies.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                codes = [
                    o
                    for o in operands
                    if isinstance(o, ast.Constant)
                    and type(o.value) is int
                    and 100 <= o.value <= 599
                ]
                if codes and any("status" in ast.unparse(o) for o in operands):
                    found.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert found == []
