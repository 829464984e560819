"""Test scheduling for pytest-xdist: every core first, then the ``realtime`` tests alone.

Tests that measure real time (a rate at the server, how late a process wakes, how fast a run
stops) fail when other tests load the machine.  With ``-n``, they are kept for the end: once all
the other tests are done, one worker runs them one after another while the other workers have
stopped, so each of them has the machine to itself as in a serial run.

How the controller learns which tests they are: it does not collect, and it sees only node ids.
Each worker writes the ids of the tests it collected with ``@pytest.mark.realtime`` to a file in
a directory the controller names (``workerinput``); the scheduler reads them once every worker
has collected.  (``xdist_group`` cannot carry it: pytest-xdist 3.8 appends the group to a node
id attribute that pytest 9 no longer has, so ``--dist loadgroup`` groups nothing.)

Hooks in tests/conftest.py install it: ``pytest_configure_node``, ``pytest_xdist_make_scheduler``
and the workers' ``pytest_collection_modifyitems``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

#: Tests a worker holds at a time (it runs one once it knows the next).  Few, so that the long
#: tests (handed out first, see tests/conftest.py) spread over the workers and no worker ends the
#: run with a queue of tests while the others wait.
QUEUE = 3
#: The ``workerinput`` key naming the directory where workers list their realtime tests.
KEY = "realtime_ids_dir"
MARK = "realtime"


def ids_dir(config: pytest.Config) -> Path:
    """The controller's directory for the workers' lists (made once per session)."""
    found: str | None = getattr(config, "_realtime_ids_dir", None)
    if found is None:
        found = tempfile.mkdtemp(prefix="pytest-realtime-ids-")
        config._realtime_ids_dir = found  # type: ignore[attr-defined]
    return Path(found)


def write_ids(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a worker: list the realtime tests it collected, for the controller's scheduler."""
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or KEY not in workerinput:
        return
    ids = [item.nodeid for item in items if item.get_closest_marker(MARK) is not None]
    path = Path(workerinput[KEY]) / f"{workerinput['workerid']}.json"
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(ids), encoding="utf-8")
    os.replace(partial, path)


def read_ids(config: pytest.Config) -> set[str]:
    found: set[str] = set()
    for path in ids_dir(config).glob("*.json"):
        found.update(json.loads(path.read_text(encoding="utf-8")))
    return found


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScheduling

    class RealtimeLastScheduling(LoadScheduling):
        """The other tests a few at a time to whichever worker is free; then the realtime ones
        on one worker, alone."""

        def __init__(self, config: pytest.Config, log: Any = None) -> None:
            super().__init__(config, log)
            self.realtime: list[int] = []
            self.runner: Any = None  # the worker kept for the realtime tests

        @property
        def tests_finished(self) -> bool:
            return not self.realtime and super().tests_finished

        @property
        def has_pending(self) -> bool:
            return bool(self.realtime) or super().has_pending

        def schedule(self) -> None:
            assert self.collection_is_completed
            if self.collection is not None:  # a worker came up later
                for node in self.nodes:
                    self.check_schedule(node)
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = next(iter(self.node2collection.values()))
            alone = read_ids(self.config)
            for index, nodeid in enumerate(self.collection):
                (self.realtime if nodeid in alone else self.pending).append(index)
            for node in self.nodes:
                self.check_schedule(node)

        def check_schedule(self, node: Any, duration: float = 0) -> None:
            if node.shutting_down:
                return
            if self.pending:
                self._send_tests(node, QUEUE - len(self.node2pending[node]))
                return
            if not self.realtime:
                node.shutdown()
                return
            # The other tests are all handed out.  One worker is kept for the realtime tests;
            # the others finish what they hold and stop.  (A worker runs its last test only
            # once it gets another or is told to stop, so the kept one waits with its last.)
            if self.runner is None:
                self.runner = node
            for other in self.nodes:
                if other is not self.runner and not other.shutting_down:
                    other.shutdown()
            if node is not self.runner or len(self.nodes) > 1:
                return  # the realtime tests start once every other worker has stopped
            self.pending, self.realtime = self.realtime, []
            self._send_tests(node, len(self.pending))
            node.shutdown()

        def remove_node(self, node: Any) -> str | None:
            if node is self.runner:  # it died: another worker runs the realtime tests
                self.runner = None
            crashed: str | None = super().remove_node(node)
            for other in self.nodes:  # a worker stopped: the kept one may go on
                self.check_schedule(other)
            return crashed

    return RealtimeLastScheduling(config, log)
