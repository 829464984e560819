"""``bulkpatch simulate``: serve the simulated Scheduling API on this machine.

The library call is :func:`serve_simulator` (an async context manager yielding the running
:class:`~bulkpatch.simulator.Simulator`); :class:`SimulatorConfig` holds every knob and fault,
and :func:`keys_from_sheet` reads the campaign keys a sheet names so the simulator can hold
exactly those.  The choices the command line offers for each knob are the constants below.
"""

from __future__ import annotations

from bulkpatch.simulator import (
    DEFAULT_API_KEY,
    DEFAULT_ORG,
    DEFAULT_WORKSPACE,
    Simulator,
    SimulatorConfig,
    keys_from_sheet,
    serve_simulator,
)
from bulkpatch.simulator.config import (
    ERROR_SHAPES,
    LIST_SHAPES,
    NOT_EDITABLE_STATUSES,
    PAGE_URI_FORMS,
    REDIRECT_STATUSES,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_ORG",
    "DEFAULT_WORKSPACE",
    "ERROR_SHAPES",
    "LIST_SHAPES",
    "NOT_EDITABLE_STATUSES",
    "PAGE_URI_FORMS",
    "REDIRECT_STATUSES",
    "Simulator",
    "SimulatorConfig",
    "keys_from_sheet",
    "serve_simulator",
]
