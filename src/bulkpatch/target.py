"""Where a run sends: the real API, or the embedded simulator seeded with the sheet; and each
API key's lane (its pacer and breaker)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from bulkpatch.breaker import Breaker
from bulkpatch.client import Lane
from bulkpatch.options import RunOptions
from bulkpatch.pacing import Pacer
from bulkpatch.rows import CampaignKey
from bulkpatch.timing import Timing
from bulkpatch.urls import check_base_url


@asynccontextmanager
async def api_target(
    options: RunOptions, api_key: str, keys: Sequence[tuple[CampaignKey, dict[str, Any]]]
) -> AsyncIterator[tuple[str, str]]:
    """(base URL, key): the real API, or a simulator started here seeded with ``keys`` (each
    campaign with its ``expect.`` guards, so that they hold)."""
    if not options.simulate:
        yield check_base_url(options.base_url), api_key
        return
    from bulkpatch.simulator import SimulatorConfig, serve_simulator

    key = "sim-" + secrets.token_hex(8)
    campaigns: list[CampaignKey] = []
    overrides: dict[CampaignKey, dict[str, Any]] = {}
    for row_key, expects in keys:
        campaigns.append(row_key)
        if expects:
            overrides[row_key] = dict(expects)
    config = SimulatorConfig(
        api_key=key, seed=options.seed, campaigns=tuple(campaigns), overrides=overrides
    )
    async with serve_simulator(config) as sim:
        yield sim.base_url, key


def make_lane(
    options: RunOptions,
    api_key: str,
    timing: Timing,
    *,
    label: str,
    on_give_up: Callable[[str], None],
    rate: float | None = None,
) -> Lane:
    """A key's lane: a pacer at ``rate`` (default ``options.rate``) and a breaker."""
    return Lane(
        label=label,
        api_key=api_key,
        pacer=Pacer(options.rate if rate is None else rate, clock=timing.clock, sleep=timing.sleep),
        breaker=Breaker(
            max_outage=options.max_outage,
            on_give_up=on_give_up,
            clock=timing.clock,
            sleep=timing.sleep,
        ),
    )
