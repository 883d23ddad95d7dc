"""The live-transcription dialect's session state machine (`/ws/transcribe`, JWT-authenticated).

Theory of operation: the server creates a `LiveSession` with a session id it generated (and the token's
identity in `details`), sends `start_message()`, then feeds every frame into the session and carries out
the actions that come back, in order, exactly as for the other dialects. The session never does I/O.

    AWAITING_FORMAT --first audio bytes decide the format--> STREAMING
          |                                                     |
          +--------------------- close ---------------------+---+--> CLOSING --(finals flushed)--> CLOSED
    any state but CLOSED --protocol error--> CLOSED, with an `error` message and a close code

Wire protocol (all JSON text messages carry the `session_id`):

- server, first: `{"type": "session", "session_id": ..., "sample_rate": 16000, "channels": 1,
  "format": "pcm16le", "accepts": ["pcm16le", "wav"]}`.
- client: binary frames of any length (even odd byte counts): raw PCM16 little-endian 16 kHz mono, or a
  WAV stream (see below).
- server: `{"type": "transcript", "session_id", "text", "is_final", "start", "end", "speaker", "channel",
  "utterance_id", "confidence"?, "words"? (finals), "analysis"? }` for partials and finals.
- client `{"type": "ping"}` → `{"type": "pong"}`; client `{"type": "close"}` → the last finals, then
  `{"type": "closed"}` and a normal close (1000). A client that just closes the socket gets its finals in
  the CSV.
- bad input → `{"type": "error", "code": 400|413|415, "message": ...}` and a close: 1007 for text that is
  not JSON (or not UTF-8) and for a malformed WAV header, 1003 for a WAV format we cannot take, 1009 for
  a text message over 64 KiB, 1008 for anything else (unknown message type, no `type`, not an object).
- server shutdown (`shutdown()`, after the finals were flushed): a close with 1001.

When the session starts (`SessionStarted`): the audio format is only known from the audio itself, so
`SessionStarted` is emitted once, by `receive_binary`, as soon as the format is known, and always before
the first `AudioReceived`:
- The stream's first bytes are sniffed. If they are not `RIFF`/`RF64` (four bytes, or fewer that cannot
  begin either), the stream is raw PCM16 16 kHz mono: `SessionStarted` comes with that first frame.
- `RIFF....WAVE` (or RF64) starts a WAV stream: the header is parsed incrementally, across as many frames
  as it takes (chunks before `data`, such as LIST, are skipped), and `SessionStarted` carries the format
  from its `fmt ` chunk when the `data` chunk begins. Accepted: PCM16 (plain or WAVE_FORMAT_EXTENSIBLE),
  8000 or 16000 Hz, mono or stereo (channels `left`, `right`). Anything else is refused with 415.
  A `data` size of 0 or 0xFFFFFFFF (streaming writers that cannot know it) means "to the end of the
  stream"; otherwise bytes after the data chunk (trailing chunks) are not audio and are ignored.
- A session that closes before its format is known (no audio, or only part of a WAV header) never
  emits `SessionStarted`: there is no call to process, and nothing is written.
"""

from __future__ import annotations

import enum
import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.actions import (
    AudioReceived,
    CloseConnection,
    SendMessage,
    SessionAction,
    SessionEnding,
    SessionStarted,
)
from protocol.audio import SUPPORTED_RATES, AudioDecoder, MediaFormat
from protocol.errors import (
    CLOSE_GOING_AWAY,
    CLOSE_INVALID_PAYLOAD,
    CLOSE_NORMAL,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED_DATA,
    ProtocolError,
    close_reason,
)
from protocol.events import TranscriptUpdate

__all__ = [
    "DEFAULT_LIVE_MEDIA",
    "MAX_TEXT_MESSAGE",
    "MAX_WAV_HEADER_BYTES",
    "STEREO_CHANNELS",
    "LiveSession",
    "LiveState",
    "WavHeaderParser",
    "live_transcript_message",
    "parse_wav_fmt",
]

DEFAULT_LIVE_MEDIA = MediaFormat("L16", 16000, ("mono",))  # raw PCM (no RIFF header)
STEREO_CHANNELS = ("left", "right")  # channel names of a stereo WAV stream
MAX_TEXT_MESSAGE = 65535
MAX_WAV_HEADER_BYTES = 1 << 20  # a WAV stream whose `data` chunk has not begun by then is refused
MAX_FMT_CHUNK_BYTES = 1024
_RIFF_MAGICS = (b"RIFF", b"RF64")
_UNKNOWN_SIZE = 0xFFFFFFFF
WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# WAVE_FORMAT_EXTENSIBLE's sub-format GUID is {XXXXXXXX-0000-0010-8000-00AA00389B71}, where the first
# four bytes (little-endian) are the plain format code; these are the other twelve, as stored.
_KSDATAFORMAT_SUFFIX = b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_FORMAT_NAMES = {
    0x0002: "Microsoft ADPCM",
    0x0003: "IEEE float",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0055: "MP3",
}


