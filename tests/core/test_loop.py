"""The event loop of the synchronous library calls: each starts it through ``core.loop.sync``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import bulkpatch
from bulkpatch.core import loop

#: Every synchronous library call, with the arguments it takes before its options.
SYNC_CALLS: dict[str, tuple[Any, ...]] = {
    "apply_sheet": ("changes.csv",),
    "plan_sheet": ("changes.csv",),
    "resume_run": ("run-dir",),
    "plan_to_dir": ("changes.csv", "plan-dir"),
    "apply_plan": ("plan-dir",),
    "verify_run": ("run-dir",),
    "undo_run": ("run-dir",),
    "export_campaigns": ("out.csv",),
}


class Started(Exception):
    """Raised in place of running the loop: the test needs only how it was started."""


@pytest.mark.parametrize("name", sorted(SYNC_CALLS))
def test_every_synchronous_library_call_starts_its_loop_the_way_core_loop_chooses(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[dict[str, Any]] = []

    def fake_run(func: Callable[[], Any], *args: Any, **kwargs: Any) -> Any:
        started.append(kwargs)
        raise Started

    monkeypatch.setattr(anyio, "run", fake_run)
    call = getattr(bulkpatch, name)
    with pytest.raises(Started):
        call(*SYNC_CALLS[name])
    assert started == [{"backend_options": {"use_uvloop": loop.use_uvloop()}}]


def test_sync_hands_its_arguments_to_the_coroutine_and_returns_its_result() -> None:
    async def add(a: int, b: int, *, times: int = 1) -> int:
        await anyio.lowlevel.checkpoint()
        return (a + b) * times

    assert loop.sync(add, 2, 3, times=4) == 20
