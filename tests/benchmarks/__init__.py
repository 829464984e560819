"""The benchmark of the performance targets: bulkpatch against a minimal aiohttp script,
xargs + curl and a load tool, and against the limits (pacing, latency, validate speed, memory).

Run it from the repository root: ``python -m tests.benchmarks --full`` (or ``--quick``).
"""
