"""The library's calls, one module per command: what a script, Airflow or the CLI calls.

Owns ``apply`` (apply, plan, resume a sheet), ``plan`` (write and apply an approved plan),
``export``, ``verify``, ``undo``, ``report``, ``merge``, ``validate`` and ``simulate``, and what
a run tells afterwards (``deliver``, ``notify``, ``pushgateway``).  Each synchronous call is its
``*_async`` form run through :func:`bulkpatch.core.loop.sync`.

May import: every stage below it (``engine``, ``html``, ``rundir``, ``transport``,
``simulator``, ``validation``, ``sheet``, ``core``); never ``cli``.
"""
