"""How fast one call's audio is taken in: a token bucket in seconds of audio per second of wall time.

A live call produces audio in real time; a client that sends minutes of audio in a second (a bug, a
replay through a live door, an attack) would otherwise queue minutes of work and make every other
call wait. Each call may send `burst_s` of audio at once (a client catching up after a network stall),
then `rate` times real time. A call over its budget is not refused: the door waits before it reads
the next frame, so the client's sends slow down (TCP backpressure) and nothing it sent is lost.
`rate` 0 means no limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["IngestBudget"]


@dataclass
class IngestBudget:
    rate: float  # seconds of audio per second of wall time (0: no limit)
    burst_s: float
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _last: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = self.burst_s
        self._last = self.clock()

    def delay_for(self, seconds: float) -> float:
        """Take `seconds` of audio; how long to wait before taking more (0 when within the budget)."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        self._tokens = min(self.burst_s, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= seconds
        return -self._tokens / self.rate if self._tokens < 0 else 0.0
