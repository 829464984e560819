"""The event loop a bulkpatch process runs on: uvloop where it is installed, else asyncio's.

uvloop runs the same asyncio code on libuv, with the loop and its sockets written in C: every
request of a run costs less CPU, which is what bounds a run whose rate is not limited (see the
benchmark in ``tests/benchmarks``).  It is a dependency wherever it builds (not on Windows), and
``BULKPATCH_EVENT_LOOP=asyncio`` picks asyncio's own loop instead (to rule the loop out when
chasing a problem).

Only the loops bulkpatch starts itself are chosen here (the command line, and the library's
synchronous calls); the ``*_async`` calls run on whatever loop their caller runs.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import anyio

T = TypeVar("T")
P = ParamSpec("P")

#: Set to ``asyncio`` to run on asyncio's own loop even where uvloop is installed.
LOOP_ENV = "BULKPATCH_EVENT_LOOP"


def use_uvloop() -> bool:
    """Whether loops started by bulkpatch run on uvloop."""
    if os.environ.get(LOOP_ENV, "").strip().lower() == "asyncio":
        return False
    return importlib.util.find_spec("uvloop") is not None


def run(func: Callable[[], Awaitable[T]]) -> T:
    """``anyio.run(func)`` on uvloop when :func:`use_uvloop` says so."""
    return anyio.run(func, backend_options={"use_uvloop": use_uvloop()})


def sync(func: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``await func(*args, **kwargs)`` in an event loop of its own (:func:`run`).

    Every synchronous library call (``apply_sheet``, ``plan_to_dir``, ``verify_run``, ...) is its
    ``*_async`` form through this one function, so all of them run on the same loop.
    """
    return run(functools.partial(func, *args, **kwargs))
