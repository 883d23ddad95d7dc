"""The session limits, checked at the handshake: per process (503) and per API key or JWT subject (429).

A connection is counted from the moment its handshake is admitted until its handler ends, so a burst
of handshakes cannot slip past the limit before their sessions open.
"""

from __future__ import annotations

import http
from collections.abc import Iterable
from dataclasses import dataclass

from audiohook_server.auth.handshake import Handshake

__all__ = ["Admission", "SessionLimits"]


@dataclass(frozen=True)
class Admission:
    """A refused handshake: the HTTP status, the reason for the body and log, and the metrics label."""

    status: http.HTTPStatus
    reason: str
    label: str


@dataclass(frozen=True)
class SessionLimits:
    max_sessions: int
    max_sessions_per_key: int

    def check(self, handshake: Handshake, admitted: Iterable[Handshake]) -> Admission | None:
        """None when `handshake` may join the sessions already `admitted`, else why not."""
        live = list(admitted)
        if len(live) >= self.max_sessions:
            return Admission(
                http.HTTPStatus.SERVICE_UNAVAILABLE, f"server at capacity ({self.max_sessions} sessions)", "capacity"
            )
        principal = handshake.principal
        if principal is not None and sum(1 for h in live if h.principal == principal) >= self.max_sessions_per_key:
            return Admission(
                http.HTTPStatus.TOO_MANY_REQUESTS,
                f"these credentials already have {self.max_sessions_per_key} live sessions",
                "per-key-limit",
            )
        return None
