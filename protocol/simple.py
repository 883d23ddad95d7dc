"""The simple PCM dialect's session state machine (SIP trunks and softphone bridges).

Theory of operation: the server feeds every frame it receives into `SimpleSession` and carries out
the actions that come back, in order. The session never does I/O itself.

    AWAITING_OPEN --open--> ACTIVE --close--> CLOSING --(server flushed finals)--> CLOSED
          |                   |
          +--- protocol error (any state) ---> CLOSED, with an `error` message and a close code

Audio is only valid in ACTIVE; audio after `close` is ignored, audio before `open` is an error.
Transitions are a table (`_HANDLERS`), not nested ifs.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocol.actions import (
    AudioReceived,
    CloseConnection,
    LanguageChanged,
    SendMessage,
    SessionAction,
    SessionEnding,
    SessionStarted,
)
from protocol.audio import SIMPLE_DEFAULT_MEDIA, AudioDecoder, MediaFormat, media_from_offer
from protocol.errors import CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_UNSUPPORTED_DATA, ProtocolError, bounded, close_reason
from protocol.events import TranscriptUpdate
from protocol.messages import ClientMessage, parse_client_message

PROTOCOL_VERSION = "2"


class State(enum.Enum):
    AWAITING_OPEN = "awaiting-open"
    ACTIVE = "active"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass
class SimpleSession:
    """One connection's protocol state for the simple dialect."""

    supported_languages: Sequence[str] = ("en",)
    default_language: str = "en"
    state: State = State.AWAITING_OPEN
    session_id: str | None = None
    media: MediaFormat | None = None
    language: str | None = None
    samples_received: int = 0
    ignored_audio_bytes: int = 0
    _decoder: AudioDecoder | None = field(default=None, repr=False)
    _client_seq: int = 0
    _server_seq: int = 0

    # ---- input -------------------------------------------------------------------------------

    def receive_text(self, data: str | bytes) -> list[SessionAction]:
        """Handle one text frame."""
        if self.state is State.CLOSED:
            return []
        try:
            message = parse_client_message(data)
            self._check_envelope(message)
            handler = _HANDLERS.get((self.state, message.type))
            if handler is None:
                # No transition for (state, type): the message is valid but not allowed now.
                raise ProtocolError(405, f"{message.type[:40]!a} is not allowed while {self.state.value}")
            return handler(self, message)
        except ProtocolError as error:
            return self.fail(error)

    def receive_binary(self, data: bytes) -> list[SessionAction]:
        """Handle one binary (audio) frame."""
        if self.state is State.ACTIVE:
            assert self._decoder is not None
            samples = self._decoder.decode(data)
            first = self.samples_received
            self.samples_received += samples.shape[0]
            return [AudioReceived(samples, first)] if samples.shape[0] else []
        if self.state is State.AWAITING_OPEN:
            return self.fail(ProtocolError(400, "audio received before 'open': send an 'open' message first"))
        self.ignored_audio_bytes += len(data)  # audio after 'close' is dropped, not an error
        return []

    def shutdown(self) -> list[SessionAction]:
        """The server is going away (the caller has flushed the finals): close with 1001."""
        if self.state is State.CLOSED:
            return []
        self.state = State.CLOSED
        return [CloseConnection(CLOSE_GOING_AWAY, "server shutting down")]

    def fail(self, error: ProtocolError) -> list[SessionAction]:
        """Answer a protocol error: an `error` message, then close the connection."""
        if self.state is State.CLOSED:
            return []
        self.state = State.CLOSED
        message = self._server_message(
            "error", {"code": error.code, "message": bounded(error.message)}, session_id=self.session_id or ""
        )
        return [SendMessage(message), CloseConnection(error.close_code, close_reason(error.message))]

    # ---- output ------------------------------------------------------------------------------

    def event_message(self, entity: dict[str, Any], analysis: dict[str, Any] | None = None) -> dict[str, Any]:
        """Build an `event` message carrying one entity (and the call analysis once there is one)."""
        parameters: dict[str, Any] = {"entity": entity}
        if analysis is not None:
            parameters["analysis"] = analysis
        return self._server_message("event", parameters)

    def transcript_event(self, update: TranscriptUpdate, analysis: dict[str, Any] | None) -> dict[str, Any] | None:
        """The event for one transcript update (partials and finals alike); None once the session is over."""
        if self.state not in (State.ACTIVE, State.CLOSING):
            return None
        return self.event_message(transcript_entity(update), analysis)

    def closed_message(self) -> list[SessionAction]:
        """After the server flushed the last events of a `close`: send `closed` and close normally."""
        if self.state is not State.CLOSING:
            return []
        self.state = State.CLOSED
        return [SendMessage(self._server_message("closed", {})), CloseConnection(CLOSE_NORMAL, "session closed")]

    @property
    def seconds_received(self) -> float:
        return self.samples_received / self.media.rate if self.media else 0.0

    # ---- transitions -------------------------------------------------------------------------

    def _check_envelope(self, message: ClientMessage) -> None:
        if self.session_id is not None and message.id != self.session_id:
            raise ProtocolError(400, f"message id {message.id[:64]!r} does not match session id {self.session_id!r}")
        if message.seq is not None:
            if message.seq != self._client_seq + 1:
                raise ProtocolError(400, f"'seq' must be {self._client_seq + 1}, got {message.seq}")
            self._client_seq = message.seq
        if message.serverseq is not None and message.serverseq > self._server_seq:
            raise ProtocolError(
                400, f"'serverseq' {message.serverseq} is ahead of the last server message ({self._server_seq})"
            )

    def _on_open(self, message: ClientMessage) -> list[SessionAction]:
        params = message.parameters
        media = _select_media(params.get("media"))
        language = params.get("language", self.default_language)
        if not isinstance(language, str):
            raise ProtocolError(400, "'language' must be a string")
        self.session_id = message.id
        self.media = media
        self.language = language
        self._decoder = AudioDecoder(media)
        self.state = State.ACTIVE
        opened = self._server_message(
            "opened",
            {
                "startPaused": False,
                "media": [media.offer()],
                "supportedLanguages": list(self.supported_languages),
            },
        )
        return [SendMessage(opened), SessionStarted(message.id, media, language)]

    def _on_ping(self, message: ClientMessage) -> list[SessionAction]:
        return [SendMessage(self._server_message("pong", {}, session_id=message.id))]

    def _on_close(self, message: ClientMessage) -> list[SessionAction]:
        self.state = State.CLOSING
        reason = message.parameters.get("reason", "end")
        return [SessionEnding(reason if isinstance(reason, str) else "end")]

    def _on_close_before_open(self, message: ClientMessage) -> list[SessionAction]:
        self.state = State.CLOSED
        closed = self._server_message("closed", {}, session_id=message.id)
        return [SendMessage(closed), CloseConnection(CLOSE_NORMAL, "session closed")]

    def _on_update(self, message: ClientMessage) -> list[SessionAction]:
        language = message.parameters.get("language")
        if language is not None:
            if not isinstance(language, str):
                raise ProtocolError(400, "'language' must be a string")
            self.language = language
            return [LanguageChanged(language), SendMessage(self._server_message("updated", {}))]
        return [SendMessage(self._server_message("updated", {}))]

    def _ignore(self, message: ClientMessage) -> list[SessionAction]:
        return []

    def _server_message(
        self, msg_type: str, parameters: dict[str, Any], session_id: str | None = None
    ) -> dict[str, Any]:
        self._server_seq += 1
        return {
            "version": PROTOCOL_VERSION,
            "type": msg_type,
            "id": session_id if session_id is not None else self.session_id,
            "seq": self._server_seq,
            "clientseq": self._client_seq,
            "parameters": parameters,
        }


