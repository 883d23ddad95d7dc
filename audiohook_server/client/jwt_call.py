"""`audiohook-client --jwt TOKEN` on `/ws/transcribe`: the live-transcription door as an agent desktop uses it.

The door has its own small protocol (`protocol/live.py`): the token in `Authorization: Bearer`, the
server's `session` message first, raw PCM16 16 kHz mono in binary frames, `transcript` messages back
(partials and finals, the speaker, the call analysis), `{"type": "close"}` and the server's `closed`.
This module makes one such session with the same pacing as the simple dialect (`pacing.Pacer`) and
shows it on the same console. (On `/audiohook` a JWT is sent the same way and the simple dialect is
spoken: `session.stream_audio` with `bearer_token`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from audiohook_server.client.console import Console
from audiohook_server.client.dialect import SAMPLE_RATE, json_object
from audiohook_server.client.pacing import Pacer
from audiohook_server.client.results import CallOutcome
from audiohook_server.client.session import CLOSED_GRACE_S, ClientError, connect_websocket, send_pcm_frames

__all__ = ["JwtCallOptions", "run_jwt_call"]


@dataclass(frozen=True, kw_only=True)
class JwtCallOptions:
    """The token, pacing and timeouts of one `/ws/transcribe` session."""

    token: str
    speed: float = 1.0
    frame_ms: int = 500
    open_timeout: float = 10.0
    close_timeout: float = 120.0
    ssl_context: ssl.SSLContext | None = None


class _Call:
    def __init__(self, ws: ClientConnection, console: Console, options: JwtCallOptions) -> None:
        self.ws = ws
        self.console = console
        self.options = options
        self.session_id = ""
        self.finals = 0
        self.errors: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self.stop = asyncio.Event()
        self.sent_s = 0.0

    def record(self, raw: str | bytes) -> dict[str, Any] | None:
        if isinstance(raw, bytes):
            return None
        message = json_object(raw)
        if message is None:
            self.console.show_notice(f"server sent something that is not a JSON object: {raw[:200]!r}")
            return None
        if self.console.json_lines:
            self.console.show_json(message)
        kind = message.get("type")
        if kind == "transcript":
            self.console.show_transcript(
                {
                    "type": "transcript",
                    "value": message.get("text", ""),
                    **{
                        key: message[key]
                        for key in ("is_final", "start", "end", "channel", "speaker", "confidence")
                        if key in message
                    },
                }
            )
            self.finals += message.get("is_final") is True
            if isinstance(message.get("analysis"), dict):
                self.console.show_analysis(message["analysis"])
        elif kind == "error":
            self.errors.append(message)
            self.console.show_notice(f"server error {message.get('code', '?')}: {message.get('message', '')}")
        elif kind == "closed":
            self.closed.set()
        return message

    async def first_message(self) -> None:
        try:
            raw = await asyncio.wait_for(self.ws.recv(), self.options.open_timeout)
        except TimeoutError:
            raise ClientError(f"no 'session' message within {self.options.open_timeout:g} s") from None
        except ConnectionClosed as exc:
            raise ClientError(f"the server closed the connection at once ({exc})") from None
        message = self.record(raw)
        if message is None or message.get("type") != "session":
            raise ClientError(f"expected the server's 'session' message first, got {str(raw)[:200]!r}")
        self.session_id = str(message.get("session_id", "?"))
        self.console.start(f"session {self.session_id} opened")

    async def receive(self) -> None:
        try:
            async for raw in self.ws:
                self.record(raw)
        except ConnectionClosed:
            pass
        finally:
            self.stop.set()

    async def send_audio(self, samples: npt.NDArray[np.int16]) -> None:
        pacer = Pacer(self.options.speed, self.stop)
        pacer.start()
        step = self.options.frame_ms * SAMPLE_RATE // 1000
        await send_pcm_frames(self.ws, samples, step, pacer, self._sent)

    def _sent(self, samples: int) -> None:
        self.sent_s = samples / SAMPLE_RATE
        self.console.on_progress(self.sent_s)


async def run_jwt_call(
    url: str, samples_16k_mono: npt.NDArray[np.int16], options: JwtCallOptions, console: Console
) -> CallOutcome:
    """One `/ws/transcribe` session; `ClientError` when it cannot start (401, TLS, unreachable, no `session`)."""
    headers = {"Authorization": f"Bearer {options.token}"}
    ws = await connect_websocket(url, options.open_timeout, headers=headers, ssl_context=options.ssl_context)
    call = _Call(ws, console, options)
    started = time.monotonic()
    timed_out = False
    try:
        await call.first_message()
        receiver = asyncio.create_task(call.receive())
        await call.send_audio(samples_16k_mono)
        if not receiver.done():
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps({"type": "close"}))
            done, _ = await asyncio.wait({receiver}, timeout=options.close_timeout)
            if not done and call.closed.is_set():
                await asyncio.wait({receiver}, timeout=CLOSED_GRACE_S)
            timed_out = not call.closed.is_set() and not receiver.done()
        if not receiver.done():
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver
    finally:
        await ws.close()
    code, reason = ws.close_code, ws.close_reason or ""
    if call.errors:
        ending = f"the server sent {len(call.errors)} error(s), close {code} {reason}".strip()
    elif timed_out:
        ending = "no 'closed' from the server before the close timeout"
    elif call.closed.is_set():
        ending = f"closed normally ({code} {reason})".strip()
    else:
        ending = f"connection closed without 'closed' ({code} {reason})".strip()
    return CallOutcome(
        ok=call.closed.is_set() and not call.errors and not timed_out,
        ending=ending,
        finals=call.finals,
        audio_seconds=call.sent_s,
        elapsed_s=time.monotonic() - started,
        analysis=console.last_analysis,
    )
