"""Rules that ``--help`` states and the engine applies, as the words both use.

Here, not in the engine, so that the command line can show them without loading the engine.
"""

from __future__ import annotations

#: How a canary ends, as ``run --help`` and the README state it.
CANARY_RULE = (
    "A canary that held stops the run: the rows it held back are not_attempted and do not count, "
    "so it exits 0 when every other row was updated or unchanged (1 if not); the run's next "
    "steps give the one command for the rest (`bulkpatch resume RUN_DIR`, which does not stop "
    "again; after --simulate, the run's retry file). A canary row that did not hold stops the "
    "run as aborted (exit 3, resumable)."
)

#: A plan is applied only with the digest the reviewer approved.
NO_APPROVED_DIGEST = (
    "a plan is applied only with the digest its reviewer approved: give --approved-digest "
    "SHA256 (plan.html shows it; `bulkpatch plan --out` printed it)"
)
