"""API-key authentication at the WebSocket handshake.

The simple dialect sends the key as `?x-api-key=KEY`; Genesys sends the `X-API-KEY` header. Keys are
compared in constant time against every configured key, so a wrong key and an unknown key take the
same time and get the same answer.
"""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass
class AuthFailureLimiter:
    """Refuses an address for a while after repeated authentication failures (a brute-force brake).

    At most `limit` failures per address within `window` seconds; past that, the address is refused
    until its oldest failure in the window ages out. Memory is bounded by `max_addresses`.
    """

    limit: int
    window: float = 60.0
    max_addresses: int = 10_000
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def blocked(self, address: str, now: float) -> bool:
        failures = self._failures.get(address)
        if failures is None:
            return False
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return False
        return len(failures) >= self.limit

    def record_failure(self, address: str, now: float) -> None:
        if address not in self._failures and len(self._failures) >= self.max_addresses:
            self._failures.pop(next(iter(self._failures)))  # forget the oldest address
        self._failures.setdefault(address, deque()).append(now)
