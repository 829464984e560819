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
"""

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
from bulkpatch.version import __version__

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
