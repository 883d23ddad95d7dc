"""The server URL: the API key in its query string, and the URL without it for messages.

The simple dialect authenticates with `x-api-key` in the query string (what a SIP trunk or softphone
bridge can send), so the URL the client connects to holds a secret. This module is the one place that
puts the key in and the one place that takes it out again before a URL is shown to anyone.
"""

from __future__ import annotations

from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

API_KEY_PARAM = "x-api-key"


def url_with_api_key(url: str, api_key: str | None) -> str:
    """Add `x-api-key=KEY` (URL-encoded) to the query, keeping the rest of it as it is."""
    if not api_key:
        return url
    parts = urlsplit(url)
    kept = [item for item in parts.query.split("&") if item and unquote_plus(item.split("=", 1)[0]) != API_KEY_PARAM]
    kept.append(f"{API_KEY_PARAM}={quote(api_key, safe='')}")
    return urlunsplit(parts._replace(query="&".join(kept)))


def redacted(url: str) -> str:
    """The URL without its query string (which may hold the API key), for messages."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))
