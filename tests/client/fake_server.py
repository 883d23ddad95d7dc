"""A recording loopback peer for the client's wire-level tests: the real `SimpleSession`, a scripted recognizer.

The server here is the protocol core plus a scripted "recognizer" (one word per frame), so the
client's side of the protocol (open, frames, pacing, seq numbers, close, errors, early closes,
the 401 handshake) is checked against the same state machine the real server uses, without loading
any speech model. The server runs on its own event loop in a thread so that `main()`, which calls
`asyncio.run` itself, can be tested too.

Why a fake here, beside the real server: it records exactly what the client put on the wire (each
text message, each frame's size and arrival time), which a real server does not expose, and it can
misbehave in ways the real server never does (an error in answer to `open`, a dropped socket, a
`disconnect` in the simple dialect, a `close` never answered). The client against the real server
(over stand-in speech) is tests/client/test_against_the_server.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import numpy.typing as npt
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from protocol import (
    AudioReceived,
    CloseConnection,
    ProtocolError,
    SendMessage,
    SessionAction,
    SessionEnding,
    SimpleSession,
)
from protocol.languages import Languages

API_KEY = "s3cret key/+&="  # needs URL-encoding
RATE = 16000


def audio(seconds: float) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(1)
    return rng.integers(-2000, 2000, size=round(seconds * RATE), dtype=np.int16)


@dataclass
class ServerLog:
    """What one connection sent to the server."""

    query: dict[str, list[str]] = field(default_factory=dict)
    texts: list[dict[str, Any]] = field(default_factory=list)
    frames: list[tuple[float, int]] = field(default_factory=list)  # (monotonic arrival, bytes)
    order: list[str] = field(default_factory=list)  # "open", "binary", "close", ...
    audio: bytearray = field(default_factory=bytearray)
    session: SimpleSession | None = None


class FakeServer:
    """A loopback simple-dialect server: the real `SimpleSession`, one scripted word per audio frame.

    Behaviours: `fail_open` (answer `open` with an error), `fail_after` (a 413 error after N frames),
    `close_after` (drop the socket with 1011 after N frames), `disconnect_after` (send `disconnect`
    after N frames), `ignore_close` (never answer `close`).
    """

    def __init__(
        self,
        *,
        fail_open: bool = False,
        fail_after: int | None = None,
        close_after: int | None = None,
        disconnect_after: int | None = None,
        ignore_close: bool = False,
    ) -> None:
        self.fail_open = fail_open
        self.fail_after = fail_after
        self.close_after = close_after
        self.disconnect_after = disconnect_after
        self.ignore_close = ignore_close
        self.logs: list[ServerLog] = []
        self.rejected = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Server | None = None
        self.port = 0

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self) -> Server:
        return await serve(self._handler, "127.0.0.1", 0, process_request=self._check_key, max_size=2**22)

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/audiohook"

    @property
    def log(self) -> ServerLog:
        assert len(self.logs) == 1, f"expected one connection, got {len(self.logs)}"
        return self.logs[0]

    # ---- protocol ----------------------------------------------------------------------------

    def _check_key(self, connection: ServerConnection, request: Request) -> Response | None:
        keys = parse_qs(urlsplit(request.path).query).get("x-api-key", [])
        if keys != [API_KEY]:
            self.rejected += 1
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or missing API key\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        log = ServerLog(query=parse_qs(urlsplit(ws.request.path if ws.request else "").query))
        self.logs.append(log)
        session = log.session = SimpleSession(languages=Languages(("en", "de")))
        words: list[str] = []
        try:
            async for data in ws:
                if isinstance(data, str):
                    message = json.loads(data)
                    log.texts.append(message)
                    log.order.append(message.get("type", "?"))
                    if message.get("type") == "open" and self.fail_open:
                        actions = session.fail(ProtocolError(415, "no codec we can decode"))
                    elif message.get("type") == "close" and self.ignore_close:
                        continue
                    else:
                        actions = session.receive_text(data)
                else:
                    log.frames.append((time.monotonic(), len(data)))
                    log.order.append("binary")
                    log.audio += data
                    actions = session.receive_binary(data)
                for action in actions:
                    if await self._perform(ws, log, action, words):
                        return
        except ConnectionClosed:
            pass

    async def _perform(self, ws: ServerConnection, log: ServerLog, action: SessionAction, words: list[str]) -> bool:
        """Carry out one action; True when the connection was closed."""
        session = log.session
        assert session is not None
        if isinstance(action, SendMessage):
            await ws.send(json.dumps(action.message))
        elif isinstance(action, CloseConnection):
            await ws.close(action.code, action.reason)
            return True
        elif isinstance(action, AudioReceived):
            return await self._on_audio(ws, log, action, words)
        elif isinstance(action, SessionEnding):
            words.append("goodbye")
            await ws.send(json.dumps(_event(session, self._final(words[-1:], session), _analysis(words))))
            for closing in session.closed():
                if await self._perform(ws, log, closing, words):
                    return True
        return False

    async def _on_audio(self, ws: ServerConnection, log: ServerLog, action: AudioReceived, words: list[str]) -> bool:
        session = log.session
        assert session is not None
        frames = len(log.frames)
        if self.fail_after is not None and frames >= self.fail_after:
            for failing in session.fail(ProtocolError(413, "too much audio for this test")):
                if await self._perform(ws, log, failing, words):
                    return True
        if self.close_after is not None and frames >= self.close_after:
            await ws.close(1011, "recognizer crashed")
            return True
        if self.disconnect_after is not None and frames == self.disconnect_after:
            disconnect: dict[str, Any] = {
                "version": "2",
                "type": "disconnect",
                "id": session.session_id,
                "parameters": {"reason": "completed", "info": "enough"},
            }
            await ws.send(json.dumps(disconnect))
        words.append(f"word{frames}")
        end = (action.first_sample + action.samples.shape[0]) / RATE
        partial = {"type": "transcript", "value": " ".join(words[-2:]), "is_final": False, "start": 0.0, "end": end}
        await ws.send(json.dumps(_event(session, partial)))  # partials have no words/confidence
        if frames % 2 == 0:
            await ws.send(json.dumps(_event(session, self._final(words[-2:], session), _analysis(words))))
        return False

    @staticmethod
    def _final(text_words: list[str], session: SimpleSession) -> dict[str, Any]:
        end = session.seconds_received
        return {
            "type": "transcript",
            "value": " ".join(text_words),
            "is_final": True,
            "start": max(0.0, end - 1.0),
            "end": end,
            "channel": 0,
            "speaker": "unknown",
            "utterance_id": f"u{session.samples_received}",
            "confidence": 0.9,
            "words": [{"word": w, "start": 0.0, "end": 0.1, "confidence": 0.9} for w in text_words],
        }


def _analysis(words: list[str]) -> dict[str, Any] | None:
    if len(words) < 5:
        return None
    return {
        "summary": f"{len(words)} words spoken",
        "sentiment": "neutral",
        "emotion": "calm",
        "agent_score": 4,
        "process_issues": "none",
        "repeated_problems": "none",
        "marketing_mentions": "none",
    }


def _event(session: SimpleSession, entity: dict[str, Any], analysis: dict[str, Any] | None = None) -> dict[str, Any]:
    """An `event` carrying a scripted entity, numbered in the session's own envelope."""
    parameters: dict[str, Any] = {"entity": entity}
    if analysis is not None:
        parameters["analysis"] = analysis
    return session._message("event", parameters)
