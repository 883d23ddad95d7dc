"""`audiohook-client`: stream a WAV file to an AudioHook server in the simple dialect, showing the live transcript.

It plays the part of a SIP trunk or softphone bridge: the API key goes in the query string, audio is
PCM16 16 kHz mono in 500 ms binary frames, paced in real time (or faster with `--speed`), and the
server's `event` messages (transcripts and the call analysis) are shown as they arrive.

    audiohook-client ws://127.0.0.1:8080/audiohook call.wav --api-key KEY --speed 4

The same client is a library for tests and benchmarks: `stream_audio` / `stream_wav` run one
session and return a `StreamResult` holding every server message with the monotonic time it
arrived and how much audio had been sent by then.

One session, from the client's side:

    connect (HTTP 401 or refused: ClientError) -> open (seq 1) -> wait for opened
        -> binary frames, paced against a monotonic clock, while receiving events concurrently
        -> close (reason "end", or "disconnect" after a server `disconnect`)
        -> receive until `closed` and the server closes the socket (bounded by close_timeout)

A server that answers `error`, closes early or disconnects does not raise: the result records the
messages and the close code. Only a session that cannot start at all raises `ClientError`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeGuard
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt
from tqdm import tqdm
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from audiohook_server.audio.resampling import to_mono_16k
from audiohook_server.audio.wav_files import read_wav

__all__ = [
    "API_KEY_ENV",
    "ClientError",
    "ReceivedEvent",
    "StreamResult",
    "build_parser",
    "format_analysis",
    "format_final",
    "main",
    "open_message",
    "stream_audio",
    "stream_wav",
    "url_with_api_key",
]

PROTOCOL_VERSION = "2"
SAMPLE_RATE = 16000
BYTES_PER_SAMPLE = 2
API_KEY_ENV = "AUDIOHOOK_API_KEY"
API_KEY_PARAM = "x-api-key"
MAX_MESSAGE_BYTES = 4 * 2**20
DEFAULT_OPEN_TIMEOUT_S = 10.0
# After the server's `closed`, how long to wait for it to close the socket itself (so its close code is kept).
CLOSED_GRACE_S = 5.0

EXIT_OK = 0
EXIT_SESSION_FAILED = 1
EXIT_USAGE = 2


class ClientError(Exception):
    """The session could not start: bad URL, connection refused, handshake rejected (e.g. HTTP 401), no `opened`."""


@dataclass
class ReceivedEvent:
    """One server message, the monotonic time it arrived and the seconds of audio sent by then."""

    message: dict[str, Any]
    received_at: float
    audio_sent_s: float

    @property
    def type(self) -> str:
        value = self.message.get("type")
        return value if isinstance(value, str) else ""


def _parameters(message: dict[str, Any]) -> dict[str, Any]:
    params = message.get("parameters")
    return params if isinstance(params, dict) else {}


def _is_transcript(entity: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(entity, dict) and entity.get("type", "transcript") == "transcript"


@dataclass
class StreamResult:
    """Everything one session produced, in order."""

    session_id: str
    opened: dict[str, Any] | None = None
    messages: list[ReceivedEvent] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    audio_seconds: float = 0.0  # seconds of audio actually sent
    started_at: float = 0.0  # monotonic time stream position 0 was "spoken": position t is spoken at +t/speed
    finished_at: float = 0.0  # monotonic time the connection was closed
    timed_out: bool = False  # no `closed` and no socket close within close_timeout after `close`

    @property
    def entities(self) -> list[dict[str, Any]]:
        """The transcript entities of all `event` messages, in order."""
        found: list[dict[str, Any]] = []
        for received in self.messages:
            if received.type == "event":
                entity = _parameters(received.message).get("entity")
                if _is_transcript(entity):
                    found.append(entity)
        return found

    @property
    def finals(self) -> list[dict[str, Any]]:
        """Final transcript entities (an entity without `is_final` counts as final), in order."""
        return [entity for entity in self.entities if entity.get("is_final", True) is not False]

    @property
    def partials(self) -> list[dict[str, Any]]:
        """Partial (interim) transcript entities, in order."""
        return [entity for entity in self.entities if entity.get("is_final", True) is False]

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The server's `error` messages."""
        return [received.message for received in self.messages if received.type == "error"]

    @property
    def final_text(self) -> str:
        """The finals' text joined with spaces."""
        texts = (str(entity.get("value", "")).strip() for entity in self.finals)
        return " ".join(text for text in texts if text)

    @property
    def last_analysis(self) -> dict[str, Any] | None:
        """The most recent call analysis the server sent, if any."""
        for received in reversed(self.messages):
            analysis = _parameters(received.message).get("analysis")
            if received.type == "event" and isinstance(analysis, dict):
                return analysis
        return None

    @property
    def closed_received(self) -> bool:
        """Whether the server confirmed the end of the session with `closed`."""
        return any(received.type == "closed" for received in self.messages)

    @property
    def disconnect(self) -> dict[str, Any] | None:
        """The server's `disconnect` message, if it sent one."""
        return next((received.message for received in self.messages if received.type == "disconnect"), None)

    @property
    def elapsed_s(self) -> float:
        """Seconds from the first audio frame to the end of the connection."""
        return max(0.0, self.finished_at - self.started_at)

    @property
    def ok(self) -> bool:
        """Opened, no server error, and ended with `closed` or a normal close (1000), in time."""
        disconnect = self.disconnect
        if disconnect is not None and _parameters(disconnect).get("reason", "completed") != "completed":
            return False
        return (
            self.opened is not None
            and not self.errors
            and not self.timed_out
            and (self.closed_received or self.close_code == 1000)
        )


