"""The run directory on disk: its lock, its journal, its report files, and reading it back.

Owns making and locking a run directory (``directory``), the append-only journal that resume,
undo and verify read (``journal``), the report files written whole or not at all (``files``)
and a finished run read back from its journal and copy of the sheet (``record``).

May import: ``bulkpatch.validation``, ``bulkpatch.sheet`` and ``bulkpatch.core`` (it sits beside
``transport`` and ``simulator``, which it does not import).
"""
