"""Running the simulator: an async context manager that serves it on a loopback port."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bulkpatch.core.rows import CampaignKey, as_key
from bulkpatch.core.urls import is_loopback
from bulkpatch.simulator.app import API_KEY_HEADER, API_ROOT, build_app
from bulkpatch.simulator.config import SimulatorConfig
from bulkpatch.simulator.faults import FaultPlan
from bulkpatch.simulator.state import SimulatorState


@dataclass(frozen=True, slots=True)
class Simulator:
    """A running simulator: where it listens, and its state (campaigns and statistics)."""

    config: SimulatorConfig
    state: SimulatorState
    faults: FaultPlan
    host: str
    port: int

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (``/_sim/*`` lives here)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api/scheduling``: what ``--base-url`` takes."""
        return self.root_url + API_ROOT

    @property
    def headers(self) -> dict[str, str]:
        """The auth header the simulator accepts (its configured, fake, key)."""
        return {API_KEY_HEADER: self.config.api_key}

    def workspace_url(self, org_id: str, workspace_id: str) -> str:
        return f"{self.base_url}/v1/orgs/{org_id}/workspaces/{workspace_id}"

    def campaign_url(self, key: Any) -> str:
        """The URL of one campaign (append ``/status`` for PUT status)."""
        k: CampaignKey = as_key(key)
        return f"{self.workspace_url(k.org_id, k.workspace_id)}/campaigns/{k.campaign_id}"

    def stats(self) -> dict[str, Any]:
        """The same numbers as ``GET /_sim/stats``."""
        return self.state.stats.snapshot()


@asynccontextmanager
async def serve_simulator(
    config: SimulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    state: SimulatorState | None = None,
    allow_remote: bool = False,
) -> AsyncIterator[Simulator]:
    """Serve the simulator until the block ends.  ``port=0`` picks a free port.

    ``state`` reuses an existing campaign store (its statistics restart); by default one is built
    from ``config``.  A host that is not loopback is refused unless ``allow_remote``.
    """
    config = config or (state.config if state is not None else SimulatorConfig())
    if not allow_remote and not is_loopback(host):
        raise ValueError(f"refusing to serve the simulator on non-loopback host {host!r}")
    state = state or SimulatorState(config)
    faults = FaultPlan(config)
    app = build_app(state, faults)
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=config.shutdown_timeout,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        started = time.monotonic()
        faults.restart_clock(started)
        state.stats.reset()
        yield Simulator(config=config, state=state, faults=faults, host=host, port=bound)
    finally:
        await runner.cleanup()