class LiveState(enum.Enum):
    AWAITING_FORMAT = "awaiting-format"  # no audio yet, or only the start of a WAV header
    STREAMING = "streaming"
    CLOSING = "closing"
    CLOSED = "closed"


_OPEN_STATES = (LiveState.AWAITING_FORMAT, LiveState.STREAMING)


def _unsupported(message: str) -> ProtocolError:
    return ProtocolError(415, message, CLOSE_UNSUPPORTED_DATA)


def _malformed_wav(message: str) -> ProtocolError:
    return ProtocolError(400, f"malformed WAV header: {message}", CLOSE_INVALID_PAYLOAD)


def parse_wav_fmt(body: bytes) -> MediaFormat:
    """The media format of a WAV `fmt ` chunk body; ProtocolError 415 for anything but PCM16,
    8/16 kHz, mono or stereo, 400 for a malformed chunk."""
    if len(body) < 16:
        raise _malformed_wav(f"'fmt ' chunk is {len(body)} bytes (at least 16)")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(body) < 40:
            raise _malformed_wav(f"WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is {len(body)} bytes (at least 40)")
        sub_format = body[24:40]
        if sub_format[4:] != _KSDATAFORMAT_SUFFIX:
            raise _unsupported("unsupported WAV encoding: unknown WAVE_FORMAT_EXTENSIBLE sub-format; send 16-bit PCM")
        tag = struct.unpack_from("<I", sub_format)[0]
    if tag != WAVE_FORMAT_PCM:
        name = _FORMAT_NAMES.get(tag, "unknown")
        raise _unsupported(f"unsupported WAV encoding {name} (format 0x{tag:04x}): send 16-bit PCM")
    if bits != 16:
        raise _unsupported(f"unsupported WAV sample size: {bits}-bit PCM; send 16-bit PCM")
    if channels not in (1, 2):
        raise _unsupported(f"unsupported WAV channel count {channels} (1 or 2)")
    if rate not in SUPPORTED_RATES:
        raise _unsupported(f"unsupported WAV sample rate {rate} Hz (supported: 8000, 16000)")
    if block_align != 2 * channels:
        raise _malformed_wav(f"block align {block_align} does not fit {channels} channel(s) of 16-bit samples")
    return MediaFormat("L16", rate, ("mono",) if channels == 1 else STEREO_CHANNELS)


@dataclass
class WavHeaderParser:
    """Parses a streamed WAV header incrementally: `feed` frames as they come (a header may be split
    anywhere, even inside a chunk's size field) until it returns the format, the bytes that follow the
    `data` chunk header (the first audio) and the data size (None: to the end of the stream).

    Raises ProtocolError 415 for a RIFF stream that is not WAVE or a format we cannot take, 400 for a
    malformed header or one with no `data` within `MAX_WAV_HEADER_BYTES`. Only the `fmt ` chunk is
    buffered; other chunks are skipped as they stream past.
    """

    _buffer: bytearray = field(default_factory=bytearray, repr=False)
    _skip: int = 0  # bytes of a skipped chunk still to come
    _fed: int = 0
    _riff_seen: bool = False
    _format: MediaFormat | None = None

    @property
    def bytes_fed(self) -> int:
        return self._fed

    def feed(self, data: bytes) -> tuple[MediaFormat, bytes, int | None] | None:
        self._fed += len(data)
        buf = self._buffer
        buf += data
        while True:
            if self._skip:
                skipped = min(self._skip, len(buf))
                del buf[:skipped]
                self._skip -= skipped
                if self._skip:
                    break
            if not self._riff_seen:
                if len(buf) < 12:
                    break
                if bytes(buf[:4]) not in _RIFF_MAGICS:
                    raise _malformed_wav("the stream does not start with RIFF")
                if bytes(buf[8:12]) != b"WAVE":
                    form = bytes(buf[8:12]).decode("latin-1")
                    raise _unsupported(f"a RIFF stream of form {form!r} is not WAV audio")
                self._riff_seen = True
                del buf[:12]
            if len(buf) < 8:
                break
            chunk_id = bytes(buf[:4])
            size: int = struct.unpack_from("<I", buf, 4)[0]
            if chunk_id == b"fmt ":
                if not 16 <= size <= MAX_FMT_CHUNK_BYTES:
                    raise _malformed_wav(f"'fmt ' chunk of {size} bytes")
                if len(buf) < 8 + size:
                    break
                self._format = parse_wav_fmt(bytes(buf[8 : 8 + size]))
                del buf[: 8 + size]
                self._skip = size & 1  # chunks are padded to an even size
            elif chunk_id == b"data":
                if self._format is None:
                    raise _malformed_wav("'data' chunk before the 'fmt ' chunk")
                rest = bytes(buf[8:])
                buf.clear()
                return self._format, rest, None if size in (0, _UNKNOWN_SIZE) else size
            else:
                del buf[:8]
                self._skip = size + (size & 1)
        if self._fed > MAX_WAV_HEADER_BYTES:
            raise _malformed_wav(f"no 'data' chunk in the first {MAX_WAV_HEADER_BYTES} bytes")
        return None


