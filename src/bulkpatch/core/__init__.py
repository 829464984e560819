"""The vocabulary every stage shares: data, rules and small pure helpers, no I/O of its own.

Owns the API's models (``models``) and the sheet's column grammar derived from them
(``columns``); a row and its problems (``rows``), values inside a campaign (``values``), a row's
result (``results``) and outcome (``outcomes``); a run's options (``options``), events
(``events``), summary (``summary``) and error budget (``maxerrors``); the error tree
(``errors``) and how a failed command ends (``failures``); safe text (``text``), URLs (``urls``),
shards (``shards``), the stop handle (``stopper``), the clock (``timing``) and the event loop
the synchronous calls run on (``loop``).

May import: nothing else of bulkpatch; it is the bottom layer.
"""
