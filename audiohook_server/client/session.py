"""One session over the WebSocket, from the client's side: `stream_audio` and `stream_wav`.

Tests, benchmarks and the command all need the same thing: play the part of a SIP trunk or softphone
bridge for one call and keep everything the server said, with when it said it. The session is the
part with the timing and ordering rules, so it is here on its own, away from the command line and
the console:

    connect (HTTP 401 or refused: ClientError) -> open (seq 1) -> wait for opened
        -> binary frames, paced against a monotonic clock (`pacing`), while receiving events concurrently
        -> close (reason "end", or "disconnect" after a server `disconnect`)
        -> receive until `closed` and the server closes the socket (bounded by close_timeout)

A server that answers `error`, closes early or disconnects does not raise: the result records the
messages and the close code. Only a session that cannot start at all raises `ClientError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Unpack

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from audiohook_server.audio.resampling import to_mono_16k
from audiohook_server.audio.wav_files import read_wav
from audiohook_server.client.dialect import (
    MAX_MESSAGE_BYTES,
    SAMPLE_RATE,
    close_message,
    json_object,
    open_message,
)
from audiohook_server.client.options import StreamKeywords, StreamOptions
from audiohook_server.client.pacing import Pacer
from audiohook_server.client.results import ReceivedEvent, StreamResult
from audiohook_server.client.tls import describe_tls_failure, find_ssl_error, websocket_ssl
from audiohook_server.client.urls import redacted, url_with_api_key

# After the server's `closed`, how long to wait for it to close the socket itself (so its close code is kept).
CLOSED_GRACE_S = 5.0


class ClientError(Exception):
    """The session could not start: bad URL, connection refused, handshake rejected (e.g. HTTP 401), no `opened`."""


async def connect_websocket(
    url: str,
    open_timeout: float,
    *,
    headers: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> ClientConnection:
    """Open the WebSocket; each way that fails is a `ClientError` naming the server without the query (the key).

    A failed TLS handshake says why (the certificate refused, no TLS on that port) and which flag helps.
    """
    shown = redacted(url)
    try:
        return await connect(
            url,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,  # PCM does not deflate well; compressing it only costs CPU on both ends
            open_timeout=open_timeout,
            ping_interval=20,
            ping_timeout=60,  # generous: a busy server should not get its session killed by the client
            user_agent_header="audiohook-client",
            additional_headers=dict(headers or {}),
            ssl=websocket_ssl(url, ssl_context),
        )
    except (InvalidURI, InvalidHandshake, OSError, TimeoutError) as exc:
        raise connection_failure(exc, shown, open_timeout) from None


def connection_failure(exc: BaseException, shown: str, open_timeout: float, hint_401: str = "") -> ClientError:
    """The `ClientError` for a WebSocket that could not be opened: bad URL, HTTP refusal, TLS, unreachable."""
    if isinstance(exc, InvalidURI):
        return ClientError(f"invalid WebSocket URL {shown!r}: {exc.msg}")
    if isinstance(exc, InvalidStatus):
        response = exc.response
        body = bytes(response.body or b"").decode("utf-8", errors="replace").strip()
        detail = f": {body[:200]}" if body else ""
        hint = hint_401 if response.status_code == 401 else ""
        return ClientError(
            f"server refused the connection: HTTP {response.status_code} {response.reason_phrase}{detail}{hint}"
        )
    tls = find_ssl_error(exc)
    if tls is not None:
        return ClientError(describe_tls_failure(tls, shown))
    if isinstance(exc, TimeoutError):
        return ClientError(f"timed out connecting to {shown} after {open_timeout:g} s")
    if isinstance(exc, OSError):
        return ClientError(f"cannot connect to {shown}: {exc.strerror or exc}")
    return ClientError(f"WebSocket handshake with {shown} failed: {exc}")


class _Streamer:
    """Runs one session on an open connection and fills in a `StreamResult`."""

    def __init__(
        self, ws: ClientConnection, result: StreamResult, samples: npt.NDArray[np.int16], options: StreamOptions
    ) -> None:
        self.ws = ws
        self.result = result
        self.samples = samples
        self.options = options
        self.seq = 0
        self.samples_sent = 0
        self.stop = asyncio.Event()  # stop sending audio: disconnect, closed, or the connection ended
        self.closed_seen = asyncio.Event()
        self.disconnected = False
        self.connection_ended = False

    @property
    def audio_sent_s(self) -> float:
        return self.samples_sent / SAMPLE_RATE

    async def run(self) -> None:
        await self._send(open_message(self.result.session_id, self.options.language, seq=self._next_seq()))
        if not await self._await_opened():
            return
        receiver = asyncio.create_task(self._receive_loop())
        try:
            await self._send_audio()
            if receiver.done():
                receiver.result()  # re-raise an exception from on_message
            if not self.connection_ended and not self.closed_seen.is_set():
                with contextlib.suppress(ConnectionClosed):
                    reason = "disconnect" if self.disconnected else "end"
                    await self._send(close_message(self.result.session_id, self._next_seq(), reason))
            await self._await_end(receiver)
        finally:
            if not receiver.done():
                receiver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiver

    # ---- messages ----------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    async def _send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    def _record(self, raw: str | bytes) -> ReceivedEvent | None:
        """Parse and record one server frame; binary frames are not protocol messages and are ignored."""
        if isinstance(raw, bytes):
            return None
        message = json_object(raw)
        if message is None:
            message = {"type": "invalid", "raw": raw[:2000]}
        received = ReceivedEvent(message, time.monotonic(), self.audio_sent_s)
        self.result.messages.append(received)
        if self.options.on_message is not None:
            self.options.on_message(received)
        return received

    # ---- phases ------------------------------------------------------------------------------

    async def _await_opened(self) -> bool:
        """Receive until `opened`; False when the server refused the session (error, closed, disconnect)."""
        deadline = time.monotonic() + self.options.open_timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                raw = await asyncio.wait_for(self.ws.recv(), remaining)
            except TimeoutError:
                raise ClientError(f"the server did not answer 'open' within {self.options.open_timeout:g} s") from None
            except ConnectionClosed:
                return False
            received = self._record(raw)
            if received is None:
                continue
            if received.type == "opened":
                self.result.opened = received.message
                return True
            if received.type in ("error", "closed", "disconnect"):
                await self._drain(CLOSED_GRACE_S)
                return False

    async def _drain(self, timeout: float) -> None:
        """Record messages until the server closes the connection, for at most `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                async for raw in self.ws:
                    self._record(raw)
        except (TimeoutError, ConnectionClosed):
            pass

    async def _receive_loop(self) -> None:
        try:
            async for raw in self.ws:
                received = self._record(raw)
                if received is None:
                    continue
                if received.type == "disconnect":
                    self.disconnected = True
                    self.stop.set()
                elif received.type == "closed":
                    self.closed_seen.set()
                    self.stop.set()
        except ConnectionClosed:
            pass
        finally:
            self.connection_ended = True
            self.stop.set()

    async def _send_audio(self) -> None:
        """Send the frames as a live source would: each frame when its last sample has been spoken (`Pacer`)."""
        pacer = Pacer(self.options.speed, self.stop)
        self.result.started_at = pacer.start()
        await send_pcm_frames(self.ws, self.samples, self.options.frame_samples, pacer, self._sent)

    def _sent(self, samples: int) -> None:
        self.samples_sent = samples
        self.result.audio_seconds = self.audio_sent_s
        if self.options.on_progress is not None:
            self.options.on_progress(self.audio_sent_s)

    async def _await_end(self, receiver: asyncio.Task[None]) -> None:
        """Receive until `closed` and the socket closes, for at most close_timeout seconds."""
        deadline = time.monotonic() + self.options.close_timeout
        closed_wait = asyncio.create_task(self.closed_seen.wait())
        try:
            await asyncio.wait(
                {receiver, closed_wait}, timeout=self.options.close_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not receiver.done() and self.closed_seen.is_set():
                grace = max(0.0, min(CLOSED_GRACE_S, deadline - time.monotonic()))
                await asyncio.wait({receiver}, timeout=grace)
        finally:
            closed_wait.cancel()
        if not receiver.done() and not self.closed_seen.is_set():
            self.result.timed_out = True
        if receiver.done():
            receiver.result()


async def send_pcm_frames(
    ws: ClientConnection,
    samples: npt.NDArray[np.int16],
    frame_samples: int,
    pacer: Pacer,
    on_sent: Callable[[int], None],
) -> None:
    """Send 16 kHz mono samples as PCM16 binary frames, each when its last sample has been spoken (`pacer`,
    already started), calling `on_sent` with the samples sent so far; until the end, a stop or a close."""
    for offset in range(0, samples.shape[0], frame_samples):
        frame = samples[offset : offset + frame_samples]
        if await pacer.wait_until_spoken(offset + frame.shape[0]):
            return
        try:
            await ws.send(frame.astype("<i2", copy=False).tobytes())
        except ConnectionClosed:
            return
        on_sent(offset + frame.shape[0])


def _as_mono_int16(samples: npt.NDArray[Any]) -> npt.NDArray[np.int16]:
    array = np.asarray(samples)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"expected mono 16 kHz samples (1-D), got shape {array.shape}; use audio.resampling.to_mono_16k"
        )
    if array.dtype != np.int16:
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"expected int16 samples, got {array.dtype}")
        array = np.clip(array, -32768, 32767).astype(np.int16)
    return np.ascontiguousarray(array, dtype=np.int16)


async def stream_audio(
    url: str, samples_16k_mono: npt.NDArray[Any], **keywords: Unpack[StreamKeywords]
) -> StreamResult:
    """Stream 16 kHz mono int16 audio as one simple-dialect session and collect what the server sends.

    The keywords are `StreamKeywords` (`api_key` is required; `StreamOptions` has the defaults).
    `speed` divides real time (0 or inf: as fast as the connection takes it). `on_message` is called
    for every server message as it arrives, `on_progress` with the seconds of audio sent after each
    frame. Raises `ClientError` when the session cannot start (refused, HTTP error, no `opened` within
    `open_timeout`) and `ValueError` for bad arguments; anything the server does after that ends up in
    the returned `StreamResult`.
    """
    samples = _as_mono_int16(samples_16k_mono)
    options = StreamOptions(**keywords)
    result = StreamResult(session_id=options.session_id or str(uuid.uuid4()), started_at=time.monotonic())
    headers = {"Authorization": f"Bearer {options.bearer_token}"} if options.bearer_token else None
    ws = await connect_websocket(
        url_with_api_key(url, options.api_key), options.open_timeout, headers=headers, ssl_context=options.ssl_context
    )
    try:
        await _Streamer(ws, result, samples, options).run()
    finally:
        await ws.close()
        result.close_code = ws.close_code
        result.close_reason = ws.close_reason or ""
        result.finished_at = time.monotonic()
    return result


async def stream_wav(url: str, path: str | os.PathLike[str], **keywords: Unpack[StreamKeywords]) -> StreamResult:
    """`stream_audio` for a WAV file of any rate and channel count (downmixed and resampled to 16 kHz)."""
    samples, rate = read_wav(path)
    return await stream_audio(url, to_mono_16k(samples, rate), **keywords)