@dataclass
class LiveSession:
    """One connection's protocol state for the live-transcription dialect.

    `session_id` is generated by the server; `details` (for example the token's subject and claims) is
    passed on in `SessionStarted.details`, so that it is recorded with the session.
    """

    session_id: str
    language: str = "en"
    details: Mapping[str, Any] = field(default_factory=dict)
    state: LiveState = LiveState.AWAITING_FORMAT
    media: MediaFormat | None = None
    container: str | None = None  # "raw" or "wav", once known
    samples_received: int = 0  # per channel
    ignored_audio_bytes: int = 0  # after `close`, after the WAV data chunk, or a header cut short by close
    _prefix: bytes = field(default=b"", repr=False)  # first bytes, while they could still begin "RIFF"
    _wav: WavHeaderParser | None = field(default=None, repr=False)
    _decoder: AudioDecoder | None = field(default=None, repr=False)
    _data_remaining: int | None = None  # bytes left in a WAV data chunk of declared size

    # ---- output ------------------------------------------------------------------------------

    def start_message(self) -> list[SessionAction]:
        """The first message, to send as soon as the connection is accepted (calling it changes nothing)."""
        return [
            SendMessage(
                {
                    "type": "session",
                    "session_id": self.session_id,
                    "sample_rate": DEFAULT_LIVE_MEDIA.rate,
                    "channels": len(DEFAULT_LIVE_MEDIA.channels),
                    "format": "pcm16le",
                    "accepts": ["pcm16le", "wav"],
                }
            )
        ]

    def transcript_event(self, update: TranscriptUpdate, analysis: dict[str, Any] | None) -> dict[str, Any] | None:
        """The `transcript` message for one partial or final; None once the session is closed."""
        if self.state is LiveState.CLOSED:
            return None
        return live_transcript_message(self.session_id, update, analysis)

    def closed_message(self) -> list[SessionAction]:
        """After the server flushed the last finals of a `close`: `closed`, then a normal close."""
        if self.state is not LiveState.CLOSING:
            return []
        self.state = LiveState.CLOSED
        return [
            SendMessage({"type": "closed", "session_id": self.session_id}),
            CloseConnection(CLOSE_NORMAL, "session closed"),
        ]

    @property
    def seconds_received(self) -> float:
        return self.samples_received / self.media.rate if self.media else 0.0

    # ---- input -------------------------------------------------------------------------------

    def receive_text(self, data: str | bytes) -> list[SessionAction]:
        """Handle one text frame."""
        if self.state is LiveState.CLOSED:
            return []
        try:
            if len(data) > MAX_TEXT_MESSAGE:
                raise ProtocolError(
                    413, f"text message too large ({len(data)} > {MAX_TEXT_MESSAGE} bytes)", CLOSE_TOO_BIG
                )
            msg_type, message = _parse_message(data)
            handler = _HANDLERS.get((self.state, msg_type))
            if handler is None:  # every state that takes text handles every known type
                known = ", ".join(sorted(_MESSAGE_TYPES))
                raise ProtocolError(400, f"unknown message type {msg_type[:40]!r} (expected one of: {known})")
            return handler(self, message)
        except ProtocolError as error:
            return self.fail(error)

    def receive_binary(self, data: bytes) -> list[SessionAction]:
        """Handle one binary (audio) frame."""
        if self.state is LiveState.STREAMING:
            return self._audio(data)
        if self.state is LiveState.AWAITING_FORMAT:
            try:
                return self._detect_format(data)
            except ProtocolError as error:
                return self.fail(error)
        if self.state is LiveState.CLOSING:
            self.ignored_audio_bytes += len(data)  # audio after `close` is dropped, not an error
        return []

    def shutdown(self) -> list[SessionAction]:
        """The server is going away (the caller has flushed the finals): close with 1001."""
        if self.state is LiveState.CLOSED:
            return []
        self.state = LiveState.CLOSED
        return [CloseConnection(CLOSE_GOING_AWAY, "server shutting down")]

    def fail(self, error: ProtocolError) -> list[SessionAction]:
        """Answer a protocol error: an `error` message, then close the connection."""
        if self.state is LiveState.CLOSED:
            return []
        self.state = LiveState.CLOSED
        message = {"type": "error", "session_id": self.session_id, "code": error.code, "message": error.message}
        return [SendMessage(message), CloseConnection(error.close_code, close_reason(error.message))]

    # ---- audio -------------------------------------------------------------------------------

    def _detect_format(self, data: bytes) -> list[SessionAction]:
        if self._wav is not None:
            header = self._wav.feed(data)
            if header is None:
                return []
            media, first_audio, data_size = header
            return self._start("wav", media, first_audio, data_size)
        prefix = self._prefix + data
        if len(prefix) < 4 and any(magic.startswith(prefix) for magic in _RIFF_MAGICS):
            self._prefix = prefix  # too short to tell raw PCM from a RIFF header yet
            return []
        self._prefix = b""
        if prefix[:4] in _RIFF_MAGICS:
            self._wav = WavHeaderParser()
            return self._detect_format(prefix)
        return self._start("raw", DEFAULT_LIVE_MEDIA, prefix, None)

    def _start(
        self, container: str, media: MediaFormat, first_audio: bytes, data_size: int | None
    ) -> list[SessionAction]:
        self.container = container
        self.media = media
        self._decoder = AudioDecoder(media)
        self._data_remaining = data_size
        self._wav = None
        self.state = LiveState.STREAMING
        started = SessionStarted(self.session_id, media, self.language, dialect="live", details=dict(self.details))
        return [started, *self._audio(first_audio)]

    def _audio(self, data: bytes) -> list[SessionAction]:
        assert self._decoder is not None
        if self._data_remaining is not None:
            if len(data) > self._data_remaining:
                self.ignored_audio_bytes += len(data) - self._data_remaining
                data = data[: self._data_remaining]
            self._data_remaining -= len(data)
        if not data:
            return []
        samples = self._decoder.decode(data)
        if not samples.shape[0]:
            return []
        first = self.samples_received
        self.samples_received += samples.shape[0]
        return [AudioReceived(samples, first)]

    # ---- transitions -------------------------------------------------------------------------

    def _on_ping(self, message: dict[str, Any]) -> list[SessionAction]:
        return [SendMessage({"type": "pong", "session_id": self.session_id})]

    def _on_close(self, message: dict[str, Any]) -> list[SessionAction]:
        if self.state is LiveState.AWAITING_FORMAT:
            # Closed before the format was known: the bytes held back were never audio.
            self.ignored_audio_bytes += len(self._prefix) + (self._wav.bytes_fed if self._wav else 0)
            self._prefix, self._wav = b"", None
        self.state = LiveState.CLOSING
        reason = message.get("reason", "end")
        return [SessionEnding(reason if isinstance(reason, str) and reason else "end")]

    def _ignore(self, message: dict[str, Any]) -> list[SessionAction]:
        return []


