"""One WebSocket connection: the thin layer between the socket and a sans-I/O session.

Frames go into the dialect's session; `SessionRunner` carries out the actions it returns. The dialect
is known from the handshake (Genesys sends Audiohook-* headers, `/ws/transcribe` is the live dialect)
or, failing that, from the first message. Timeouts (idle, maximum duration) are the door's: they are
answered as protocol errors in the session's dialect. An unexpected error in one connection is logged
and answered as a server error; it never reaches the server or another session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from audiohook_server.auth.handshake import Handshake
from audiohook_server.calls.core import CallCore, Emit, EmitSpeakers
from audiohook_server.logs import bind_session
from audiohook_server.metrics import ServerMetrics
from audiohook_server.server.dialects import looks_like_genesys, message_limits, new_session
from audiohook_server.server.session_runner import IngestLimits, SessionRunner
from audiohook_server.settings import Settings
from protocol.actions import SessionStarted
from protocol.errors import CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR, CLOSE_POLICY_VIOLATION, ProtocolError
from protocol.genesys import DISCONNECT_GRACE_S

__all__ = ["WebSocketDoor"]

log = logging.getLogger(__name__)


# What sending to or closing a WebSocket that is already gone raises, in Starlette and uvicorn.
_GONE = (WebSocketDisconnect, RuntimeError, OSError)


class _WebSocketOutbox:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    @property
    def open(self) -> bool:
        return self.websocket.application_state is WebSocketState.CONNECTED

    async def send(self, message: dict[str, Any]) -> None:
        if self.open:
            with contextlib.suppress(*_GONE):  # a client that is gone still gets its CSV
                await self.websocket.send_text(json.dumps(message))

    async def close(self, code: int, reason: str) -> None:
        if self.open:
            with contextlib.suppress(*_GONE):
                await self.websocket.close(code, reason)


class WebSocketDoor:
    def __init__(
        self,
        websocket: WebSocket,
        settings: Settings,
        handshake: Handshake,
        start_call: Callable[[SessionStarted, Handshake, Emit, EmitSpeakers], CallCore],
        metrics: ServerMetrics,
    ) -> None:
        self.websocket = websocket
        self.settings = settings
        self.handshake = handshake
        self._outbox = _WebSocketOutbox(websocket)
        self._ended = asyncio.Event()  # set when `run` is over, however the connection ended
        self._start_call = start_call
        self._metrics = metrics
        self.runner: SessionRunner | None = None
        if handshake.dialect is not None:
            self.runner = self._runner(handshake.dialect)
        self._timed_out = False
        self.close_code: int | None = None

    def _runner(self, dialect: str) -> SessionRunner:
        session = new_session(dialect, self.handshake, self.settings)
        return SessionRunner(
            session,
            self._outbox,
            self.handshake,
            self._start_call,
            self._metrics,
            IngestLimits.for_live_doors(self.settings),
            live_fields=self.settings.live_analysis_fields,
        )

    @property
    def session_id(self) -> str | None:
        return self.runner.session_id if self.runner else self.handshake.session_id

    async def run(self) -> None:
        bind_session(session_id=self.handshake.session_id, dialect=self.handshake.dialect)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.max_session_s
        idle = self.settings.idle_timeout_s
        try:
            if self.runner is not None:
                await self.runner.perform(self.runner.session.connected())  # the live dialect's session id
            while self._outbox.open:
                try:
                    message = await asyncio.wait_for(
                        self.websocket.receive(), min(idle, max(0.0, deadline - loop.time()))
                    )
                except TimeoutError:
                    if self._timed_out:
                        await self._outbox.close(CLOSE_POLICY_VIOLATION, "no close after the timeout")
                        break  # the client did not close after being told why: give up on it
                    self._timed_out = True
                    idle = DISCONNECT_GRACE_S
                    await self._fail(self._timeout_error(loop.time() >= deadline))
                    continue
                if message["type"] == "websocket.disconnect":
                    self.close_code = int(message.get("code") or 1005)
                    break
                text, data = message.get("text"), message.get("bytes")
                await self._receive(text if text is not None else data or b"")
        except WebSocketDisconnect as gone:
            self.close_code = gone.code
        except Exception:
            log.exception("session %s: unexpected error", self.session_id)
            await self._fail(ProtocolError(500, "internal server error", CLOSE_INTERNAL_ERROR))
        finally:
            if self.runner is not None:
                await self.runner.finish(self.close_code)
            self.mark_finished()

    def mark_finished(self) -> None:
        """The connection is over: a drain waiting for it returns."""
        self._ended.set()

    async def drain(self) -> None:
        """Server shutdown: finish the open utterances, send their finals, then end the session, and
        wait for the connection to end: a Genesys client answers `disconnect` with `close` and must
        still get `closed` before the server stops (the caller bounds the wait by the drain timeout)."""
        if self.runner is not None:
            await self.runner.drain()
        else:
            await self._outbox.close(CLOSE_GOING_AWAY, "server shutting down")
        await self._ended.wait()

    def _timeout_error(self, session_too_long: bool) -> ProtocolError:
        if session_too_long:
            limit = self.settings.max_session_s
            return ProtocolError(
                408, f"the session reached the maximum duration of {limit:.0f} s", CLOSE_POLICY_VIOLATION
            )
        limit = self.settings.idle_timeout_s
        return ProtocolError(408, f"nothing received for {limit:.0f} s: session closed as idle", CLOSE_POLICY_VIOLATION)

    async def _receive(self, frame: str | bytes) -> None:
        if self.runner is None:
            genesys = isinstance(frame, str) and looks_like_genesys(frame, message_limits(self.settings))
            self.runner = self._runner("genesys" if genesys else "simple")
        session = self.runner.session
        actions = session.receive_text(frame) if isinstance(frame, str) else session.receive_binary(frame)
        await self.runner.perform(actions)

    async def _fail(self, error: ProtocolError) -> None:
        if self.runner is None:
            self.runner = self._runner("simple")
        await self.runner.fail(error)
