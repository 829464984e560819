"""How many pytest-xdist workers ``-n auto`` (pyproject's addopts) starts: a worker per core and
one more per two cores (3 on 2 cores; 1 on 1).

The tests wait a share of their time (for child processes, loopback servers, Chromium, a
simulator's latency), and a core whose only worker waits is idle.  Measured on 2 cores with
nothing else running, the whole suite: 2 workers 88-95 s, 3 workers 82-84 s, 4 workers 82-85 s
with more CPU spent.  Each worker collects every test: about 1.6 s of CPU with the rewritten
test modules cached (tests/conftest.py keeps the cache outside the tree), about 4.8 s without,
as in a fresh clone.
"""

from __future__ import annotations

import os

#: Set, it decides the count instead (pytest-xdist's own variable).
OVERRIDE = "PYTEST_XDIST_AUTO_NUM_WORKERS"


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def auto_workers(cores: int) -> int:
    """Workers for ``cores`` cores."""
    return max(1, cores + cores // 2)