def _parse_message(data: str | bytes) -> tuple[str, dict[str, Any]]:
    """A client text message: its `type` and the whole object; ProtocolError when it is not one."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(400, f"message is not valid UTF-8: {exc}", CLOSE_INVALID_PAYLOAD) from exc
    try:
        message = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ProtocolError(400, f"message is not valid JSON: {exc}", CLOSE_INVALID_PAYLOAD) from exc
    if not isinstance(message, dict):
        raise ProtocolError(400, f"message must be a JSON object, got {type(message).__name__}")
    msg_type = message.get("type")
    if msg_type is None:
        raise ProtocolError(400, "message has no 'type' field")
    if not isinstance(msg_type, str):
        raise ProtocolError(400, f"field 'type' must be a string, got {type(msg_type).__name__}")
    return msg_type, message


def live_transcript_message(
    session_id: str, update: TranscriptUpdate, analysis: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The live dialect's `transcript` message: flat, with word timings on finals."""
    message: dict[str, Any] = {
        "type": "transcript",
        "session_id": session_id,
        "text": update.text,
        "is_final": update.is_final,
        "start": round(update.start, 3),
        "end": round(update.end, 3),
        "speaker": update.speaker,
        "channel": update.channel,
        "utterance_id": update.utterance_id,
    }
    if update.confidence is not None:
        message["confidence"] = round(update.confidence, 4)
    if update.is_final:
        message["words"] = [
            {"word": w.text, "start": round(w.start, 3), "end": round(w.end, 3), "confidence": round(w.confidence, 4)}
            for w in update.words
        ]
    if analysis is not None:
        message["analysis"] = analysis
    return message


_Handler = Callable[[LiveSession, dict[str, Any]], list[SessionAction]]

_HANDLERS: dict[tuple[LiveState, str], _Handler] = {
    **{(state, "ping"): LiveSession._on_ping for state in (*_OPEN_STATES, LiveState.CLOSING)},
    **{(state, "close"): LiveSession._on_close for state in _OPEN_STATES},
    (LiveState.CLOSING, "close"): LiveSession._ignore,
}
_MESSAGE_TYPES = frozenset(msg_type for _, msg_type in _HANDLERS)
