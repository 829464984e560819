"""Fixtures for the simulator's tests (the simulator itself comes from ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest

from bulkpatch.simulator import Simulator
from support.sim_client import Api


@pytest.fixture
def api_for(http_session: aiohttp.ClientSession) -> Callable[[Simulator], Api]:
    """Build an :class:`Api` for any simulator (e.g. one from ``start_simulator``)."""
    return lambda sim: Api(sim, http_session)


@pytest.fixture
def api(simulator: Simulator, http_session: aiohttp.ClientSession) -> Api:
    """An :class:`Api` on the default ``simulator`` fixture."""
    return Api(simulator, http_session)
