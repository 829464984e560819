"""The embedded simulator of the Sarvam Scheduling API (see docs/simulator.md).

    async with serve_simulator(SimulatorConfig(generate=50, seed=1)) as sim:
        ...  # talk to sim.base_url with sim.headers; inspect sim.state

Modules: ``config`` (the knobs), ``population`` (deterministic campaigns), ``state`` (the store and
the API's rules), ``faults`` (deterministic fault decisions), ``stats`` (request accounting),
``errors`` (error codes and messages), ``error_bodies`` (their bodies: shape, hostile text,
padding), ``listing`` (the list endpoint's query and page shapes), ``app`` (the API's routes behind
the fault gate), ``admin`` (``/_sim/*``), ``server`` (the context manager), ``sheet`` (keys from a
sheet).  It owns all of the fake API; bulkpatch's own code talks to it only over HTTP.

May import: ``bulkpatch.sheet`` (to read campaign keys from a sheet) and ``bulkpatch.core`` (the
models the client shares); it sits beside ``rundir`` and ``transport``, which it does not import.
"""

from __future__ import annotations

from bulkpatch.core.rows import CampaignKey, as_key
from bulkpatch.simulator.app import API_KEY_HEADER, API_ROOT, build_app
from bulkpatch.simulator.config import (
    DEFAULT_API_KEY,
    DEFAULT_ORG,
    DEFAULT_STATUS_WEIGHTS,
    DEFAULT_WORKSPACE,
    SimulatorConfig,
)
from bulkpatch.simulator.faults import FaultPlan
from bulkpatch.simulator.population import generate_campaign
from bulkpatch.simulator.server import Simulator, serve_simulator
from bulkpatch.simulator.sheet import keys_from_sheet
from bulkpatch.simulator.snapshot import SnapshotError, load_state, save_state
from bulkpatch.simulator.state import SimulatorState
from bulkpatch.simulator.stats import SimStats

__all__ = [
    "API_KEY_HEADER",
    "API_ROOT",
    "DEFAULT_API_KEY",
    "DEFAULT_ORG",
    "DEFAULT_STATUS_WEIGHTS",
    "DEFAULT_WORKSPACE",
    "CampaignKey",
    "FaultPlan",
    "SimStats",
    "Simulator",
    "SimulatorConfig",
    "SimulatorState",
    "SnapshotError",
    "as_key",
    "build_app",
    "generate_campaign",
    "keys_from_sheet",
    "load_state",
    "save_state",
    "serve_simulator",
]
