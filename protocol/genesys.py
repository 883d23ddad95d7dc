"""The Genesys AudioHook v2 session state machine (AudioHook Monitor and the Transcription Connector).

Theory of operation: the transport feeds every frame into `GenesysSession` and carries out the actions
that come back, in order (the contract is `protocol.session.Session`). Rules follow the AudioHook
protocol as the reference implementation's protocol types, validators and server session define it.

Transitions of text messages (`TRANSITIONS`, the table itself; a test keeps this list true):

    opening --open--> active
    opening --ping--> opening
    opening --error--> opening
    opening --close--> closing
    active --ping--> active
    active --paused--> paused
    active --resumed--> active
    active --discarded--> active
    active --update--> active
    active --error--> active
    active --close--> closing
    paused --ping--> paused
    paused --paused--> paused
    paused --resumed--> active
    paused --discarded--> paused
    paused --update--> paused
    paused --error--> paused
    paused --close--> closing
    closing --ping--> closing
    closing --error--> closing
    closing --close--> closing
    signaled-error --close--> closing
    unauthorized --close--> closing

Error paths, outside the table: a protocol error in opening, active or paused (`fail`) sends
`disconnect` reason `error` and goes to signaled-error; `open` on a connection whose credentials
failed (disconnect mode) sends `disconnect` reason `unauthorized` and goes to unauthorized; the server
going away (`shutdown`) sends `disconnect` reason `completed`. After a disconnect only `close`
matters; a client that does not send it is closed after a grace period. Server-triggered:
closing --closed()--> closed, once the finals are flushed.

- Every client text message has `version` "2", the session `id`, `seq` exactly one more than the last,
  `serverseq` no more than the server sent, a `position` (`PT12.4S`) and `parameters`; each type's
  parameters are validated as the reference does.
- `opened` goes out at once: audio is buffered by the server while models warm up.
- The connection probe (null conversation id) is answered but starts no recognition.
- Languages (`protocol.languages`): `open.language` must be a supported language (else `disconnect`
  with a 415) or absent (detected); an `update` to an unsupported one is refused by sending no
  `updated` (`LanguageRefused`), and the call goes on in its language.
- Positions: audio advances the stream position; `discarded` and `resumed` gaps move it further, so
  transcript offsets stay true to the client's timeline.
"""

from __future__ import annotations

import enum
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from protocol.actions import (
    AudioGap,
    ClientReportedError,
    CloseConnection,
    LanguageChanged,
    LanguageRefused,
    SendMessage,
    SessionAction,
    SessionEnding,
    SessionStarted,
)
from protocol.audio import AudioDecoder, MediaFormat, media_from_offer
from protocol.errors import CLOSE_POLICY_VIOLATION, ProtocolError, bounded, close_reason
from protocol.events import SpeakerUpdate, TranscriptUpdate, format_duration, parse_duration
from protocol.languages import AUTO, Languages, bare_code, regional_tag
from protocol.messages import PROTOCOL_VERSION, ClientMessage, check_known_type, parse_envelope
from protocol.session import Analysis, Sequences, SessionBase, Transition

NULL_UUID = "00000000-0000-0000-0000-000000000000"
DISCONNECT_GRACE_S = 5.0
_UUID = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
    r"|00000000-0000-0000-0000-000000000000)$"
)
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}-[A-Za-z]{2,3}$")
GENESYS_CHANNELS = ("external", "internal")
CLOSE_REASONS = ("disconnect", "end", "error", "reconnect")


class GenesysState(enum.Enum):
    OPENING = "opening"
    ACTIVE = "active"
    PAUSED = "paused"
    CLOSING = "closing"
    CLOSED = "closed"
    SIGNALED_ERROR = "signaled-error"
    UNAUTHORIZED = "unauthorized"


_LIVE = (GenesysState.OPENING, GenesysState.ACTIVE, GenesysState.PAUSED)
_DISCONNECTED = (GenesysState.SIGNALED_ERROR, GenesysState.UNAUTHORIZED)


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and bool(_UUID.fullmatch(value))


