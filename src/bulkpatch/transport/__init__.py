"""Talking to the Scheduling API: HTTP, the classification of every reply, pacing and retries.

Owns the one aiohttp session and its lanes (``client``), the one classifier of status codes and
transport errors (``replies``: nothing else reads a status code), the retry loop (``retries``)
and its budget (``retrybudget``), the pacer (``pacing``) and the rate shared through Redis
(``ratestore``), the circuit breaker (``breaker``), paging the campaign list (``paging``) and
the API keys (``credentials``, ``keysfile``).

May import: ``bulkpatch.core`` only (it sits beside ``rundir`` and ``simulator``, which it does
not import).
"""
