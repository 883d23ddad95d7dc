"""The brute-force brake: repeated authentication failures from one address are slowed down.

Valid credentials always get in at once (behind a proxy every client shares one address); failures
beyond the limit get the same answer as any failure, only later, which slows guessing without telling
the guesser anything new. Slowing each answer alone does not bound the *rate* of guesses: 300
concurrent guesses would all be answered within the one delay. So an address may have at most
`in_flight_limit` slowed failures waiting at once; while it has that many, its further handshakes are
refused with 429 before their credentials are looked at (a 429 says nothing about the credentials),
which bounds a guesser to `in_flight_limit` guesses per delay.
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
    in_flight_limit: int = 4
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _in_flight: dict[str, int] = field(default_factory=dict)

    def saturated(self, address: str) -> bool:
        """True while the address has as many slowed failures waiting as it may."""
        return self._in_flight.get(address, 0) >= self.in_flight_limit

    def hold(self, address: str) -> None:
        """A slowed failure of this address starts waiting."""
        self._in_flight[address] = self._in_flight.get(address, 0) + 1

    def release(self, address: str) -> None:
        left = self._in_flight.get(address, 0) - 1
        if left > 0:
            self._in_flight[address] = left
        else:
            self._in_flight.pop(address, None)

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