UUID_EXAMPLE = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
_UUID_GROUPS = (8, 4, 4, 4, 12)
_HEX = frozenset("0123456789abcdefABCDEF")


def quoted(value: str, limit: int = 64) -> str:
    """A client string for an error text: in double quotes, at most `limit` characters, and ASCII with
    every control character, quote and non-ASCII character escaped (JSON's escapes), so that what a
    client sent can neither break the line nor pass for the server's own words."""
    shown = value if len(value) <= limit else value[:limit] + "..."
    return json.dumps(shown, ensure_ascii=True)


def uuid_problem(value: str) -> str | None:
    """What keeps `value` from being a UUID as Genesys sends them (8-4-4-4-12 hex digits, version 1-5,
    variant 8-b; or the null UUID), or None when it is one."""
    if is_uuid(value):
        return None
    if not value:
        return "it is empty"
    odd = next((char for char in value if char not in _HEX and char != "-"), None)
    if odd is not None:
        return f"{quoted(odd)} is not a hex digit"
    lengths = tuple(len(group) for group in value.split("-"))
    if lengths != _UUID_GROUPS:
        shape = "-".join(map(str, lengths))
        return f"its groups have {shape} digits" if len(lengths) > 1 else f"it has {len(value)} digits and no dashes"
    if value[14] not in "12345":
        return f"its version digit (the 15th character) is {value[14]}, not 1-5"
    return f"its variant digit (the 20th character) is {value[19]}, not 8, 9, a or b"


def uuid_error(what: str, value: str) -> str:
    """The error text for a `what` (a header, a field) that must be a UUID and is not."""
    problem = uuid_problem(value) or "it is not a UUID"
    return f"{what} {quoted(value)} is not a UUID: {problem} (expected 8-4-4-4-12 hex digits, e.g. {UUID_EXAMPLE})"


def is_language_code(value: object) -> bool:
    return isinstance(value, str) and bool(LANGUAGE_CODE.fullmatch(value))


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ProtocolError(400, message)


def _check_open_parameters(params: dict[str, Any]) -> None:
    for key in ("organizationId", "conversationId"):
        _require(is_uuid(params.get(key)), f"open: '{key}' must be a UUID")
    participant = params.get("participant")
    _require(isinstance(participant, dict), "open: 'participant' must be an object")
    assert isinstance(participant, dict)
    _require(is_uuid(participant.get("id")), "open: 'participant.id' must be a UUID")
    for key in ("ani", "aniName", "dnis"):
        _require(isinstance(participant.get(key), str), f"open: 'participant.{key}' must be a string")
    media = params.get("media")
    _require(isinstance(media, list), "open: 'media' must be a list of offers")
    if "language" in params:
        _require(is_language_code(params["language"]), "open: 'language' must be a language code like en-US")
    if "supportedLanguages" in params:
        _require(isinstance(params["supportedLanguages"], bool), "open: 'supportedLanguages' must be a boolean")
    if "customConfig" in params:
        _require(isinstance(params["customConfig"], dict), "open: 'customConfig' must be an object")
    if "continuedSessions" in params:
        _require(isinstance(params["continuedSessions"], list), "open: 'continuedSessions' must be a list")


def _genesys_offer(offer: Any) -> MediaFormat | None:
    """A Genesys media offer we can take, or None (validated like the reference: audio, PCMU/L16,
    8 kHz, one or two of external/internal)."""
    if not isinstance(offer, dict) or offer.get("type") != "audio" or offer.get("format") not in ("PCMU", "L16"):
        return None
    channels = offer.get("channels")
    if not isinstance(channels, list) or not 1 <= len(channels) <= 2:
        return None
    if any(c not in GENESYS_CHANNELS for c in channels) or len(set(channels)) != len(channels):
        return None
    if offer.get("rate") != 8000:
        return None
    try:
        return media_from_offer(offer)
    except ProtocolError:
        return None


