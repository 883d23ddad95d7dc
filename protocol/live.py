"""The live-transcription dialect's session state machine (`/ws/transcribe`, JWT-authenticated).

Theory of operation: the server creates a `LiveSession` with a session id it generated (and the token's
identity in `details`), carries out `connected()` (the `session` message), then feeds every frame into
the session and carries out the actions that come back, in order, exactly as for the other dialects
(the contract is `protocol.session.Session`). The session never does I/O.

Transitions of text messages (`TRANSITIONS`, the table itself; a test keeps this list true):

    awaiting-format --ping--> awaiting-format
    streaming --ping--> streaming
    closing --ping--> closing
    awaiting-format --close--> closing
    streaming --close--> closing
    closing --close--> closing

Audio-triggered: awaiting-format --(the first audio bytes tell the format)--> streaming.
Server-triggered: closing --closed()--> closed (the finals are flushed); any but closed --shutdown()-->
closed (1001). Any state but closed --protocol error (`fail`)--> closed, with an `error` message and a
close code.

Wire protocol (all JSON text messages carry the `session_id`):

- server, first: `{"type": "session", "session_id": ..., "sample_rate": 16000, "channels": 1,
  "format": "pcm16le", "accepts": ["pcm16le", "wav"]}`.
- client: binary frames of any length (even odd byte counts): raw PCM16 little-endian 16 kHz mono, or a
  WAV stream (see below).
- server: `{"type": "transcript", "session_id", "text", "is_final", "start", "end", "speaker", "channel",
  "utterance_id", "language", "language_probability"? (detected), "translation"? (not English: the English the
  analysis read), "confidence"?, "words"? (finals), "analysis"? }` for partials and finals.
- client `{"type": "ping"}` → `{"type": "pong"}`; client `{"type": "close"}` → the last finals, then
  `{"type": "closed"}` and a normal close (1000). A client that just closes the socket gets its finals in
  the CSV.
- bad input → `{"type": "error", "code": 400|413|415, "message": ...}` and a close: 1007 for text that is
  not JSON (or not UTF-8), nested too deeply, and for a malformed WAV header, 1003 for a WAV format we
  cannot take, 1009 for a text message or frame over the size limits (64 KiB and 1 MiB by default), 1008
  for anything else (unknown message type, no `type`, not an object).
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from protocol.actions import (
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
    CLOSE_UNSUPPORTED_DATA,
    ProtocolError,
    close_reason,
)
from protocol.events import SpeakerUpdate, TranscriptUpdate
from protocol.messages import message_type
from protocol.session import Analysis, SessionBase, Transition
from protocol.text_frames import parse_json_object
from protocol.wav import (
    MAX_WAV_HEADER_BYTES,
    WAVE_FORMAT_PCM,
    WavError,
    WavFormat,
    WavHeaderReader,
)

__all__ = [
    "DEFAULT_LIVE_MEDIA",
    "MAX_WAV_HEADER_BYTES",
    "STEREO_CHANNELS",
    "TRANSITIONS",
    "LiveSession",
    "LiveState",
    "live_media",
    "live_transcript_message",
]

DEFAULT_LIVE_MEDIA = MediaFormat("L16", 16000, ("mono",))  # raw PCM (no RIFF header)
STEREO_CHANNELS = ("left", "right")  # channel names of a stereo WAV stream
_RIFF_MAGICS = (b"RIFF", b"RF64")


class LiveState(enum.Enum):
    AWAITING_FORMAT = "awaiting-format"  # no audio yet, or only the start of a WAV header
    STREAMING = "streaming"
    CLOSING = "closing"
    CLOSED = "closed"


def _wav_error(error: WavError) -> ProtocolError:
    if error.unsupported:
        return ProtocolError(415, error.message, CLOSE_UNSUPPORTED_DATA)
    return ProtocolError(400, f"malformed WAV header: {error.message}", CLOSE_INVALID_PAYLOAD)


def live_media(fmt: WavFormat) -> MediaFormat:
    """The media of a streamed WAV: this dialect takes 16-bit PCM, 8 or 16 kHz, mono or stereo;
    ProtocolError 415 for anything else, 400 for an inconsistent header."""
    if fmt.format_code != WAVE_FORMAT_PCM:
        raise ProtocolError(
            415, f"unsupported WAV encoding {fmt.name} (format 0x{fmt.format_code:04x}): send 16-bit PCM",
            CLOSE_UNSUPPORTED_DATA,
        )  # fmt: skip
    if fmt.bits_per_sample != 16:
        raise ProtocolError(
            415, f"unsupported WAV sample size: {fmt.bits_per_sample}-bit PCM; send 16-bit PCM", CLOSE_UNSUPPORTED_DATA
        )
    if fmt.channels not in (1, 2):
        raise ProtocolError(415, f"unsupported WAV channel count {fmt.channels} (1 or 2)", CLOSE_UNSUPPORTED_DATA)
    if fmt.rate not in SUPPORTED_RATES:
        raise ProtocolError(
            415, f"unsupported WAV sample rate {fmt.rate} Hz (supported: 8000, 16000)", CLOSE_UNSUPPORTED_DATA
        )
    if fmt.declared_block_align != 2 * fmt.channels:
        raise ProtocolError(
            400,
            f"malformed WAV header: block align {fmt.declared_block_align} does not fit {fmt.channels} "
            "channel(s) of 16-bit samples",
            CLOSE_INVALID_PAYLOAD,
        )
    return MediaFormat("L16", fmt.rate, ("mono",) if fmt.channels == 1 else STEREO_CHANNELS)


@dataclass
class LiveSession(SessionBase[LiveState]):
    """One connection's protocol state for the live-transcription dialect.

    `session_id` is generated by the server; `details` (for example the token's subject and claims) is
    passed on in `SessionStarted.details`, so that it is recorded with the session.
    """

    dialect: ClassVar[str] = "live"
    CLOSING: ClassVar[LiveState] = LiveState.CLOSING
    CLOSED: ClassVar[LiveState] = LiveState.CLOSED

    session_id: str
    language: str = "auto"  # the server's default, resolved (protocol.languages): auto or a bare code
    details: Mapping[str, Any] = field(default_factory=dict)
    container: str | None = field(default=None, init=False)  # "raw" or "wav", once known
    ignored_audio_bytes: int = field(default=0, init=False)  # after `close`, after the data chunk, a cut header
    _prefix: bytes = field(default=b"", init=False, repr=False)  # first bytes, while they could still begin "RIFF"
    _wav: WavHeaderReader | None = field(default=None, init=False, repr=False)
    _decoder: AudioDecoder | None = field(default=None, init=False, repr=False)
    _data_remaining: int | None = field(default=None, init=False)  # bytes left in a WAV data chunk of declared size

    def __post_init__(self) -> None:
        self.state = LiveState.AWAITING_FORMAT

    # ---- output ------------------------------------------------------------------------------

    def connected(self) -> list[SessionAction]:
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

    def transcript(self, update: TranscriptUpdate, analysis: Analysis) -> list[SessionAction]:
        """The `transcript` message for one partial or final; none once the session is closed."""
        if self.state is LiveState.CLOSED:
            return []
        return [SendMessage(live_transcript_message(self.session_id, update, analysis))]

    def speakers_updated(self, update: SpeakerUpdate) -> list[SessionAction]:
        """The `speaker_update` message: the finals whose speaker the end-of-call diarization changed."""
        if self.state is LiveState.CLOSED:
            return []
        return [SendMessage({"type": "speaker_update", "session_id": self.session_id, **update.to_json()})]

    def _closed_message(self) -> dict[str, Any]:
        return {"type": "closed", "session_id": self.session_id}

    # ---- input -------------------------------------------------------------------------------

    def receive_text(self, data: str | bytes) -> list[SessionAction]:
        """Handle one text frame."""
        if self.state is LiveState.CLOSED:
            return []
        try:
            message = parse_json_object(data, self.limits)
            msg_type = message_type(message)
            actions = self.dispatch(TRANSITIONS, msg_type, message)
            if actions is None:  # every state that takes text handles every known type
                known = ", ".join(sorted(_MESSAGE_TYPES))
                raise ProtocolError(400, f"unknown message type {msg_type[:40]!a} (expected one of: {known})")
            return actions
        except ProtocolError as error:
            return self.fail(error)

    def receive_binary(self, data: bytes) -> list[SessionAction]:
        """Handle one binary (audio) frame."""
        if self.state is LiveState.CLOSING:
            self.ignored_audio_bytes += len(data)  # audio after `close` is dropped, not an error
            return []
        if self.state is LiveState.CLOSED:
            return []
        too_large = self.limits.check_binary(data)
        if too_large is not None:
            return self.fail(too_large)
        if self.state is LiveState.STREAMING:
            return self._stream(data)
        try:
            return self._detect_format(data)
        except ProtocolError as error:
            return self.fail(error)

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
            try:
                header = self._wav.feed(data)
            except WavError as error:
                raise _wav_error(error) from None
            if header is None:
                return []
            return self._start("wav", live_media(header.format), header.first_audio, header.data_size)
        prefix = self._prefix + data
        if len(prefix) < 4 and any(magic.startswith(prefix) for magic in _RIFF_MAGICS):
            self._prefix = prefix  # too short to tell raw PCM from a RIFF header yet
            return []
        self._prefix = b""
        if prefix[:4] in _RIFF_MAGICS:
            self._wav = WavHeaderReader()
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
        return [started, *self._stream(first_audio)]

    def _stream(self, data: bytes) -> list[SessionAction]:
        assert self._decoder is not None
        if self._data_remaining is not None:
            if len(data) > self._data_remaining:
                self.ignored_audio_bytes += len(data) - self._data_remaining
                data = data[: self._data_remaining]
            self._data_remaining -= len(data)
        if not data:
            return []
        return self._audio(self._decoder.decode(data))

    # ---- transitions -------------------------------------------------------------------------

    def _on_ping(self, message: dict[str, Any]) -> list[SessionAction]:
        return [SendMessage({"type": "pong", "session_id": self.session_id})]

    def _on_close(self, message: dict[str, Any]) -> list[SessionAction]:
        if self.state is LiveState.AWAITING_FORMAT:
            # Closed before the format was known: the bytes held back were never audio.
            self.ignored_audio_bytes += len(self._prefix) + (self._wav.bytes_fed if self._wav else 0)
            self._prefix, self._wav = b"", None
        reason = message.get("reason", "end")
        return [SessionEnding(reason if isinstance(reason, str) and reason else "end")]


def live_transcript_message(session_id: str, update: TranscriptUpdate, analysis: Analysis = None) -> dict[str, Any]:
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
        "language": update.language,
        **update.speaker_fields(),
    }
    if update.language_probability is not None:
        message["language_probability"] = round(update.language_probability, 4)
    if update.translation is not None:
        message["translation"] = update.translation
    if update.confidence is not None:
        message["confidence"] = round(update.confidence, 4)
    if update.is_final:
        message["words"] = [word.to_json() for word in update.words]
    if analysis is not None:
        message["analysis"] = dict(analysis)
    return message


_T = Transition[LiveSession, dict[str, Any], LiveState]
_S = LiveState

TRANSITIONS: dict[tuple[LiveState, str], _T] = {
    (_S.AWAITING_FORMAT, "ping"): _T(LiveSession._on_ping, _S.AWAITING_FORMAT),
    (_S.STREAMING, "ping"): _T(LiveSession._on_ping, _S.STREAMING),
    (_S.CLOSING, "ping"): _T(LiveSession._on_ping, _S.CLOSING),
    (_S.AWAITING_FORMAT, "close"): _T(LiveSession._on_close, _S.CLOSING),
    (_S.STREAMING, "close"): _T(LiveSession._on_close, _S.CLOSING),
    (_S.CLOSING, "close"): _T(LiveSession._ignore, _S.CLOSING),
}
_MESSAGE_TYPES = frozenset(msg_type for _, msg_type in TRANSITIONS)