def url_with_api_key(url: str, api_key: str | None) -> str:
    """Add `x-api-key=KEY` (URL-encoded) to the query, keeping the rest of it as it is."""
    if not api_key:
        return url
    parts = urlsplit(url)
    kept = [item for item in parts.query.split("&") if item and unquote_plus(item.split("=", 1)[0]) != API_KEY_PARAM]
    kept.append(f"{API_KEY_PARAM}={quote(api_key, safe='')}")
    return urlunsplit(parts._replace(query="&".join(kept)))


def _redacted(url: str) -> str:
    """The URL without its query string (which may hold the API key), for messages."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


def open_message(session_id: str, language: str, seq: int = 1) -> dict[str, Any]:
    """The simple dialect's `open`: PCM16, 16 kHz, mono."""
    media = [{"type": "audio", "codec": "audio/pcm", "rate": SAMPLE_RATE, "channels": ["mono"]}]
    return {
        "version": PROTOCOL_VERSION,
        "type": "open",
        "id": session_id,
        "seq": seq,
        "parameters": {"media": media, "language": language},
    }


async def _connect(url: str, open_timeout: float) -> ClientConnection:
    shown = _redacted(url)
    try:
        return await connect(
            url,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,  # PCM does not deflate well; compressing it only costs CPU on both ends
            open_timeout=open_timeout,
            ping_interval=20,
            ping_timeout=60,  # generous: a busy server should not get its session killed by the client
            user_agent_header="audiohook-client",
        )
    except InvalidURI as exc:
        raise ClientError(f"invalid WebSocket URL {shown!r}: {exc.msg}") from None
    except InvalidStatus as exc:
        response = exc.response
        body = bytes(response.body or b"").decode("utf-8", errors="replace").strip()
        detail = f": {body[:200]}" if body else ""
        raise ClientError(
            f"server refused the connection: HTTP {response.status_code} {response.reason_phrase}{detail}"
        ) from None
    except InvalidHandshake as exc:
        raise ClientError(f"WebSocket handshake with {shown} failed: {exc}") from None
    except TimeoutError:
        raise ClientError(f"timed out connecting to {shown} after {open_timeout:g} s") from None
    except OSError as exc:
        raise ClientError(f"cannot connect to {shown}: {exc.strerror or exc}") from None


