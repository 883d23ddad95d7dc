"""One WebSocket connection: the thin layer between the socket and the sans-I/O session.

Frames go into `SimpleSession`; the actions it returns are carried out here (send a message, start
or finish the call processor, close the socket). Whatever happens to the connection, the call
processor is finished so that every final transcript reaches the CSV. An unexpected error in one
connection is logged and answered with a 500 and close code 1011; it never reaches the server or
another session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from audiohook_server.call import CallProcessor
from audiohook_server.config import Settings
from audiohook_server.engine import SpeechEngine
from protocol.errors import CLOSE_INTERNAL_ERROR, ProtocolError
from protocol.simple import (
    AudioReceived,
    CloseConnection,
    SendMessage,
    SessionAction,
    SessionEnding,
    SessionStarted,
    SimpleSession,
)

log = logging.getLogger(__name__)


class Connection:
    def __init__(self, websocket: ServerConnection, settings: Settings, engine: SpeechEngine) -> None:
        self.websocket = websocket
        self.settings = settings
        self.engine = engine
        self.session = SimpleSession(
            supported_languages=settings.supported_languages, default_language=settings.language
        )
        self.processor: CallProcessor | None = None
        self._closing: asyncio.Task[None] | None = None
        self._opened_at = time.monotonic()

    async def run(self) -> None:
        try:
            async for frame in self.websocket:
                if isinstance(frame, str):
                    actions = self.session.receive_text(frame)
                else:
                    actions = self.session.receive_binary(frame)
                await self._perform(actions)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("session %s: unexpected error", self.session.session_id)
            await self._perform(self.session.fail(ProtocolError(500, "internal server error", CLOSE_INTERNAL_ERROR)))
        finally:
            await self._finish()

    async def _finish(self) -> None:
        if self._closing is not None:
            await self._closing
        elif self.processor is not None:
            await self.processor.finish()
        if self.processor is not None:
            log.info(
                "session %s ended: %.1f s of audio, %d finals, csv %s, close code %s",
                self.session.session_id,
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
                assert self.processor is not None
                try:
                    self.processor.submit(action.samples)
                except ProtocolError as error:
                    log.warning("session %s: %s", self.session.session_id, error.message)
                    await self._perform(self.session.fail(error))
            elif isinstance(action, SessionStarted):
                self._start(action)
            elif isinstance(action, SessionEnding):
                self._closing = asyncio.create_task(self._close_gracefully())
            elif isinstance(action, CloseConnection):
                if action.code != 1000:
                    log.warning("session %s: closing with %d: %s", self.session.session_id, action.code, action.reason)
                await self.websocket.close(action.code, action.reason)

    def _start(self, action: SessionStarted) -> None:
        log.info(
            "session %s opened: %s %d Hz %s, language %s",
            action.session_id,
            action.media.encoding,
            action.media.rate,
            "/".join(action.media.channels),
            action.language,
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
        )

    async def _close_gracefully(self) -> None:
        """After a `close`: the last finals first, then `closed`, then a normal close."""
        if self.processor is not None:
            await self.processor.finish()
        await self._perform(self.session.closed_message())

    async def _emit(self, entity: dict[str, Any], analysis: dict[str, Any] | None) -> None:
        await self.send(self.session.event_message(entity, analysis))

    async def send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed):  # a client that is gone still gets its CSV
            await self.websocket.send(json.dumps(message))
