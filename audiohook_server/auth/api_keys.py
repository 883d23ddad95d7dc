"""API keys at the handshake: the one a client presented, and whether it is one of ours.

The simple dialect sends the key as `?x-api-key=KEY`; Genesys sends the `X-API-KEY` header. Keys are
compared in constant time against every configured key (`protocol.credentials.lookup_key`), so a
wrong key and an unknown key take the same time and get the same answer.

A key has no name in the configuration, and the key is the secret (for the simple dialect, it is all a
client shows), so the exports name it by `key_id`: the first 12 hex digits of its SHA-256, the same on
every replica (`printf %s KEY | sha256sum | cut -c1-12` shows which key it was), never the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs

from audiohook_server.settings import ApiKey
from protocol.credentials import lookup_key

__all__ = ["AuthResult", "check_api_key", "key_id", "presented_api_key"]


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
    _, match = lookup_key(presented, ((key.key, key) for key in keys))
    if match is None:
        return AuthResult(None, "invalid API key")
    return AuthResult(match)


def key_id(key: str) -> str:
    """A key's name in the exports: the first 12 hex digits of its SHA-256 (not the key; not reversible)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
