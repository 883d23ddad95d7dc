"""Where Genesys signature nonces are remembered, so that a captured handshake cannot be replayed.

A signed upgrade request carries a nonce; the same nonce seen twice within the signature's acceptance
window (`--signature-max-age-s` plus twice the clock skew, 16 s by default) is a replay. With one
process, its memory is enough (`MemoryNonceStore`). With several replicas behind one load balancer, a
nonce remembered by one replica can be replayed once to each of the others within that window: give
them one shared store (`--nonce-store redis://HOST:PORT/DB`, `RedisNonceStore`), where each nonce is
set once with `SET key NX EX ttl` (atomic: of two replicas that see it at once, one wins).

A store that cannot be reached fails closed: the handshake is refused (503), never waved through.
"""

from __future__ import annotations

import math
import time
from typing import Protocol

from protocol.httpsig import NonceCache

__all__ = ["MemoryNonceStore", "NonceStore", "NonceStoreUnavailable", "RedisNonceStore", "nonce_store"]


class NonceStoreUnavailable(Exception):
    """The shared store could not be asked: the handshake must be refused."""


class NonceStore(Protocol):
    async def first_use(self, nonce: str, ttl: float) -> bool:
        """True when the nonce was not seen within its ttl (and is now remembered), False for a replay."""
        ...

    async def close(self) -> None: ...


class MemoryNonceStore:
    """This process's memory: enough for one replica."""

    def __init__(self, ttl: float) -> None:
        self._cache = NonceCache(ttl=ttl)

    async def first_use(self, nonce: str, ttl: float) -> bool:
        return self._cache.check_and_add(nonce, time.time())

    async def close(self) -> None:
        return None


class RedisNonceStore:
    """A Redis server every replica shares (redis-py's asyncio client, a bounded connection pool)."""

    PREFIX = "audiohook:nonce:"

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self.url = url

    async def first_use(self, nonce: str, ttl: float) -> bool:
        import redis

        try:
            created = await self._redis.set(self.PREFIX + nonce, b"1", nx=True, ex=max(1, math.ceil(ttl)))
        except (redis.RedisError, OSError) as exc:
            raise NonceStoreUnavailable(f"the nonce store is unavailable: {type(exc).__name__}") from exc
        return bool(created)

    async def close(self) -> None:
        await self._redis.aclose()


def nonce_store(setting: str, ttl: float) -> NonceStore:
    """The store `--nonce-store` names: `memory`, or a redis:// (rediss://, unix://) URL."""
    return MemoryNonceStore(ttl) if setting == "memory" else RedisNonceStore(setting)
