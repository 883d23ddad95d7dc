"""The brute-force brake: repeated authentication failures from one address are slowed down.

Valid credentials always get in at once (behind a proxy every client shares one address); failures
beyond the limit get the same answer as any failure, only later, which slows guessing without telling
the guesser anything new.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["AuthFailureLimiter"]


@dataclass
class AuthFailureLimiter:
    """At most `limit` failures per address within `window` seconds; past that, the address's failures
    are slowed until its oldest failure in the window ages out. Memory is bounded by `max_addresses`."""

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
