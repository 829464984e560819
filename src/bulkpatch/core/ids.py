"""The ids that go into a URL path (org, workspace, campaign): one rule, without pydantic.

Apart from :mod:`bulkpatch.core.models` so that what the command line loads at start-up
(``core.urls``, ``core.options``) does not pull in pydantic.
"""

from __future__ import annotations

import re

ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
_ID_RE = re.compile(ID_PATTERN)


def is_valid_id(value: str) -> bool:
    """True when ``value`` may be used as an org, workspace or campaign id in a URL path."""
    return _ID_RE.fullmatch(value) is not None
