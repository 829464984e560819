"""One session of a run: plan each row, carry it out, record it, end the session.

Owns the per-row decisions (``planner``, pure) and their execution (``executor``, ``procedure``)
on a pool of workers (``pool``) inside a session (``session``, ``preflight``, ``target``,
``closing``, ``ending``); what a row leaves behind (``recorder``, ``results``, ``amends``); the
run's guards (``safeguards``, ``canary``, ``approval``, ``keyrefusal``); its counts
(``stats``); plan directories (``planfile``) and reads without a sheet (``apireads``).

May import: ``bulkpatch.html``, ``bulkpatch.rundir``, ``bulkpatch.transport``,
``bulkpatch.simulator``, ``bulkpatch.validation``, ``bulkpatch.sheet`` and ``bulkpatch.core``;
never ``ops`` or ``cli``.
"""
