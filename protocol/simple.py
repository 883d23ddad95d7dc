"""The simple PCM dialect's session state machine (SIP trunks and softphone bridges).

Theory of operation: the transport feeds every frame it receives into `SimpleSession` and carries
out the actions that come back, in order (the contract is `protocol.session.Session`). The session
never does I/O itself.

Transitions of text messages (`TRANSITIONS`, the table itself; a test keeps this list true):

    awaiting-open --open--> active
    awaiting-open --ping--> awaiting-open
    awaiting-open --close--> closed
    active --ping--> active
    active --close--> closing
    active --update--> active
    active --paused--> active
    active --resumed--> active
    active --discarded--> active
    active --error--> active
    closing --ping--> closing
    closing --close--> closing
    closing --error--> closing

Server-triggered: closing --closed()--> closed (the finals are flushed); any but closed
--shutdown()--> closed (1001). A protocol error in any state (`fail`) --> closed, with an `error`
message and a close code. Audio is only valid while active; audio after `close` is ignored, audio
before `open` is an error. Genesys flow-control messages are accepted and ignored by this dialect.

Languages (`protocol.languages`): `opened` announces the languages the server transcribes; `open`
without a `language` is auto-detected, a named one must be among them or the session fails with 415
(an `update` to one too: in this dialect an `error` always ends the session, and clients expect so;
the finals so far are kept).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar

from protocol.actions import (
    CloseConnection,
    LanguageChanged,
    SendMessage,
    SessionAction,
    SessionEnding,
    SessionStarted,
)
from protocol.audio import SIMPLE_DEFAULT_MEDIA, AudioDecoder, MediaFormat, media_from_offer
from protocol.errors import CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_UNSUPPORTED_DATA, ProtocolError, bounded, close_reason
from protocol.events import SpeakerUpdate, TranscriptUpdate
from protocol.languages import AUTO, Languages
from protocol.messages import ClientMessage, parse_client_message
from protocol.session import Analysis, Sequences, SessionBase, Transition


class State(enum.Enum):
    AWAITING_OPEN = "awaiting-open"
    ACTIVE = "active"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass
class SimpleSession(SessionBase[State]):
    """One connection's protocol state for the simple dialect."""

    dialect: ClassVar[str] = "simple"
    CLOSING: ClassVar[State] = State.CLOSING
    CLOSED: ClassVar[State] = State.CLOSED

    languages: Languages = field(default_factory=Languages)
    default_language: str = AUTO  # when `open` names none: auto (detected) or a supported language
    session_id: str | None = field(default=None, init=False)
    language: str | None = field(default=None, init=False)
    ignored_audio_bytes: int = field(default=0, init=False)
    _decoder: AudioDecoder | None = field(default=None, init=False, repr=False)
    _seq: Sequences = field(default_factory=Sequences, init=False, repr=False)

    def __post_init__(self) -> None:
        self.state = State.AWAITING_OPEN

    # ---- input -------------------------------------------------------------------------------

    def receive_text(self, data: str | bytes) -> list[SessionAction]:
        """Handle one text frame."""
        if self.state is State.CLOSED:
            return []
        try:
            message = parse_client_message(data, self.limits)
            self._check_envelope(message)
            actions = self.dispatch(TRANSITIONS, message.type, message)
            if actions is None:
                # No transition for (state, type): the message is valid but not allowed now.
                raise ProtocolError(405, f"{message.type[:40]!a} is not allowed while {self.state.value}")
            return actions
        except ProtocolError as error:
            return self.fail(error)

    def receive_binary(self, data: bytes) -> list[SessionAction]:
        """Handle one binary (audio) frame."""
        if self.state is State.ACTIVE:
            too_large = self.limits.check_binary(data)
            if too_large is not None:
                return self.fail(too_large)
            assert self._decoder is not None
            return self._audio(self._decoder.decode(data))
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
        message = self._message("error", {"code": error.code, "message": bounded(error.message)}, self.session_id or "")
        return [SendMessage(message), CloseConnection(error.close_code, close_reason(error.message))]

    # ---- output ------------------------------------------------------------------------------

    def transcript(self, update: TranscriptUpdate, analysis: Analysis) -> list[SessionAction]:
        """The `event` for one transcript update (partials and finals alike); none once the session is over."""
        if self.state not in (State.ACTIVE, State.CLOSING):
            return []
        parameters: dict[str, Any] = {"entity": transcript_entity(update)}
        if analysis is not None:
            parameters["analysis"] = dict(analysis)
        return [SendMessage(self._message("event", parameters))]

    def speakers_updated(self, update: SpeakerUpdate) -> list[SessionAction]:
        """An `event` with a `speaker_update` entity: the finals whose speaker the end-of-call
        diarization changed (sent before `closed`)."""
        if self.state not in (State.ACTIVE, State.CLOSING):
            return []
        entity = {"type": "speaker_update", **update.to_json()}
        return [SendMessage(self._message("event", {"entity": entity}))]

    def _closed_message(self) -> dict[str, Any]:
        return self._message("closed", {})

    # ---- transitions -------------------------------------------------------------------------

    def _check_envelope(self, message: ClientMessage) -> None:
        if self.session_id is not None and message.id != self.session_id:
            raise ProtocolError(400, f"message id {message.id[:64]!r} does not match session id {self.session_id!r}")
        self._seq.accept_client_seq(message.seq, required=False)
        self._seq.check_serverseq(message.serverseq, required=False)

    def _on_open(self, message: ClientMessage) -> list[SessionAction]:
        params = message.parameters
        media = _select_media(params.get("media"))
        self.session_id = message.id
        language = self.languages.resolve(params.get("language", self.default_language))
        self.media = media
        self.language = language
        self._decoder = AudioDecoder(media)
        opened = self._message(
            "opened",
            {
                "startPaused": False,
                "media": [media.offer()],
                "supportedLanguages": list(self.languages.supported),
            },
        )
        return [SendMessage(opened), SessionStarted(message.id, media, language)]

    def _on_ping(self, message: ClientMessage) -> list[SessionAction]:
        return [SendMessage(self._message("pong", {}, message.id))]

    def _on_close(self, message: ClientMessage) -> list[SessionAction]:
        reason = message.parameters.get("reason", "end")
        return [SessionEnding(reason if isinstance(reason, str) else "end")]

    def _on_close_before_open(self, message: ClientMessage) -> list[SessionAction]:
        return [SendMessage(self._message("closed", {}, message.id)), CloseConnection(CLOSE_NORMAL, "session closed")]

    def _on_update(self, message: ClientMessage) -> list[SessionAction]:
        language = message.parameters.get("language")
        if language is None:
            return [SendMessage(self._message("updated", {}))]
        code = self.languages.resolve(language)  # unsupported: 415, as at `open` (an `error` always ends it)
        self.language = code
        return [LanguageChanged(code), SendMessage(self._message("updated", {}))]

    def _message(self, msg_type: str, parameters: dict[str, Any], session_id: str | None = None) -> dict[str, Any]:
        return self._seq.server_message(msg_type, session_id if session_id is not None else self.session_id, parameters)


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