def select_media(offers: Sequence[Any], preference: Sequence[str]) -> tuple[MediaFormat, dict[str, Any]] | None:
    """Pick an offer: the first matching each preference in turn (`stereo`, `external`, `internal`,
    `any`), among offers we can decode. Returns the format and the offer exactly as offered."""
    usable = [(fmt, offer) for offer in offers if (fmt := _genesys_offer(offer)) is not None]
    for wanted in preference:
        for fmt, offer in usable:
            if (
                wanted == "any"
                or (wanted == "stereo" and len(fmt.channels) == 2)
                or (len(fmt.channels) == 1 and fmt.channels[0] == wanted)
            ):
                return fmt, offer
    return usable[0] if usable else None


@dataclass
class GenesysSession(SessionBase[GenesysState]):
    """One connection's protocol state for the Genesys dialect."""

    dialect: ClassVar[str] = "genesys"
    CLOSING: ClassVar[GenesysState] = GenesysState.CLOSING
    CLOSED: ClassVar[GenesysState] = GenesysState.CLOSED

    session_id: str | None = None  # from the Audiohook-Session-Id header; else taken from `open`
    organization_id: str | None = None  # from the Audiohook-Organization-Id header
    languages: Languages = field(default_factory=Languages)
    supported_languages: Sequence[str] = ("en-US",)  # announced in `opened` (Languages.tags)
    default_language: str = AUTO  # when `open` names none
    media_preference: Sequence[str] = ("stereo", "external", "internal")
    send_partials: bool = True
    send_analysis_entity: bool = False
    unauthorized_reason: str | None = None  # set: answer `open` with disconnect(unauthorized)
    language: str | None = field(default=None, init=False)
    conversation_id: str | None = field(default=None, init=False)
    probe: bool = field(default=False, init=False)
    client_position: float = field(default=0.0, init=False)
    _decoder: AudioDecoder | None = field(default=None, init=False, repr=False)
    _seq: Sequences = field(default_factory=Sequences, init=False, repr=False)
    _text_frames: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.state = GenesysState.OPENING

    # ---- input -------------------------------------------------------------------------------

    def receive_text(self, data: str | bytes) -> list[SessionAction]:
        self._text_frames += 1
        try:
            message = parse_envelope(data, self.limits)
        except ProtocolError as error:
            return self.fail(error)
        try:
            self._check_envelope(message)
            check_known_type(message)
        except ProtocolError as error:
            if message.type != "close" or self.state not in _DISCONNECTED:
                return self.fail(error)
            # After a disconnect, the client's close ends the session whatever its envelope; `closed`
            # still reports its seq (messages the envelope check refused were counted by the client),
            # within what is possible: never backwards, never more than the text frames received.
            if message.seq is not None and self._seq.client < message.seq <= self._text_frames:
                self._seq.client = message.seq
        try:
            actions = self.dispatch(TRANSITIONS, message.type, message)
        except ProtocolError as error:
            return self.fail(error)
        if actions is not None:
            return actions
        if self.state in _LIVE:
            return self.fail(ProtocolError(405, f"{message.type[:40]!a} is not allowed while {self.state.value}"))
        return []  # after an error, a disconnect or a close: only `close` matters

    def receive_binary(self, data: bytes) -> list[SessionAction]:
        if self.state is GenesysState.ACTIVE:
            if self._decoder is None:  # no media was selected
                return self.fail(ProtocolError(400, "unexpected audio: no media was selected in 'opened'"))
            too_large = self.limits.check_binary(data)
            if too_large is not None:
                return self.fail(too_large)
            samples = self._decoder.decode(data)
            return [] if self.probe else self._audio(samples)
        if self.state in (GenesysState.OPENING, GenesysState.PAUSED):
            return self.fail(ProtocolError(400, f"audio received while {self.state.value}"))
        return []  # closing, closed or after an error: dropped

    def fail(self, error: ProtocolError) -> list[SessionAction]:
        """Signal a protocol error: `disconnect` (reason error), then wait for the client's `close`.

        Not while closing: the client has already asked to end, and `closed` is on its way."""
        if self.state not in _LIVE:
            return []
        self.state = GenesysState.SIGNALED_ERROR
        info = f"Client Error: {error.code}: {bounded(error.message)}"
        return [
            SendMessage(self._message("disconnect", {"reason": "error", "info": info})),
            CloseConnection(error.close_code, close_reason(error.message), delay=DISCONNECT_GRACE_S),
        ]

    # ---- server-initiated messages -----------------------------------------------------------

    def disconnect(self, reason: str, info: str | None = None) -> list[SessionAction]:
        """Ask the client to end the session (`completed`, `unauthorized` or `error`)."""
        if self.state not in _LIVE:
            return []
        self.state = GenesysState.UNAUTHORIZED if reason == "unauthorized" else GenesysState.SIGNALED_ERROR
        parameters: dict[str, Any] = {"reason": reason}
        if info:
            parameters["info"] = info
        return [
            SendMessage(self._message("disconnect", parameters)),
            CloseConnection(CLOSE_POLICY_VIOLATION, reason, delay=DISCONNECT_GRACE_S),
        ]

    def shutdown(self) -> list[SessionAction]:
        """The server is going away (the caller has flushed the finals): `disconnect` reason completed."""
        return self.disconnect("completed", "server shutting down")

    def transcript(self, update: TranscriptUpdate, analysis: Analysis) -> list[SessionAction]:
        """A Transcription Connector `event` for one update; none when it must not be sent."""
        if self.state not in (GenesysState.ACTIVE, GenesysState.PAUSED, GenesysState.CLOSING):
            return []
        if not update.is_final and not self.send_partials:
            return []
        entities: list[dict[str, Any]] = [
            transcript_entity(update, self.session_id or "", self.language_tag(update.language))
        ]
        if self.send_analysis_entity and analysis is not None and update.is_final:
            entities.append({"type": "analysis", "data": dict(analysis)})
        return [SendMessage(self._message("event", {"entities": entities}))]

    def speakers_updated(self, update: SpeakerUpdate) -> list[SessionAction]:
        """Nothing: a Transcription Connector has no message for it (and Genesys calls are stereo: each
        channel is its party, nothing is diarized unless `--diarization on`)."""
        return []

    def _closed_message(self) -> dict[str, Any]:
        return self._message("closed", {})

    # ---- transitions -------------------------------------------------------------------------

    def _check_envelope(self, message: ClientMessage) -> None:
        if self.session_id is not None and not is_uuid(self.session_id):
            # A bad Audiohook-Session-Id header: every message would fail for it, so say that first.
            raise ProtocolError(400, uuid_error("Audiohook-Session-Id", self.session_id))
        _require(message.version == PROTOCOL_VERSION, f"'version' must be \"2\", got {message.version!r}")
        if not is_uuid(message.id):
            raise ProtocolError(400, uuid_error("'id' must be the session UUID, but", message.id))
        if self.session_id is None:
            self.session_id = message.id
        _require(
            message.id == self.session_id,
            f"message id {quoted(message.id)} does not match session {self.session_id}",
        )
        self._seq.accept_client_seq(message.seq, required=True)
        self._seq.check_serverseq(message.serverseq, required=True)
        self.client_position = parse_duration(message.position, "position")

    def _on_open(self, message: ClientMessage) -> list[SessionAction]:
        params = message.parameters
        _check_open_parameters(params)
        if self.organization_id is not None and params["organizationId"] != self.organization_id:
            raise ProtocolError(400, "open: 'organizationId' does not match the Audiohook-Organization-Id header")
        if self.unauthorized_reason is not None:
            return self.disconnect("unauthorized")
        self.conversation_id = params["conversationId"]
        self.probe = params["conversationId"] == NULL_UUID
        requested = params.get("language")
        # The probe's language does not matter: it transcribes nothing.
        language = AUTO if self.probe else self.languages.resolve(requested or self.default_language)
        self.language = requested if isinstance(requested, str) else None
        selected = select_media(params["media"], self.media_preference)
        opened: dict[str, Any] = {"startPaused": False, "media": [selected[1]] if selected else []}
        if params.get("supportedLanguages") is True:
            opened["supportedLanguages"] = list(self.supported_languages)
        actions: list[SessionAction] = [SendMessage(self._message("opened", opened))]
        if selected is None:
            return actions  # no offer we can decode: audio refused with `media: []`
        self.media = selected[0]
        self._decoder = AudioDecoder(self.media)
        if self.probe:
            return actions  # the connection probe: answered, but no recognition and no files
        details = {
            "organizationId": params["organizationId"],
            "participant": params["participant"],
            "customConfig": params.get("customConfig", {}),
        }
        actions.append(SessionStarted(message.id, self.media, language, "genesys", self.conversation_id, details))
        return actions

    def _on_ping(self, message: ClientMessage) -> list[SessionAction]:
        rtt = message.parameters.get("rtt")
        if rtt is not None:
            parse_duration(rtt, "rtt")
        return [SendMessage(self._message("pong", {}))]

    def _on_paused(self, message: ClientMessage) -> list[SessionAction]:
        return [AudioGap(0, "paused")]

    def _on_resumed(self, message: ClientMessage) -> list[SessionAction]:
        parse_duration(message.parameters.get("start"), "start")
        return self._gap(parse_duration(message.parameters.get("discarded"), "discarded"), "resumed")

    def _on_discarded(self, message: ClientMessage) -> list[SessionAction]:
        parse_duration(message.parameters.get("start"), "start")
        return self._gap(parse_duration(message.parameters.get("discarded"), "discarded"), "discarded")

    def _gap(self, seconds: float, reason: str) -> list[SessionAction]:
        if self.media is None:
            return []
        samples = round(seconds * self.media.rate)
        self.gap_samples += samples
        return [AudioGap(samples, reason)]

    def _on_update(self, message: ClientMessage) -> list[SessionAction]:
        language = message.parameters.get("language")
        _require(is_language_code(language), "update: 'language' must be a language code like en-US")
        assert isinstance(language, str)
        try:
            code = self.languages.resolve(language)
        except ProtocolError as refused:
            # `updated` is optional: not sending it refuses the change, and the call goes on as it was.
            return [LanguageRefused(language, refused.message)]
        self.language = language
        return [LanguageChanged(code), SendMessage(self._message("updated", {}))]

    def language_tag(self, code: str) -> str:
        """How a transcript's language is written to Genesys: the tag the client named when it is that
        language (`es-MX` stays `es-MX`), else an announced tag of it, else its usual region."""
        if self.language is not None and bare_code(self.language) == code:
            return self.language
        announced = next((tag for tag in self.supported_languages if bare_code(tag) == code), None)
        return announced or regional_tag(code)

    def _on_error(self, message: ClientMessage) -> list[SessionAction]:
        code, text = message.parameters.get("code"), message.parameters.get("message")
        _require(isinstance(code, int) and 400 <= code < 10000, "error: 'code' must be an integer 400-9999")
        _require(isinstance(text, str), "error: 'message' must be a string")
        assert isinstance(code, int) and isinstance(text, str)
        return [ClientReportedError(code, text)]

    def _on_close(self, message: ClientMessage) -> list[SessionAction]:
        reason = message.parameters.get("reason")
        _require(reason in CLOSE_REASONS, f"close: 'reason' must be one of {', '.join(CLOSE_REASONS)}")
        return [SessionEnding(str(reason))]

    def _message(self, msg_type: str, parameters: dict[str, Any]) -> dict[str, Any]:
        return self._seq.server_message(msg_type, self.session_id or NULL_UUID, parameters)