def _select_media(offers: Any) -> MediaFormat:
    """Pick the first offer we can decode; no `media` at all means the dialect's PCM16 16 kHz mono."""
    if offers is None:
        return SIMPLE_DEFAULT_MEDIA
    if not isinstance(offers, list):
        raise ProtocolError(400, "'media' must be a list of offers")
    if not offers:
        raise ProtocolError(415, "'media' lists no offer", CLOSE_UNSUPPORTED_DATA)
    first_error: ProtocolError | None = None
    for offer in offers:
        try:
            return media_from_offer(offer)
        except ProtocolError as error:
            first_error = first_error or error
    assert first_error is not None
    raise first_error


_Handler = Callable[[SimpleSession, ClientMessage], list[SessionAction]]

_HANDLERS: dict[tuple[State, str], _Handler] = {
    (State.AWAITING_OPEN, "open"): SimpleSession._on_open,
    (State.AWAITING_OPEN, "ping"): SimpleSession._on_ping,
    (State.AWAITING_OPEN, "close"): SimpleSession._on_close_before_open,
    (State.ACTIVE, "ping"): SimpleSession._on_ping,
    (State.ACTIVE, "close"): SimpleSession._on_close,
    (State.ACTIVE, "update"): SimpleSession._on_update,
    # Genesys flow-control messages are accepted and ignored by the simple dialect.
    (State.ACTIVE, "paused"): SimpleSession._ignore,
    (State.ACTIVE, "resumed"): SimpleSession._ignore,
    (State.ACTIVE, "discarded"): SimpleSession._ignore,
    (State.ACTIVE, "error"): SimpleSession._ignore,
    (State.CLOSING, "ping"): SimpleSession._on_ping,
    (State.CLOSING, "close"): SimpleSession._ignore,
    (State.CLOSING, "error"): SimpleSession._ignore,
}


def transcript_entity(update: TranscriptUpdate) -> dict[str, Any]:
    """The simple dialect's transcript entity: the seed format (`type`, `value`) plus timing and channel."""
    entity: dict[str, Any] = {
        "type": "transcript",
        "value": update.text,
        "is_final": update.is_final,
        "start": round(update.start, 3),
        "end": round(update.end, 3),
        "channel": update.channel,
        "speaker": update.speaker,
        "utterance_id": update.utterance_id,
    }
    if update.confidence is not None:
        entity["confidence"] = round(update.confidence, 4)
    if update.is_final:
        entity["words"] = [
            {"word": w.text, "start": round(w.start, 3), "end": round(w.end, 3), "confidence": round(w.confidence, 4)}
            for w in update.words
        ]
    return entity