class _Streamer:
    """Runs one session on an open connection and fills in a `StreamResult`."""

    def __init__(
        self,
        ws: ClientConnection,
        result: StreamResult,
        samples: npt.NDArray[np.int16],
        *,
        speed: float,
        frame_samples: int,
        language: str,
        on_message: Callable[[ReceivedEvent], None] | None,
        on_progress: Callable[[float], None] | None,
        open_timeout: float,
        close_timeout: float,
    ) -> None:
        self.ws = ws
        self.result = result
        self.samples = samples
        self.speed = speed
        self.frame_samples = frame_samples
        self.language = language
        self.on_message = on_message
        self.on_progress = on_progress
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
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
        await self._send(open_message(self.result.session_id, self.language, seq=self._next_seq()))
        if not await self._await_opened():
            return
        receiver = asyncio.create_task(self._receive_loop())
        try:
            await self._send_audio()
            if receiver.done():
                receiver.result()  # re-raise an exception from on_message
            if not self.connection_ended and not self.closed_seen.is_set():
                with contextlib.suppress(ConnectionClosed):
                    await self._send(self._close_message("disconnect" if self.disconnected else "end"))
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

    def _close_message(self, reason: str) -> dict[str, Any]:
        return {
            "version": PROTOCOL_VERSION,
            "type": "close",
            "id": self.result.session_id,
            "seq": self._next_seq(),
            "parameters": {"reason": reason},
        }

    async def _send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    def _record(self, raw: str | bytes) -> ReceivedEvent | None:
        """Parse and record one server frame; binary frames are not protocol messages and are ignored."""
        if isinstance(raw, bytes):
            return None
        try:
            message = json.loads(raw)
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict):
            message = {"type": "invalid", "raw": raw[:2000]}
        received = ReceivedEvent(message, time.monotonic(), self.audio_sent_s)
        self.result.messages.append(received)
        if self.on_message is not None:
            self.on_message(received)
        return received

    # ---- phases ------------------------------------------------------------------------------

    async def _await_opened(self) -> bool:
        """Receive until `opened`; False when the server refused the session (error, closed, disconnect)."""
        deadline = time.monotonic() + self.open_timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                raw = await asyncio.wait_for(self.ws.recv(), remaining)
            except TimeoutError:
                raise ClientError(f"the server did not answer 'open' within {self.open_timeout:g} s") from None
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

    async def _sleep_until(self, deadline: float) -> bool:
        """Sleep until the monotonic `deadline`; True when told to stop instead."""
        if self.stop.is_set():
            return True
        delay = deadline - time.monotonic()
        if delay <= 0:
            await asyncio.sleep(0)  # let the receiver run even when behind schedule
            return self.stop.is_set()
        try:
            await asyncio.wait_for(self.stop.wait(), delay)
        except TimeoutError:
            return False
        return True

    async def _send_audio(self) -> None:
        """Send the frames as a live source would: each frame when its last sample has been spoken.

        Audio at stream position t is spoken at `started_at + t / speed`; frame i goes out at
        `started_at + (i + 1) * frame / speed`, so delays never accumulate and no audio is sent before
        it exists. Latency measured against `started_at + end / speed` is what a caller would see.
        """
        total = self.samples.shape[0]
        paced = self.speed > 0 and math.isfinite(self.speed)
        start = time.monotonic()
        self.result.started_at = start
        for offset in range(0, total, self.frame_samples):
            frame = self.samples[offset : offset + self.frame_samples]
            if paced:
                if await self._sleep_until(start + (offset + frame.shape[0]) / SAMPLE_RATE / self.speed):
                    return
            else:
                await asyncio.sleep(0)
                if self.stop.is_set():
                    return
            try:
                await self.ws.send(frame.astype("<i2", copy=False).tobytes())
            except ConnectionClosed:
                return
            self.samples_sent = offset + frame.shape[0]
            self.result.audio_seconds = self.audio_sent_s
            if self.on_progress is not None:
                self.on_progress(self.audio_sent_s)

    async def _await_end(self, receiver: asyncio.Task[None]) -> None:
        """Receive until `closed` and the socket closes, for at most close_timeout seconds."""
        deadline = time.monotonic() + self.close_timeout
        closed_wait = asyncio.create_task(self.closed_seen.wait())
        try:
            await asyncio.wait({receiver, closed_wait}, timeout=self.close_timeout, return_when=asyncio.FIRST_COMPLETED)
            if not receiver.done() and self.closed_seen.is_set():
                grace = max(0.0, min(CLOSED_GRACE_S, deadline - time.monotonic()))
                await asyncio.wait({receiver}, timeout=grace)
        finally:
            closed_wait.cancel()
        if not receiver.done() and not self.closed_seen.is_set():
            self.result.timed_out = True
        if receiver.done():
            receiver.result()


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


