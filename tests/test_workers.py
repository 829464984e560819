"""``pytest`` (``-n auto``) starts a worker per core and one more per two cores
(tests/support/workers.py): the tests wait a share of their time, and a third worker on two cores
fills what a waiting one leaves idle."""

from __future__ import annotations

import os

import pytest

from support import workers


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 3), (3, 4), (4, 6), (16, 24)])
def test_a_worker_per_core_and_one_more_per_two_cores(cores: int, expected: int) -> None:
    assert workers.auto_workers(cores) == expected


def test_auto_on_two_cores_is_three_workers_unless_pytest_xdists_variable_says(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = request.config
    monkeypatch.delenv(workers.OVERRIDE, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert config.hook.pytest_xdist_auto_num_workers(config=config) == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert config.hook.pytest_xdist_auto_num_workers(config=config) == 1
    monkeypatch.setenv(workers.OVERRIDE, "5")
    assert config.hook.pytest_xdist_auto_num_workers(config=config) == 5
