"""One WebSocket connection: the thin layer between the socket and a sans-I/O session.

Frames go into the dialect's session (`SimpleSession` or `GenesysSession`); the actions it returns are
carried out here (send a message, start or finish the call processor, close the socket). The dialect
is known from the handshake (Genesys sends Audiohook-* headers) or, failing that, from the first
message. Whatever happens to the connection, the call processor is finished so that every final
transcript reaches the CSV. An unexpected error in one connection is logged and answered as a server
error; it never reaches the server or another session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from audiohook_server.call import CallProcessor
from audiohook_server.config import Settings
from audiohook_server.engine import SpeechEngine
from audiohook_server.jwt_auth import JwtIdentity
from audiohook_server.logs import bind_session
from protocol.actions import (
    AudioGap,
    AudioReceived,
    ClientReportedError,
    CloseConnection,
    LanguageChanged,
    SendMessage,
    SessionAction,
    SessionEnding,
    SessionStarted,
)
from protocol.errors import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY_VIOLATION,
    CLOSE_TOO_BIG,
    ProtocolError,
)
from protocol.events import TranscriptUpdate
from protocol.genesys import DISCONNECT_GRACE_S, GenesysSession
from protocol.live import LiveSession
from protocol.simple import SimpleSession

log = logging.getLogger(__name__)

Session = SimpleSession | GenesysSession | LiveSession


@dataclass(frozen=True)
class Handshake:
    """What the upgrade request told the server about this connection."""

    dialect: str | None  # "simple", "genesys", "live", or None: decide on the first message
    api_key: str | None = None
    jwt: JwtIdentity | None = None
    session_id: str | None = None  # Audiohook-Session-Id
    organization_id: str | None = None  # Audiohook-Organization-Id
    correlation_id: str | None = None
    unauthorized_reason: str | None = None  # Genesys auth failed, answered with disconnect(unauthorized)

    @property
    def principal(self) -> str | None:
        """Who the session limits count this connection against: the API key or the JWT subject."""
        if self.jwt is not None:
            return f"jwt:{self.jwt.subject}"
        return self.api_key

    def auth_details(self) -> dict[str, Any]:
        """Recorded with the session: how the client authenticated (never the key or token itself)."""
        if self.jwt is not None:
            return {
                "auth": "jwt",
                "subject": self.jwt.subject,
                "claims": self.jwt.claims,
                "algorithm": self.jwt.algorithm,
            }
        if self.api_key is not None:
            return (
                {"auth": "api-key", "correlationId": self.correlation_id}
                if self.correlation_id
                else {"auth": "api-key"}
            )
        return {"auth": "none"}


def looks_like_genesys(frame: str) -> bool:
    """A first message with the v2 envelope and Genesys open parameters (no Audiohook-* headers seen)."""
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):
        return False
    if not isinstance(message, dict) or message.get("version") != "2" or message.get("type") != "open":
        return False
    parameters = message.get("parameters")
    return isinstance(parameters, dict) and "conversationId" in parameters and "organizationId" in parameters


class Connection:
    def __init__(
        self, websocket: ServerConnection, settings: Settings, engine: SpeechEngine, handshake: Handshake
    ) -> None:
        self.websocket = websocket
        self.settings = settings
        self.engine = engine
        self.handshake = handshake
        self.session: Session | None = None
        if handshake.dialect is not None:
            self.session = self._new_session(handshake.dialect)
        self.processor: CallProcessor | None = None
        self._closing: asyncio.Task[None] | None = None
        self._delayed_close: asyncio.Task[None] | None = None
        self._timed_out = False
        self._dialect_started: str | None = None

    def _new_session(self, dialect: str) -> Session:
        s = self.settings
        if dialect == "genesys":
            return GenesysSession(
                session_id=self.handshake.session_id,
                organization_id=self.handshake.organization_id,
                supported_languages=s.genesys_languages,
                default_language=s.genesys_languages[0],
                media_preference=s.media_preference,
                send_partials=s.genesys_partials and s.partials != "off",
                send_analysis_entity=s.genesys_analytics_entity,
                unauthorized_reason=self.handshake.unauthorized_reason,
            )
        if dialect == "live":
            return LiveSession(session_id=str(uuid.uuid4()), language=s.language, details=self.handshake.auth_details())
        return SimpleSession(supported_languages=s.supported_languages, default_language=s.language)

    @property
    def session_id(self) -> str | None:
        return self.session.session_id if self.session else self.handshake.session_id

    async def run(self) -> None:
        bind_session(session_id=self.handshake.session_id, dialect=self.handshake.dialect)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.max_session_s
        idle = self.settings.idle_timeout_s
        try:
            if self.session is not None:
                await self._perform(self.session.connected())  # the live dialect's session id comes first
            while True:
                try:
                    frame = await asyncio.wait_for(self.websocket.recv(), min(idle, max(0.0, deadline - loop.time())))
                except TimeoutError:
                    if self._timed_out:
                        break  # the client did not close after being told why: give up on it
                    self._timed_out = True
                    idle = DISCONNECT_GRACE_S
                    await self._fail(self._timeout_error(loop.time() >= deadline))
                    continue
                await self._receive(frame)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("session %s: unexpected error", self.session_id)
            await self._fail(ProtocolError(500, "internal server error", CLOSE_INTERNAL_ERROR))
        finally:
            await self._finish()

    def _timeout_error(self, session_too_long: bool) -> ProtocolError:
        if session_too_long:
            limit = self.settings.max_session_s
            return ProtocolError(
                408, f"the session reached the maximum duration of {limit:.0f} s", CLOSE_POLICY_VIOLATION
            )
        limit = self.settings.idle_timeout_s
        return ProtocolError(408, f"nothing received for {limit:.0f} s: session closed as idle", CLOSE_POLICY_VIOLATION)

    async def _receive(self, frame: str | bytes) -> None:
        if self.session is None:
            genesys = isinstance(frame, str) and looks_like_genesys(frame)
            self.session = self._new_session("genesys" if genesys else "simple")
        if isinstance(frame, str):
            if len(frame) > self.settings.max_text_bytes:
                limit = self.settings.max_text_bytes
                await self._fail(
                    ProtocolError(413, f"text message of {len(frame)} bytes exceeds {limit}", CLOSE_TOO_BIG)
                )
                return
            actions = self.session.receive_text(frame)
        else:
            if len(frame) > self.settings.max_frame_bytes:
                limit = self.settings.max_frame_bytes
                await self._fail(
                    ProtocolError(413, f"audio frame of {len(frame)} bytes exceeds {limit}", CLOSE_TOO_BIG)
                )
                return
            actions = self.session.receive_binary(frame)
        await self._perform(actions)

    async def _fail(self, error: ProtocolError) -> None:
        log.warning("session %s: %s", self.session_id, error.message)
        if self.session is None:
            self.session = self._new_session("simple")
        await self._perform(self.session.fail(error))

    async def drain(self) -> None:
        """Server shutdown: finish the open utterances, send their finals, then end the session."""
        if self.processor is not None:
            await self.processor.finish()
        if self.session is not None:
            await self._perform(self.session.shutdown())
        else:
            await self.websocket.close(CLOSE_GOING_AWAY, "server shutting down")

    async def _finish(self) -> None:
        if self._dialect_started is not None:
            self.engine.metrics.live_sessions.labels(self._dialect_started).dec()
        if self._delayed_close is not None:
            self._delayed_close.cancel()
        if self._closing is not None:
            await self._closing
        elif self.processor is not None:
            await self.processor.finish()
        if self.processor is not None and self.session is not None:
            log.info(
                "session %s ended: %.1f s of audio, %d finals, csv %s, close code %s",
                self.session_id,
                self.session.seconds_received,
                self.processor.final_count,
                self.processor.csv.path if self.processor.csv else "not written",
                self.websocket.close_code,
            )

    async def _perform(self, actions: list[SessionAction]) -> None:
        for action in actions:
            if isinstance(action, SendMessage):
                await self.send(action.message)
            elif isinstance(action, AudioReceived):
                if self.processor is None:
                    continue
                try:
                    self.processor.submit(action.samples)
                except ProtocolError as error:
                    await self._fail(error)
            elif isinstance(action, AudioGap):
                if self.processor is not None:
                    self.processor.submit_gap(action.samples)
                log.info("session %s: audio %s (%d samples skipped)", self.session_id, action.reason, action.samples)
            elif isinstance(action, SessionStarted):
                self._start(action)
            elif isinstance(action, LanguageChanged):
                if self.processor is not None:
                    self.processor.language = action.language
            elif isinstance(action, ClientReportedError):
                log.warning("session %s: client error %d: %s", self.session_id, action.code, action.message)
            elif isinstance(action, SessionEnding):
                if self._closing is None:
                    self._closing = asyncio.create_task(self._close_gracefully())
            elif isinstance(action, CloseConnection):
                await self._close(action)

    async def _close(self, action: CloseConnection) -> None:
        if action.code not in (1000, 1001):
            self.engine.metrics.errors.labels(str(action.code)).inc()
        if action.code != 1000:
            log.warning("session %s: closing with %d: %s", self.session_id, action.code, action.reason)
        if action.delay <= 0:
            await self.websocket.close(action.code, action.reason)
        elif self._delayed_close is None:
            # The client was asked to close (Genesys `disconnect`); close ourselves if it does not.
            async def close_later() -> None:
                await asyncio.sleep(action.delay)
                await self.websocket.close(action.code, action.reason)

            self._delayed_close = asyncio.create_task(close_later())

    def _start(self, action: SessionStarted) -> None:
        bind_session(session_id=action.session_id, conversation_id=action.conversation_id, dialect=action.dialect)
        self.engine.metrics.sessions.labels(action.dialect).inc()
        self.engine.metrics.live_sessions.labels(action.dialect).inc()
        self._dialect_started = action.dialect
        log.info(
            "session %s opened (%s): %s %d Hz %s, language %s%s",
            action.session_id,
            action.dialect,
            action.media.encoding,
            action.media.rate,
            "/".join(action.media.channels),
            action.language,
            f", conversation {action.conversation_id}" if action.conversation_id else "",
        )
        self.processor = CallProcessor(
            session_id=action.session_id,
            media=action.media,
            language=action.language,
            engine=self.engine,
            recordings_dir=self.settings.recordings_dir,
            emit=self._emit,
            record_audio=self.settings.record_audio,
            max_buffered_audio_s=self.settings.max_buffered_audio_s,
            metadata={
                "dialect": action.dialect,
                "conversation_id": action.conversation_id,
                **self.handshake.auth_details(),
                **action.details,
            },
        )

    async def _close_gracefully(self) -> None:
        """After a `close`: the last finals first, then `closed`, then a normal close."""
        if self.processor is not None:
            await self.processor.finish()
        if self._delayed_close is not None:
            self._delayed_close.cancel()
        assert self.session is not None
        await self._perform(self.session.closed())

    async def _emit(self, update: TranscriptUpdate, analysis: dict[str, Any] | None) -> None:
        assert self.session is not None
        await self._perform(self.session.transcript(update, analysis))

    async def send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed):  # a client that is gone still gets its CSV
            await self.websocket.send(json.dumps(message))
