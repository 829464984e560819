"""bulkpatch: apply a sheet of per-campaign changes to the Sarvam Scheduling API.

The library calls (the command line is a thin shell around them)::

    import bulkpatch

    summary = bulkpatch.apply_sheet("changes.csv", options=bulkpatch.RunOptions(rate=20))
    print(summary.exit_code, summary.outcomes, summary.run_dir)

See ``apply_sheet``, ``plan_sheet``, ``resume_run`` (and their ``*_async`` forms for a running
event loop), :class:`RunOptions`, :class:`RunSummary` and the events an ``on_event`` callable
receives (:class:`RunStarted`, :class:`RowFinished`, :class:`Progress`, :class:`Notice`,
:class:`RunFinished`).  The round trip: ``export_campaigns``, ``plan_to_dir``, ``apply_plan``,
``verify_run``, ``undo_run``.  Every error raised on purpose is a :class:`BulkpatchError`.

``__all__`` is the public API, pinned by ``tests/test_public_api.py``.

Each name loads on first use (:func:`__getattr__`, from the table :data:`_WHERE`): importing
``bulkpatch.cli`` runs this module first, and the command line's start-up must not pay for the
engine and its libraries.  ``from bulkpatch import *`` loads them all.
"""

import importlib as _importlib
import typing as _typing

from bulkpatch.version import __version__

if _typing.TYPE_CHECKING:
    from bulkpatch.core.errors import (
        BulkpatchError,
        BusyError,
        CredentialsError,
        InternalError,
        InvalidSheetError,
        JournalError,
        SheetError,
        StorageError,
        UsageError,
        WindowClosedError,
    )
    from bulkpatch.core.events import (
        Event,
        EventSink,
        Notice,
        Progress,
        RowFinished,
        RunFinished,
        RunStarted,
        WindowWait,
    )
    from bulkpatch.core.options import RunOptions
    from bulkpatch.core.outcomes import ExitCode, Outcome
    from bulkpatch.core.results import RowResult
    from bulkpatch.core.stopper import Stopper
    from bulkpatch.core.summary import NextStep, RunSummary
    from bulkpatch.ops.apply import (
        apply_sheet,
        apply_sheet_async,
        continue_sheet,
        continue_sheet_async,
        plan_sheet,
        plan_sheet_async,
        resume_run,
        resume_run_async,
    )
    from bulkpatch.ops.export import export_campaigns, export_campaigns_async
    from bulkpatch.ops.plan import apply_plan, apply_plan_async, plan_to_dir, plan_to_dir_async
    from bulkpatch.ops.undo import undo_run, undo_run_async
    from bulkpatch.ops.verify import verify_run, verify_run_async

#: Where each public name lives: the module imported the first time the name is used.
_WHERE = {
    "BulkpatchError": "bulkpatch.core.errors",
    "BusyError": "bulkpatch.core.errors",
    "CredentialsError": "bulkpatch.core.errors",
    "Event": "bulkpatch.core.events",
    "EventSink": "bulkpatch.core.events",
    "ExitCode": "bulkpatch.core.outcomes",
    "InternalError": "bulkpatch.core.errors",
    "InvalidSheetError": "bulkpatch.core.errors",
    "JournalError": "bulkpatch.core.errors",
    "NextStep": "bulkpatch.core.summary",
    "Notice": "bulkpatch.core.events",
    "Outcome": "bulkpatch.core.outcomes",
    "Progress": "bulkpatch.core.events",
    "RowFinished": "bulkpatch.core.events",
    "RowResult": "bulkpatch.core.results",
    "RunFinished": "bulkpatch.core.events",
    "RunOptions": "bulkpatch.core.options",
    "RunStarted": "bulkpatch.core.events",
    "RunSummary": "bulkpatch.core.summary",
    "SheetError": "bulkpatch.core.errors",
    "Stopper": "bulkpatch.core.stopper",
    "StorageError": "bulkpatch.core.errors",
    "UsageError": "bulkpatch.core.errors",
    "WindowClosedError": "bulkpatch.core.errors",
    "WindowWait": "bulkpatch.core.events",
    "apply_plan": "bulkpatch.ops.plan",
    "apply_plan_async": "bulkpatch.ops.plan",
    "apply_sheet": "bulkpatch.ops.apply",
    "apply_sheet_async": "bulkpatch.ops.apply",
    "continue_sheet": "bulkpatch.ops.apply",
    "continue_sheet_async": "bulkpatch.ops.apply",
    "export_campaigns": "bulkpatch.ops.export",
    "export_campaigns_async": "bulkpatch.ops.export",
    "plan_sheet": "bulkpatch.ops.apply",
    "plan_sheet_async": "bulkpatch.ops.apply",
    "plan_to_dir": "bulkpatch.ops.plan",
    "plan_to_dir_async": "bulkpatch.ops.plan",
    "resume_run": "bulkpatch.ops.apply",
    "resume_run_async": "bulkpatch.ops.apply",
    "undo_run": "bulkpatch.ops.undo",
    "undo_run_async": "bulkpatch.ops.undo",
    "verify_run": "bulkpatch.ops.verify",
    "verify_run_async": "bulkpatch.ops.verify",
}

__all__ = [
    "BulkpatchError",
    "BusyError",
    "CredentialsError",
    "Event",
    "EventSink",
    "ExitCode",
    "InternalError",
    "InvalidSheetError",
    "JournalError",
    "NextStep",
    "Notice",
    "Outcome",
    "Progress",
    "RowFinished",
    "RowResult",
    "RunFinished",
    "RunOptions",
    "RunStarted",
    "RunSummary",
    "SheetError",
    "Stopper",
    "StorageError",
    "UsageError",
    "WindowClosedError",
    "WindowWait",
    "__version__",
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


def __getattr__(name: str) -> _typing.Any:
    """A public name, imported from its module on first use and kept."""
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'bulkpatch' has no attribute {name!r}")
    value = getattr(_importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