_T = Transition[SimpleSession, ClientMessage, State]
_S = State

TRANSITIONS: dict[tuple[State, str], _T] = {
    (_S.AWAITING_OPEN, "open"): _T(SimpleSession._on_open, _S.ACTIVE),
    (_S.AWAITING_OPEN, "ping"): _T(SimpleSession._on_ping, _S.AWAITING_OPEN),
    (_S.AWAITING_OPEN, "close"): _T(SimpleSession._on_close_before_open, _S.CLOSED),
    (_S.ACTIVE, "ping"): _T(SimpleSession._on_ping, _S.ACTIVE),
    (_S.ACTIVE, "close"): _T(SimpleSession._on_close, _S.CLOSING),
    (_S.ACTIVE, "update"): _T(SimpleSession._on_update, _S.ACTIVE),
    (_S.ACTIVE, "paused"): _T(SimpleSession._ignore, _S.ACTIVE),
    (_S.ACTIVE, "resumed"): _T(SimpleSession._ignore, _S.ACTIVE),
    (_S.ACTIVE, "discarded"): _T(SimpleSession._ignore, _S.ACTIVE),
    (_S.ACTIVE, "error"): _T(SimpleSession._ignore, _S.ACTIVE),
    (_S.CLOSING, "ping"): _T(SimpleSession._on_ping, _S.CLOSING),
    (_S.CLOSING, "close"): _T(SimpleSession._ignore, _S.CLOSING),
    (_S.CLOSING, "error"): _T(SimpleSession._ignore, _S.CLOSING),
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
        "language": update.language,
        **update.speaker_fields(),
    }
    if update.language_probability is not None:
        entity["language_probability"] = round(update.language_probability, 4)
    if update.translation is not None:
        entity["translation"] = update.translation  # the English the analysis read
    if update.confidence is not None:
        entity["confidence"] = round(update.confidence, 4)
    if update.is_final:
        entity["words"] = [word.to_json() for word in update.words]
    return entity