def _check_options(speed: float, frame_ms: int, open_timeout: float, close_timeout: float) -> None:
    if math.isnan(speed) or speed < 0:
        raise ValueError(f"speed must be 0 (as fast as possible), a positive number or inf, got {speed}")
    if frame_ms <= 0:
        raise ValueError(f"frame_ms must be positive, got {frame_ms}")
    if frame_ms * SAMPLE_RATE // 1000 * BYTES_PER_SAMPLE > MAX_MESSAGE_BYTES:
        raise ValueError(f"frame_ms {frame_ms} makes frames larger than {MAX_MESSAGE_BYTES} bytes")
    if not open_timeout > 0 or not close_timeout > 0:
        raise ValueError("timeouts must be positive")


async def stream_audio(
    url: str,
    samples_16k_mono: npt.NDArray[Any],
    *,
    api_key: str | None,
    speed: float = 1.0,
    frame_ms: int = 500,
    session_id: str | None = None,
    language: str = "en",
    on_message: Callable[[ReceivedEvent], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
    close_timeout: float = 120.0,
    open_timeout: float = DEFAULT_OPEN_TIMEOUT_S,
) -> StreamResult:
    """Stream 16 kHz mono int16 audio as one simple-dialect session and collect what the server sends.

    `speed` divides real time (0 or inf: as fast as the connection takes it). `on_message` is called
    for every server message as it arrives, `on_progress` with the seconds of audio sent after each
    frame. Raises `ClientError` when the session cannot start (refused, HTTP error, no `opened` within
    `open_timeout`) and `ValueError` for bad arguments; anything the server does after that ends up in
    the returned `StreamResult`.
    """
    samples = _as_mono_int16(samples_16k_mono)
    _check_options(speed, frame_ms, open_timeout, close_timeout)
    if session_id is not None and not session_id:
        raise ValueError("session_id must not be empty")
    result = StreamResult(session_id=session_id or str(uuid.uuid4()), started_at=time.monotonic())
    ws = await _connect(url_with_api_key(url, api_key), open_timeout)
    try:
        streamer = _Streamer(
            ws,
            result,
            samples,
            speed=speed,
            frame_samples=frame_ms * SAMPLE_RATE // 1000,
            language=language,
            on_message=on_message,
            on_progress=on_progress,
            open_timeout=open_timeout,
            close_timeout=close_timeout,
        )
        await streamer.run()
    finally:
        await ws.close()
        result.close_code = ws.close_code
        result.close_reason = ws.close_reason or ""
        result.finished_at = time.monotonic()
    return result


async def stream_wav(
    url: str,
    path: str | os.PathLike[str],
    *,
    api_key: str | None,
    speed: float = 1.0,
    frame_ms: int = 500,
    session_id: str | None = None,
    language: str = "en",
    on_message: Callable[[ReceivedEvent], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
    close_timeout: float = 120.0,
    open_timeout: float = DEFAULT_OPEN_TIMEOUT_S,
) -> StreamResult:
    """`stream_audio` for a WAV file of any rate and channel count (downmixed and resampled to 16 kHz)."""
    samples, rate = read_wav(path)
    return await stream_audio(
        url,
        to_mono_16k(samples, rate),
        api_key=api_key,
        speed=speed,
        frame_ms=frame_ms,
        session_id=session_id,
        language=language,
        on_message=on_message,
        on_progress=on_progress,
        close_timeout=close_timeout,
        open_timeout=open_timeout,
    )


# ---- console ---------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _seconds(value: float | None) -> str:
    return f"{value:6.2f}" if value is not None else "     ?"


def format_final(entity: dict[str, Any]) -> str:
    """`[ 12.34 -  15.67] ch0 speaker: text  (conf 0.91)`."""
    start, end, confidence = _number(entity.get("start")), _number(entity.get("end")), _number(entity.get("confidence"))
    times = f"[{_seconds(start)} - {_seconds(end)}]"
    channel = entity.get("channel", 0)
    speaker = entity.get("speaker") or "unknown"
    line = f"{times} ch{channel} {speaker}: {str(entity.get('value', '')).strip()}"
    return f"{line}  (conf {confidence:.2f})" if confidence is not None else line


def format_analysis(analysis: dict[str, Any], width: int = 160) -> str:
    """`analysis: sentiment=… emotion=… agent_score=… | summary…` on one line."""
    fields = " ".join(f"{key}={analysis[key]}" for key in ("sentiment", "emotion", "agent_score") if key in analysis)
    summary = " ".join(str(analysis.get("summary") or "").split())
    if len(summary) > width:
        summary = summary[: width - 1] + "…"
    return f"analysis: {fields}" + (f" | {summary}" if summary else "")


class _Console:
    """What `main` shows: progress bar, partial line, finals and analysis changes; or JSON lines."""

    def __init__(self, *, total_s: float, json_lines: bool, quiet: bool, out: TextIO, err: TextIO) -> None:
        self.json_lines = json_lines
        self.quiet = quiet
        self.out = out
        self.err = err
        self.bar: tqdm[Any] | None = None
        self.status: tqdm[Any] | None = None
        self.partial_shown = False
        self.last_analysis: dict[str, Any] | None = None
        self.sent_shown = 0.0
        self.total_s = total_s

    def _start_bars(self) -> None:
        """Show the progress bar (and the partial line under it) once the session is open."""
        if self.quiet or self.bar is not None:
            return
        self.bar = tqdm(
            total=round(self.total_s, 2),
            desc="audio sent",
            unit="s",
            file=self.err,
            leave=False,
            dynamic_ncols=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]",
        )
        if not self.json_lines and _isatty(self.err):
            self.status = tqdm(total=0, position=1, bar_format="{desc}", file=self.err, leave=False)

    def on_progress(self, audio_sent_s: float) -> None:
        if self.bar is not None:
            self.bar.update(round(audio_sent_s - self.sent_shown, 2))
            self.sent_shown = round(audio_sent_s, 2)

    def on_message(self, received: ReceivedEvent) -> None:
        message = received.message
        if received.type == "opened":
            self._start_bars()
        if self.json_lines:
            self._print(json.dumps(message, ensure_ascii=False))
            return
        params = _parameters(message)
        if received.type == "event":
            entity = params.get("entity")
            if _is_transcript(entity):
                if entity.get("is_final", True) is False:
                    self._show_partial(str(entity.get("value", "")))
                else:
                    self._print(format_final(entity))
            analysis = params.get("analysis")
            if isinstance(analysis, dict) and analysis != self.last_analysis:
                self.last_analysis = analysis
                self._print(format_analysis(analysis))
        elif received.type == "error":
            self._print(f"server error {params.get('code', '?')}: {params.get('message', '')}", self.err)
        elif received.type == "disconnect":
            info = f" ({params['info']})" if params.get("info") else ""
            self._print(f"server disconnected: {params.get('reason', '?')}{info}", self.err)
        elif received.type == "opened" and not self.quiet:
            self._print(f"session {message.get('id', '?')} opened", self.err)

    def _show_partial(self, text: str) -> None:
        width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
        text = " ".join(text.split())
        line = "… " + (text if len(text) <= width - 2 else text[-(width - 3) :])
        if self.status is not None:
            self.status.set_description_str(line)
        elif self.bar is None and _isatty(self.out):
            self.out.write("\r\x1b[K" + line)
            self.out.flush()
            self.partial_shown = True

    def _print(self, line: str, stream: TextIO | None = None) -> None:
        stream = stream or self.out
        if self.status is not None:
            self.status.set_description_str("")  # a final or a notice replaces the partial line
        if self.partial_shown:
            self.out.write("\r\x1b[K")
            self.partial_shown = False
        if self.bar is not None:
            tqdm.write(line, file=stream)
        else:
            print(line, file=stream, flush=True)

    def close(self) -> None:
        for bar in (self.status, self.bar):
            if bar is not None:
                bar.close()
        self.status = self.bar = None
        if self.partial_shown:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self.partial_shown = False

    def summary(self, result: StreamResult) -> None:
        stream = self.err if self.json_lines else self.out
        elapsed = result.elapsed_s
        factor = f" ({result.audio_seconds / elapsed:.1f}x real time)" if elapsed > 0 and result.audio_seconds else ""
        outcome = _outcome(result)
        print(
            f"{len(result.finals)} finals, {result.audio_seconds:.1f} s of audio in {elapsed:.1f} s{factor}; {outcome}",
            file=stream,
            flush=True,
        )
        analysis = result.last_analysis
        if analysis:
            print("final analysis:", file=stream)
            for key, value in analysis.items():
                print(f"  {key}: {value}", file=stream)
            stream.flush()


def _outcome(result: StreamResult) -> str:
    if result.opened is None:
        detail = f": {_parameters(result.errors[0]).get('message', '')}" if result.errors else ""
        return f"the server did not open the session (close {result.close_code} {result.close_reason}){detail}".strip()
    if result.errors:
        return f"the server sent {len(result.errors)} error(s), close {result.close_code} {result.close_reason}".strip()
    if result.timed_out:
        return "no 'closed' from the server before the close timeout"
    disconnect = result.disconnect
    if disconnect is not None:
        return f"server disconnected ({_parameters(disconnect).get('reason', '?')}), close {result.close_code}"
    if result.ok:
        return f"closed normally ({result.close_code} {result.close_reason})".strip()
    return f"connection closed abnormally ({result.close_code} {result.close_reason})".strip()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if math.isnan(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0, a positive number or inf, got {text!r}")
    return value


def _frame_ms(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= 60_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 60000 ms, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audiohook-client",
        description="Stream a WAV file to an AudioHook server (simple PCM dialect) and show the live transcript.",
    )
    parser.add_argument("url", metavar="URL", help="WebSocket URL, e.g. ws://127.0.0.1:8080/audiohook")
    parser.add_argument("wav", metavar="WAV", help="audio file (any rate and channel count; sent as 16 kHz mono)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"API key, sent as the x-api-key query parameter (default: ${API_KEY_ENV})",
    )
    parser.add_argument(
        "--speed", type=_speed, default=1.0, help="1 = real time, 4 = four times faster; 0 or inf = as fast as possible"
    )
    parser.add_argument("--frame-ms", type=_frame_ms, default=500, help="audio per binary frame (default 500 ms)")
    parser.add_argument("--session-id", default=None, help="session id (default: a random UUID)")
    parser.add_argument("--language", default="en", help="language in the open message (default: en)")
    parser.add_argument("--json", action="store_true", help="print every server message as one JSON line on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--close-timeout",
        type=_positive_float,
        default=120.0,
        help="seconds to wait for the server's 'closed' after sending 'close' (default 120)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: 0 on a normal close, 1 on a server error or abnormal close, 2 on usage/connection errors."""
    args = build_parser().parse_args(argv)
    if args.session_id is not None and not args.session_id:
        print("audiohook-client: --session-id must not be empty", file=sys.stderr)
        return EXIT_USAGE
    try:
        raw, rate = read_wav(args.wav)
        samples = to_mono_16k(raw, rate)
    except (OSError, ValueError) as exc:
        print(f"audiohook-client: cannot read {args.wav}: {exc}", file=sys.stderr)
        return EXIT_USAGE

    console = _Console(
        total_s=samples.shape[0] / SAMPLE_RATE, json_lines=args.json, quiet=args.quiet, out=sys.stdout, err=sys.stderr
    )
    try:
        result = asyncio.run(
            stream_audio(
                args.url,
                samples,
                api_key=args.api_key,
                speed=args.speed,
                frame_ms=args.frame_ms,
                session_id=args.session_id,
                language=args.language,
                on_message=console.on_message,
                on_progress=console.on_progress,
                close_timeout=args.close_timeout,
            )
        )
    except (ClientError, ValueError) as exc:
        console.close()
        print(f"audiohook-client: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        console.close()
        print("audiohook-client: interrupted", file=sys.stderr)
        return 130
    console.close()
    console.summary(result)
    return EXIT_OK if result.ok else EXIT_SESSION_FAILED


if __name__ == "__main__":
    sys.exit(main())
