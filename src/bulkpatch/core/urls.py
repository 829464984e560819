"""Where requests go: the default API, which base URLs may carry a key, and campaign paths."""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import quote, urlsplit

from bulkpatch.core.ids import is_valid_id
from bulkpatch.core.rows import CampaignKey

DEFAULT_BASE_URL = "https://apps.sarvam.ai/api/scheduling"


class BaseUrlError(ValueError):
    """The base URL is not one we may send a key to."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.1``, ``::1``, ``[::1]``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """The base URL without a trailing slash; ``http://`` only for a loopback host."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BaseUrlError(
            f"base URL {url!r} is not an absolute http(s) URL (for example {DEFAULT_BASE_URL})"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise BaseUrlError(
            f"base URL {url!r} uses plain http:// to a host that is not loopback; the API key "
            "would cross the network unencrypted. Use https://"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise BaseUrlError("base URL must not carry credentials, a query or a fragment")
    return url.rstrip("/")


@functools.lru_cache(maxsize=1024)
def workspace_path(org_id: str, workspace_id: str) -> str:
    """``/v1/orgs/{org}/workspaces/{ws}``; every id is checked before it reaches the path.

    Cached: a run asks for the same few workspaces once per request."""
    for value in (org_id, workspace_id):
        if not is_valid_id(value):
            raise ValueError(f"id {value!r} may not be used in a URL")  # validation let it by: bug
    return f"/v1/orgs/{quote(org_id)}/workspaces/{quote(workspace_id)}"


def campaign_path(key: CampaignKey) -> str:
    """The URL path of a campaign; every id is checked before it reaches the path."""
    if not is_valid_id(key.campaign_id):
        raise ValueError(f"id {key.campaign_id!r} may not be used in a URL")
    # A valid id is letters, digits, "_" and "-": nothing in it to quote (once per request).
    return f"{workspace_path(key.org_id, key.workspace_id)}/campaigns/{key.campaign_id}"
