"""Imports every command module so that each registers itself on the group."""

from __future__ import annotations

from bulkpatch.cli import simulate  # noqa: F401
from bulkpatch.cli import validate  # noqa: F401
