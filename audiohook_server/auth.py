"""API-key authentication at the WebSocket handshake.

The simple dialect sends the key as `?x-api-key=KEY`; Genesys sends the `X-API-KEY` header. Keys are
compared in constant time against every configured key, so a wrong key and an unknown key take the
same time and get the same answer.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs

from audiohook_server.config import ApiKey


@dataclass(frozen=True)
class AuthResult:
    key: ApiKey | None
    error: str | None = None


def presented_api_key(query: str, headers: Mapping[str, str]) -> str | None:
    """The API key from the query string (`x-api-key`) or the `X-API-KEY` header."""
    values = parse_qs(query, keep_blank_values=True).get("x-api-key")
    if values:
        return values[0]
    return headers.get("X-API-KEY") or headers.get("x-api-key")


def check_api_key(presented: str | None, keys: Sequence[ApiKey]) -> AuthResult:
    if not presented:
        return AuthResult(None, "missing API key: pass ?x-api-key=KEY or the X-API-KEY header")
    match: ApiKey | None = None
    candidate = presented.encode("utf-8", errors="surrogateescape")
    for key in keys:
        # No early exit: every key is compared, whichever matches.
        if hmac.compare_digest(candidate, key.key.encode("utf-8")):
            match = key
    if match is None:
        return AuthResult(None, "invalid API key")
    return AuthResult(match)
