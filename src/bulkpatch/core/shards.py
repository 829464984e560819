"""Splitting one sheet over several processes: ``--shard K/N``.

A row belongs to shard ``K`` of ``N`` (``K`` from 1 to ``N``) when its campaign key hashes there::

    shard_of("org/workspace/campaign", N) = int.from_bytes(sha256(key)[:8], "big") % N + 1

The hash is SHA-256 of the UTF-8 text ``org_id/workspace_id/campaign_id``, so every process, on
every machine and Python version, puts a row in the same shard.  A row whose ids are unreadable
(it is invalid anyway) belongs to shard 1, so that exactly one shard reports it.  On a Kubernetes
Indexed Job, ``--shards N`` takes ``K`` from ``JOB_COMPLETION_INDEX`` (0-based) + 1.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from bulkpatch.core.errors import UsageError
from bulkpatch.core.rows import CampaignKey

INDEX_ENV = "JOB_COMPLETION_INDEX"
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, key: CampaignKey | None) -> bool:
        if key is None:
            return self.index == 1
        return shard_of(key, self.count) == self.index


def shard_of(key: CampaignKey, count: int) -> int:
    """The shard (1..count) a campaign belongs to."""
    digest = hashlib.sha256(str(key).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(text: str) -> Shard:
    """``"K/N"`` -> :class:`Shard`; a usage error says what is wrong."""
    match = _SHARD.match(text)
    if match is None:
        raise UsageError(f"--shard {text!r}: give K/N, for example --shard 2/4")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise UsageError(f"--shard {text!r}: K must be from 1 to N, and N at least 1")
    return Shard(index, count)


def chosen_shard(shard: str | None, count: int | None, environ: Mapping[str, str]) -> Shard | None:
    """The shard a run is given: ``--shard K/N``, or ``--shards N`` with ``JOB_COMPLETION_INDEX``;
    giving both is refused (which of the two was meant cannot be told)."""
    if shard is not None and count is not None:
        raise UsageError(
            f"--shard {shard} and --shards {count} were both given: give --shard K/N, or "
            f"--shards N on a Kubernetes Indexed Job (K from {INDEX_ENV}), not both"
        )
    if count is not None:
        return shard_from_env(count, environ)
    return parse_shard(shard) if shard is not None else None


def shard_from_env(count: int, environ: Mapping[str, str]) -> Shard:
    """``--shards N`` with ``JOB_COMPLETION_INDEX`` (0-based) set by a Kubernetes Indexed Job."""
    raw = environ.get(INDEX_ENV)
    if raw is None or not raw.strip().isdigit():
        raise UsageError(
            f"--shards {count} needs {INDEX_ENV} (0 to {count - 1}), which a Kubernetes Indexed "
            "Job sets; outside one, use --shard K/N"
        )
    index = int(raw) + 1
    if count < 1 or index > count:
        raise UsageError(f"{INDEX_ENV}={raw} is outside --shards {count} (0 to {count - 1})")
    return Shard(index, count)
