"""The public API is pinned: ``bulkpatch.__all__`` names exactly these, each importable, and
every public name of the module is in it (as httpx's ``tests/test_exported_members.py`` does).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path
from types import ModuleType

import bulkpatch
from bulkpatch.core import errors, events

ROOT = Path(__file__).resolve().parents[1]

LIBRARY_CALLS = [
    "apply_plan",
    "apply_plan_async",
    "apply_sheet",
    "apply_sheet_async",
    "continue_sheet",
    "continue_sheet_async",
    "export_campaigns",
    "export_campaigns_async",
    "plan_sheet",
    "plan_sheet_async",
    "plan_to_dir",
    "plan_to_dir_async",
    "resume_run",
    "resume_run_async",
    "undo_run",
    "undo_run_async",
    "verify_run",
    "verify_run_async",
]
OPTIONS_AND_RESULTS = [
    "ExitCode",
    "NextStep",
    "Outcome",
    "RowResult",
    "RunOptions",
    "RunSummary",
    "Stopper",
    "__version__",
]
EVENTS = [
    "Event",
    "EventSink",
    "Notice",
    "Progress",
    "RowFinished",
    "RunFinished",
    "RunStarted",
    "WindowWait",
]
ERRORS = [
    "BulkpatchError",
    "BusyError",
    "CredentialsError",
    "InternalError",
    "InvalidSheetError",
    "JournalError",
    "SheetError",
    "StorageError",
    "UsageError",
    "WindowClosedError",
]
EXPECTED = LIBRARY_CALLS + OPTIONS_AND_RESULTS + EVENTS + ERRORS


def test_all_names_exactly_the_expected_public_api() -> None:
    assert sorted(bulkpatch.__all__) == sorted(EXPECTED)
    assert len(set(bulkpatch.__all__)) == len(bulkpatch.__all__)


def test_every_name_in_all_is_importable_from_bulkpatch() -> None:
    for name in bulkpatch.__all__:
        assert getattr(bulkpatch, name, None) is not None, name
    namespace: dict[str, object] = {}
    exec("from bulkpatch import *", namespace)
    assert set(bulkpatch.__all__) <= set(namespace)


def test_every_public_name_of_the_module_is_in_all() -> None:
    public = {
        name
        for name, value in vars(bulkpatch).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public <= set(bulkpatch.__all__)


def test_the_whole_error_tree_is_exported() -> None:
    tree = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    }
    assert tree == set(ERRORS)
    assert tree <= set(bulkpatch.__all__)
    assert all(issubclass(getattr(bulkpatch, name), bulkpatch.BulkpatchError) for name in ERRORS)


def test_every_event_is_exported() -> None:
    kinds = {
        name
        for name, value in vars(events).items()
        if inspect.isclass(value)
        and dataclasses.is_dataclass(value)
        and value.__module__ == events.__name__
    }
    assert kinds | {"Event", "EventSink"} == set(EVENTS)
    assert set(EVENTS) <= set(bulkpatch.__all__)


def test_the_airflow_dag_uses_only_names_of_the_public_api() -> None:
    dag = ROOT / "deploy" / "airflow" / "bulkpatch_dag.py"
    tree = ast.parse(dag.read_text(encoding="utf-8"))
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bulkpatch"):
            assert node.module == "bulkpatch", f"imports {node.module}: use bulkpatch.<name>"
            used.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("bulkpatch")]
            assert all(name == "bulkpatch" for name in names), names
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "bulkpatch"
        ):
            used.add(node.attr)
    assert used <= set(bulkpatch.__all__)