def transcript_entity(update: TranscriptUpdate, session_id: str, language: str = "en-US") -> dict[str, Any]:
    """A Transcription Connector `transcript` entity: offsets on the stream timeline, unique token offsets."""
    tokens: list[dict[str, Any]] = []
    last_offset = -1.0
    for word in update.words:
        offset = max(round(word.start, 3), round(last_offset + 0.001, 3))
        last_offset = offset
        tokens.append(
            {
                "type": "word",
                "value": word.text,
                "confidence": round(word.confidence, 4),
                "offset": format_duration(offset),
                "duration": format_duration(max(0.0, word.end - offset)),
            }
        )
    interpretation: dict[str, Any] = {"type": "display", "transcript": update.text}
    if update.is_final:
        interpretation["tokens"] = tokens
    return {
        "type": "transcript",
        "data": {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"audiohook:{session_id}:{update.utterance_id}")),
            "channelId": update.channel,
            "isFinal": update.is_final,
            "offset": format_duration(update.start),
            "duration": format_duration(update.end - update.start),
            "alternatives": [
                {
                    "confidence": round(update.confidence if update.confidence is not None else 0.0, 4),
                    "languages": [language],
                    "interpretations": [interpretation],
                }
            ],
        },
    }


_T = Transition[GenesysSession, ClientMessage, GenesysState]
_S = GenesysState

