"""The Genesys AudioHook v2 state machine, frame by frame, without I/O (rules: audiohook-protocol.md §1)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import numpy as np
import pytest

from protocol.actions import (
    AudioGap,
    AudioReceived,
    ClientReportedError,
    CloseConnection,
    LanguageChanged,
    LanguageRefused,
    SendMessage,
    SessionAction,
    SessionEnding,
    SessionStarted,
)
from protocol.audio import MediaFormat
from protocol.errors import ProtocolError
from protocol.events import TranscriptUpdate, Word, format_duration, parse_duration
from protocol.genesys import (
    NULL_UUID,
    GenesysSession,
    GenesysState,
    select_media,
    transcript_entity,
    uuid_problem,
)
from protocol.languages import Languages

SID = "30b0e395-84d3-4570-ac13-9a62d8f514c0"
ORG = "d7934305-0972-4844-938e-9060eef73d05"
CONV = "3f9b6c43-5a3e-4c55-b4a0-8a1c6f1e2d11"
PARTICIPANT = {
    "id": "1f0b7c7e-9f8e-4a41-9a2b-0c1d2e3f4a5b",
    "ani": "+15551234567",
    "aniName": "Jo",
    "dnis": "+18005550100",
}
STEREO = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}
EXTERNAL = {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}
INTERNAL = {"type": "audio", "format": "PCMU", "channels": ["internal"], "rate": 8000}
INVERTED = {**STEREO, "channels": ["internal", "external"]}


class Client:
    """Builds well-formed client messages with the envelope bookkeeping a Genesys client does."""

    def __init__(self, session: GenesysSession, session_id: str = SID) -> None:
        self.session = session
        self.id = session_id
        self.seq = 0
        self.serverseq = 0
        self.position = 0.0

    def send(self, msg_type: str, **parameters: Any) -> list[SessionAction]:
        self.seq += 1
        message = {
            "version": "2",
            "id": self.id,
            "type": msg_type,
            "seq": self.seq,
            "serverseq": self.serverseq,
            "position": format_duration(self.position),
            "parameters": parameters,
        }
        return self.receive(self.session.receive_text(json.dumps(message)))

    def receive(self, actions: list[SessionAction]) -> list[SessionAction]:
        for action in actions:
            if isinstance(action, SendMessage):
                self.serverseq = action.message["seq"]
        return actions

    def open(self, media: list[dict[str, Any]] | None = None, **extra: Any) -> list[SessionAction]:
        params = {"organizationId": ORG, "conversationId": CONV, "participant": PARTICIPANT, "media": media or [STEREO]}
        params.update(extra)
        return self.send("open", **params)

    def audio(self, seconds: float, channels: int = 2) -> list[SessionAction]:
        self.position += seconds
        return self.receive(self.session.receive_binary(b"\xff" * int(8000 * seconds) * channels))


def _sent(actions: list[SessionAction]) -> list[dict[str, Any]]:
    return [a.message for a in actions if isinstance(a, SendMessage)]


def _opened_client(**session_args: Any) -> Client:
    client = Client(GenesysSession(session_id=SID, organization_id=ORG, **session_args))
    client.open()
    return client


def test_open_is_answered_at_once_with_the_stereo_offer() -> None:
    client = Client(GenesysSession(session_id=SID, organization_id=ORG))
    actions = client.open(media=[STEREO, EXTERNAL, INTERNAL], language="en-US")
    opened = _sent(actions)[0]
    assert opened["type"] == "opened" and opened["id"] == SID and opened["version"] == "2"
    assert opened["seq"] == 1 and opened["clientseq"] == 1
    assert opened["parameters"] == {"startPaused": False, "media": [STEREO]}  # no languages unless asked
    started = next(a for a in actions if isinstance(a, SessionStarted))
    assert started.media == MediaFormat("PCMU", 8000, ("external", "internal"))
    assert started.dialect == "genesys" and started.conversation_id == CONV and started.language == "en"
    assert client.session.state is GenesysState.ACTIVE


def test_supported_languages_only_when_asked() -> None:
    client = Client(GenesysSession(supported_languages=("en-US", "es-US")))
    opened = _sent(client.open(supportedLanguages=True))[0]
    assert opened["parameters"]["supportedLanguages"] == ["en-US", "es-US"]


@pytest.mark.parametrize(
    ("offers", "preference", "expected"),
    [
        ([EXTERNAL, STEREO, INTERNAL], ("stereo", "external", "internal"), STEREO),
        ([STEREO, EXTERNAL, INTERNAL], ("external",), EXTERNAL),
        ([STEREO, INTERNAL], ("internal", "stereo"), INTERNAL),
        ([INVERTED], ("stereo",), INVERTED),
        ([{**STEREO, "format": "L16"}], ("external",), {**STEREO, "format": "L16"}),  # nothing preferred: first usable
    ],
)  # fmt: skip
def test_media_selection(offers: list[dict[str, Any]], preference: tuple[str, ...], expected: dict[str, Any]) -> None:
    selected = select_media(offers, preference)
    assert selected is not None and selected[1] == expected


@pytest.mark.parametrize(
    "offer",
    [
        {**STEREO, "format": "opus"},
        {**STEREO, "rate": 16000},
        {**STEREO, "channels": ["external", "external"]},
        {**STEREO, "channels": ["left", "right"]},
        {**STEREO, "type": "video"},
    ],
)
def test_offers_we_cannot_take_give_empty_media(offer: dict[str, Any]) -> None:
    client = Client(GenesysSession())
    actions = client.open(media=[offer])
    assert _sent(actions)[0]["parameters"]["media"] == []
    assert not [a for a in actions if isinstance(a, SessionStarted)]
    assert client.session.state is GenesysState.ACTIVE


def test_channel_order_is_the_selected_offers() -> None:
    client = Client(GenesysSession())
    client.open(media=[{**STEREO, "format": "L16", "channels": ["internal", "external"]}])
    frame = np.array([[100, -200], [300, -400]], dtype="<i2").tobytes()
    audio = next(a for a in client.session.receive_binary(frame) if isinstance(a, AudioReceived))
    assert audio.samples[:, 0].tolist() == [100, 300]  # column 0 is "internal" here: the agent
    assert client.session.media is not None and client.session.media.channels == ("internal", "external")


def test_probe_is_answered_without_a_session() -> None:
    client = Client(GenesysSession())
    actions = client.open(conversationId=NULL_UUID, participant={**PARTICIPANT, "id": NULL_UUID})
    assert _sent(actions)[0]["type"] == "opened"
    assert not [a for a in actions if isinstance(a, SessionStarted)]
    assert client.audio(0.2) == []  # audio, if any, is dropped
    assert client.send("close", reason="end") == [SessionEnding("end")]
    assert _sent(client.session.closed())[0]["type"] == "closed"


def test_ping_pong_carries_the_ping_seq() -> None:
    client = _opened_client()
    client.audio(0.2)
    pong = _sent(client.send("ping", rtt="PT0.05S"))[0]
    assert pong["type"] == "pong" and pong["clientseq"] == client.seq == 2 and pong["parameters"] == {}


def test_audio_positions_and_gaps() -> None:
    client = _opened_client()
    first = client.audio(1.0)[0]
    assert isinstance(first, AudioReceived) and first.first_sample == 0 and first.samples.shape == (8000, 2)
    assert client.send("discarded", start="PT1S", discarded="PT2.5S") == [AudioGap(20000, "discarded")]
    after = client.audio(0.5)[0]
    assert isinstance(after, AudioReceived) and after.first_sample == 8000 + 20000
    assert client.send("paused") == [AudioGap(0, "paused")]
    assert client.session.state is GenesysState.PAUSED
    assert client.send("resumed", start="PT4S", discarded="PT3S") == [AudioGap(24000, "resumed")]
    resumed = client.audio(0.1)[0]
    assert isinstance(resumed, AudioReceived) and resumed.first_sample == 8000 + 20000 + 4000 + 24000


def _disconnect(actions: list[SessionAction]) -> tuple[dict[str, Any], CloseConnection]:
    message = _sent(actions)[0]
    assert message["type"] == "disconnect" and message["parameters"]["reason"] == "error"
    close = next(a for a in actions if isinstance(a, CloseConnection))
    assert close.delay > 0  # the client is given the chance to close first
    return message, close


def test_audio_while_paused_or_before_open_is_an_error() -> None:
    client = _opened_client()
    client.send("paused")
    message, _ = _disconnect(client.audio(0.1))
    assert "audio received while paused" in message["parameters"]["info"]
    fresh = Client(GenesysSession())
    message, _ = _disconnect(fresh.audio(0.1))
    assert "audio received while opening" in message["parameters"]["info"]


def test_after_an_error_the_clients_close_gets_closed() -> None:
    client = _opened_client()
    _disconnect(client.send("dance"))
    assert client.session.state is GenesysState.SIGNALED_ERROR
    assert client.audio(0.1) == [] and client.send("ping") == []  # errors are not signalled twice
    assert client.send("close", reason="disconnect") == [SessionEnding("disconnect")]
    closing = client.session.closed()
    assert _sent(closing)[0]["type"] == "closed" and closing[-1] == CloseConnection(1000, "session closed")


def _raw(session: GenesysSession, **fields: Any) -> list[SessionAction]:
    message = {
        "version": "2",
        "id": SID,
        "type": "ping",
        "seq": 1,
        "serverseq": 0,
        "position": "PT0S",
        "parameters": {},
    }
    message.update(fields)
    return session.receive_text(json.dumps({k: v for k, v in message.items() if v is not None}))


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"version": "1"}, "'version' must be \"2\""),
        ({"version": None}, "'version' must be \"2\""),
        ({"id": "not-a-uuid"}, "'id' must be the session UUID"),
        ({"id": str(uuid.uuid4())}, "does not match session"),
        ({"seq": 2}, "'seq' must be 1, got 2"),
        ({"seq": None}, "'seq' is required"),
        ({"serverseq": 3}, "'serverseq' 3 is ahead"),
        ({"serverseq": None}, "'serverseq' is required"),
        ({"position": "12.4"}, "'position' must be an ISO 8601 duration"),
        ({"position": None}, "'position' must be an ISO 8601 duration"),
        ({"type": "rewind"}, "unknown message type 'rewind'"),
        ({"parameters": []}, "'parameters' must be an object"),
    ],
)
def test_envelope_rules(fields: dict[str, Any], fragment: str) -> None:
    message, _ = _disconnect(_raw(GenesysSession(session_id=SID), **fields))
    assert fragment in message["parameters"]["info"]


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("abc", '"abc" is not a UUID: it has 3 digits and no dashes'),
        ("30b0e395-84d3-4570-ac13", '"30b0e395-84d3-4570-ac13" is not a UUID: its groups have 8-4-4-4 digits'),
        ("30b0e395-84d3-4570-ac13-9a62d8f514cz", '"z" is not a hex digit'),
        ("30b0e395-84d3-0570-ac13-9a62d8f514c0", "its version digit (the 15th character) is 0, not 1-5"),
        ("30b0e395-84d3-4570-7c13-9a62d8f514c0", "its variant digit (the 20th character) is 7, not 8, 9, a or b"),
        ("", "it is empty"),
        ("\x1b[2J\nforged", '"\\u001b[2J\\nforged" is not a UUID: "\\u001b" is not a hex digit'),
    ],
)
def test_a_session_id_header_that_is_not_a_uuid_says_what_is_wrong(header: str, problem: str) -> None:
    # The header's id fails every message: the disconnect says so, not "message id … does not match".
    message, close = _disconnect(_raw(GenesysSession(session_id=header)))
    info = message["parameters"]["info"]
    assert info.startswith("Client Error: 400: Audiohook-Session-Id "), info
    assert problem in info
    assert info.endswith("(expected 8-4-4-4-12 hex digits, e.g. 3fa85f64-5717-4562-b3fc-2c963f66afa6)")
    assert info.isascii() and info.isprintable()  # nothing the client sent is echoed raw
    assert close.reason.isprintable()


def test_uuid_problem_accepts_uuids_and_the_null_uuid() -> None:
    assert uuid_problem(SID) is None and uuid_problem(NULL_UUID) is None
    assert uuid_problem(SID.upper()) is None
    message, _ = _disconnect(_raw(GenesysSession(), id="not-a-uuid"))
    assert (
        '\'id\' must be the session UUID, but "not-a-uuid" is not a UUID: "n" is not a hex digit'
        in (message["parameters"]["info"])
    )


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"organizationId": "nope"}, "'organizationId' must be a UUID"),
        ({"organizationId": str(uuid.uuid4())}, "does not match the Audiohook-Organization-Id header"),
        ({"conversationId": 5}, "'conversationId' must be a UUID"),
        ({"participant": {"id": NULL_UUID}}, "'participant.ani' must be a string"),
        ({"media": "PCMU"}, "'media' must be a list"),
        ({"language": "english"}, "like en-US"),
        ({"supportedLanguages": "yes"}, "'supportedLanguages' must be a boolean"),
    ],
)
def test_open_parameters_are_validated(change: dict[str, Any], fragment: str) -> None:
    client = Client(GenesysSession(session_id=SID, organization_id=ORG))
    message, _ = _disconnect(client.open(**change))
    assert fragment in message["parameters"]["info"]


def test_messages_out_of_state() -> None:
    client = Client(GenesysSession())
    message, _ = _disconnect(client.send("paused"))
    assert "'paused' is not allowed while opening" in message["parameters"]["info"]
    active = _opened_client()
    assert active.send("resumed", start="PT0S", discarded="PT0S") == []  # not paused: ignored, like the reference
    message, _ = _disconnect(active.send("open"))
    assert "'open' is not allowed while active" in message["parameters"]["info"]


def test_update_error_and_close_validation() -> None:
    client = Client(GenesysSession(languages=Languages(("en", "es"))))
    client.open()
    actions = client.send("update", language="es-US")
    assert LanguageChanged("es") in actions and _sent(actions)[0]["type"] == "updated"
    assert client.session.language_tag("es") == "es-US"  # the tag the client named, in the transcripts
    assert client.send("error", code=429, message="slow down") == [ClientReportedError(429, "slow down")]
    message, _ = _disconnect(client.send("close", reason="bored"))
    assert "'reason' must be one of" in message["parameters"]["info"]


def test_update_to_an_unsupported_language_is_refused_without_updated() -> None:
    client = _opened_client()
    actions = client.send("update", language="tr-TR")
    assert actions == [LanguageRefused("tr-TR", "language 'tr-TR' is not supported: this server transcribes en")]
    assert client.session.state is GenesysState.ACTIVE  # the call goes on, in English


def test_open_in_an_unsupported_language_is_disconnected_with_a_415() -> None:
    client = Client(GenesysSession(session_id=SID, organization_id=ORG, languages=Languages(("en", "de"))))
    message, _ = _disconnect(client.open(language="tr-TR"))
    assert message["parameters"]["info"] == (
        "Client Error: 415: language 'tr-TR' is not supported: this server transcribes en, de (or auto to detect it)"
    )


def test_open_without_a_language_is_detected_and_the_probe_needs_none() -> None:
    client = Client(GenesysSession(session_id=SID, organization_id=ORG, languages=Languages(("en", "de"))))
    actions = client.open()
    assert [a.language for a in actions if isinstance(a, SessionStarted)] == ["auto"]


def test_transcripts_name_their_language_as_genesys_writes_it() -> None:
    session = GenesysSession(languages=Languages(("en", "de", "pt")), supported_languages=("en-GB", "de-AT"))
    assert session.language_tag("de") == "de-AT"  # announced
    assert session.language_tag("pt") == "pt-BR"  # its usual region
    update = TranscriptUpdate("0-1", 0, "customer", "hallo", True, 1.0, 1.5, "de", 0.9)
    alternative = transcript_entity(update, SID, session.language_tag("de"))["data"]["alternatives"][0]
    assert alternative["languages"] == ["de-AT"]


def test_unauthorized_sessions_get_disconnect_on_open() -> None:
    client = Client(GenesysSession(unauthorized_reason="bad signature"))
    message = _sent(client.open())[0]
    assert message["type"] == "disconnect" and message["parameters"] == {"reason": "unauthorized"}
    assert client.session.state is GenesysState.UNAUTHORIZED
    assert client.send("close", reason="disconnect") == [SessionEnding("disconnect")]


def test_oversized_text_message() -> None:
    message, _ = _disconnect(GenesysSession().receive_text("x" * 70000))
    assert "too large" in message["parameters"]["info"]


def test_events_only_while_live() -> None:
    client = _opened_client()
    update = TranscriptUpdate("0-1", 0, "customer", "hi", True, 1.0, 1.5, "en-US", 0.9, (Word("hi", 1.1, 1.3, 0.9),))
    assert _sent(client.session.transcript(update, None))
    client.send("close", reason="end")
    assert _sent(client.session.transcript(update, None))  # finals still go out while closing
    client.session.closed()
    assert client.session.transcript(update, None) == []


def test_partials_can_be_switched_off_and_analysis_is_opt_in() -> None:
    partial = TranscriptUpdate("0-1", 0, "customer", "hel", False, 1.0, 1.5, "en-US")
    final = TranscriptUpdate("0-1", 0, "customer", "hello", True, 1.0, 1.6, "en-US", 0.9)
    quiet = _opened_client(send_partials=False)
    assert quiet.session.transcript(partial, None) == []
    [event] = _sent(quiet.session.transcript(final, {"sentiment": "neutral"}))
    assert [e["type"] for e in event["parameters"]["entities"]] == ["transcript"]
    chatty = _opened_client(send_analysis_entity=True)
    [event] = _sent(chatty.session.transcript(final, {"sentiment": "neutral"}))
    assert event["parameters"]["entities"][1] == {"type": "analysis", "data": {"sentiment": "neutral"}}


def test_transcript_entity_schema() -> None:
    words = (Word("hello", 3.2, 3.6, 0.93), Word("there", 3.2, 3.9, 0.8), Word("friend", 4.0, 4.4, 0.7))
    update = TranscriptUpdate("1-4", 1, "agent", "hello there friend", True, 3.2, 5.1, "en-US", 0.91, words)
    entity = transcript_entity(update, SID)
    data = entity["data"]
    assert entity["type"] == "transcript"
    assert data["channelId"] == 1 and data["isFinal"] is True
    assert data["offset"] == "PT3.2S" and data["duration"] == "PT1.9S"
    assert uuid.UUID(data["id"]) == uuid.UUID(transcript_entity(update, SID)["data"]["id"])  # stable per utterance
    (alternative,) = data["alternatives"]
    assert alternative["confidence"] == 0.91 and alternative["languages"] == ["en-US"]
    (interpretation,) = alternative["interpretations"]
    assert interpretation["type"] == "display" and interpretation["transcript"] == "hello there friend"
    offsets = [parse_duration(t["offset"]) for t in interpretation["tokens"]]
    assert len(set(offsets)) == 3 and offsets == sorted(offsets)  # unique even when words start together
    assert interpretation["tokens"][0] == {
        "type": "word", "value": "hello", "confidence": 0.93, "offset": "PT3.2S", "duration": "PT0.4S",
    }  # fmt: skip


@pytest.mark.parametrize(("seconds", "text"), [(0, "PT0S"), (3.2, "PT3.2S"), (12.345, "PT12.345S"), (-1, "PT0S")])
def test_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == max(0, seconds)


@pytest.mark.parametrize("bad", ["3.2", "PT3.2", "P3S", "PT-1S", 3.2, None, "PT.S"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ProtocolError):
        parse_duration(bad)
