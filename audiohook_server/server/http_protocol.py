"""uvicorn's HTTP/1.1 protocol with a deadline for each request head (the slowloris defence).

uvicorn bounds a kept-alive connection's idle time, but not how long a client may take to send a
request's headers: a client that opens connections and trickles one header byte at a time would hold
them forever. `TimedH11Protocol` closes a connection whose request head (the WebSocket upgrade
included) is not complete within `head_timeout` seconds of the connection, or of the previous
response. The server builds a subclass with `--handshake-timeout-s` (`with_head_timeout`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["TimedH11Protocol", "with_head_timeout"]


class TimedH11Protocol(H11Protocol):
    head_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_head_timer()

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self._head_timer is not None and (self.cycle is not before or self.transport.get_protocol() is not self):
            # A request head arrived: a new request is running, or the connection became a WebSocket.
            self._head_timer.cancel()
            self._head_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()  # the next request's head is awaited from here

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.get_protocol() is self and not self.transport.is_closing():
            self.logger.warning("closing a connection that sent no complete request head in %.0f s", self.head_timeout)
            self.transport.close()


def with_head_timeout(seconds: float) -> type[TimedH11Protocol]:
    """The protocol class uvicorn instantiates per connection, with this head deadline."""
    return type("TimedH11Protocol", (TimedH11Protocol,), {"head_timeout": seconds})