TRANSITIONS: dict[tuple[GenesysState, str], _T] = {
    (_S.OPENING, "open"): _T(GenesysSession._on_open, _S.ACTIVE),
    (_S.OPENING, "ping"): _T(GenesysSession._on_ping, _S.OPENING),
    (_S.OPENING, "error"): _T(GenesysSession._on_error, _S.OPENING),
    (_S.OPENING, "close"): _T(GenesysSession._on_close, _S.CLOSING),
    (_S.ACTIVE, "ping"): _T(GenesysSession._on_ping, _S.ACTIVE),
    (_S.ACTIVE, "paused"): _T(GenesysSession._on_paused, _S.PAUSED),
    (_S.ACTIVE, "resumed"): _T(GenesysSession._ignore, _S.ACTIVE),  # not paused: nothing to resume (as the reference)
    (_S.ACTIVE, "discarded"): _T(GenesysSession._on_discarded, _S.ACTIVE),
    (_S.ACTIVE, "update"): _T(GenesysSession._on_update, _S.ACTIVE),
    (_S.ACTIVE, "error"): _T(GenesysSession._on_error, _S.ACTIVE),
    (_S.ACTIVE, "close"): _T(GenesysSession._on_close, _S.CLOSING),
    (_S.PAUSED, "ping"): _T(GenesysSession._on_ping, _S.PAUSED),
    (_S.PAUSED, "paused"): _T(GenesysSession._ignore, _S.PAUSED),
    (_S.PAUSED, "resumed"): _T(GenesysSession._on_resumed, _S.ACTIVE),
    (_S.PAUSED, "discarded"): _T(GenesysSession._on_discarded, _S.PAUSED),
    (_S.PAUSED, "update"): _T(GenesysSession._on_update, _S.PAUSED),
    (_S.PAUSED, "error"): _T(GenesysSession._on_error, _S.PAUSED),
    (_S.PAUSED, "close"): _T(GenesysSession._on_close, _S.CLOSING),
    (_S.CLOSING, "ping"): _T(GenesysSession._on_ping, _S.CLOSING),
    (_S.CLOSING, "error"): _T(GenesysSession._on_error, _S.CLOSING),
    (_S.CLOSING, "close"): _T(GenesysSession._ignore, _S.CLOSING),
    (_S.SIGNALED_ERROR, "close"): _T(GenesysSession._on_close, _S.CLOSING),
    (_S.UNAUTHORIZED, "close"): _T(GenesysSession._on_close, _S.CLOSING),
}
