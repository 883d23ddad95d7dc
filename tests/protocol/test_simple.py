"""The simple dialect's session state machine, driven frame by frame without any I/O."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np

from protocol.actions import (
    AudioReceived,
    CloseConnection,
    LanguageChanged,
    SendMessage,
    SessionAction,
    SessionEnding,
    SessionStarted,
)
from protocol.audio import MediaFormat
from protocol.errors import CLOSE_INVALID_PAYLOAD, CLOSE_NORMAL, CLOSE_POLICY_VIOLATION, CLOSE_UNSUPPORTED_DATA
from protocol.events import SpeakerCorrection, SpeakerUpdate, TranscriptUpdate, Word
from protocol.languages import Languages
from protocol.simple import SimpleSession, State, transcript_entity


def _open(session_id: str = "call-1", seq: int | None = 1, **parameters: Any) -> str:
    message: dict[str, Any] = {"type": "open", "id": session_id, "parameters": parameters}
    if seq is not None:
        message["seq"] = seq
    return json.dumps(message)


def _msg(msg_type: str, seq: int | None = None, session_id: str = "call-1", **parameters: Any) -> str:
    message: dict[str, Any] = {"type": msg_type, "id": session_id, "parameters": parameters}
    if seq is not None:
        message["seq"] = seq
    return json.dumps(message)


def _sent(actions: list[SessionAction]) -> list[dict[str, Any]]:
    return [a.message for a in actions if isinstance(a, SendMessage)]


def _opened_session() -> SimpleSession:
    session = SimpleSession(languages=Languages(("en", "de")))
    session.receive_text(_open(media=[{"type": "audio", "codec": "audio/pcm"}]))
    return session


def test_open_answers_opened_and_starts_the_session() -> None:
    session = SimpleSession(languages=Languages(("en", "de")))
    actions = session.receive_text(_open(media=[{"type": "audio", "codec": "audio/pcm"}], language="de"))
    opened = _sent(actions)[0]
    assert opened["type"] == "opened" and opened["id"] == "call-1" and opened["version"] == "2"
    assert opened["seq"] == 1 and opened["clientseq"] == 1
    assert opened["parameters"]["startPaused"] is False
    assert opened["parameters"]["supportedLanguages"] == ["en", "de"]
    assert opened["parameters"]["media"][0]["codec"] == "audio/pcm"
    started = [a for a in actions if isinstance(a, SessionStarted)]
    assert started == [SessionStarted("call-1", MediaFormat(), "de")]
    assert session.state is State.ACTIVE


def test_open_without_media_means_pcm16_16k_mono() -> None:
    session = SimpleSession()
    session.receive_text(_open(seq=None))
    assert session.media == MediaFormat("L16", 16000, ("mono",))


def test_audio_is_decoded_with_stream_positions() -> None:
    session = _opened_session()
    first = session.receive_binary(np.arange(8000, dtype="<i2").tobytes())
    second = session.receive_binary(np.arange(10, dtype="<i2").tobytes() + b"\x01")  # odd length
    assert isinstance(first[0], AudioReceived) and first[0].first_sample == 0 and first[0].samples.shape == (8000, 1)
    assert isinstance(second[0], AudioReceived) and second[0].first_sample == 8000
    assert session.samples_received == 8010 and session.seconds_received == 8010 / 16000


def test_ping_gets_pong_in_any_live_state() -> None:
    session = SimpleSession()
    assert _sent(session.receive_text(_msg("ping")))[0]["type"] == "pong"
    session.receive_text(_open(seq=None))
    pong = _sent(session.receive_text(_msg("ping", seq=None)))[0]
    assert pong["type"] == "pong" and pong["id"] == "call-1"


def test_close_flushes_then_closed_then_normal_close() -> None:
    session = _opened_session()
    actions = session.receive_text(_msg("close", seq=2, reason="end"))
    assert actions == [SessionEnding("end")]
    assert session.state is State.CLOSING
    update = TranscriptUpdate("0-1", 0, "unknown", "hi", True, 0.0, 0.5, "en")
    [event] = _sent(session.transcript(update, {"sentiment": "neutral"}))
    assert event["type"] == "event" and event["parameters"]["analysis"] == {"sentiment": "neutral"}
    assert event["parameters"]["entity"]["value"] == "hi"
    assert session.receive_binary(b"\x00\x00") == []  # late audio is dropped, not an error
    assert session.ignored_audio_bytes == 2
    closing = session.closed()
    assert _sent(closing)[0]["type"] == "closed"
    assert closing[-1] == CloseConnection(CLOSE_NORMAL, "session closed")
    assert session.state.value == "closed"
    assert session.receive_text(_msg("ping")) == []


def test_server_seq_counts_every_server_message() -> None:
    session = _opened_session()
    updates = [TranscriptUpdate(f"0-{i}", 0, "unknown", str(i), False, 0.0, 0.5, "en") for i in range(3)]
    seqs = [_sent(session.transcript(update, None))[0]["seq"] for update in updates]
    assert seqs == [2, 3, 4]


def _error_and_close(actions: list[SessionAction]) -> tuple[dict[str, Any], CloseConnection]:
    assert len(actions) == 2, actions
    error = _sent(actions)[0]
    assert error["type"] == "error"
    close = actions[1]
    assert isinstance(close, CloseConnection)
    return error, close


def test_audio_before_open_is_a_protocol_error() -> None:
    session = SimpleSession()
    error, close = _error_and_close(session.receive_binary(b"\x00" * 320))
    assert error["parameters"]["code"] == 400
    assert "before 'open'" in error["parameters"]["message"]
    assert close.code == CLOSE_POLICY_VIOLATION
    assert session.state is State.CLOSED


def test_malformed_json_closes_with_1007() -> None:
    error, close = _error_and_close(SimpleSession().receive_text("{oops"))
    assert "not valid JSON" in error["parameters"]["message"]
    assert close.code == CLOSE_INVALID_PAYLOAD


def test_unknown_type_and_wrong_state_are_named() -> None:
    error, _ = _error_and_close(_opened_session().receive_text(_msg("dance")))
    assert "unknown message type 'dance'" in error["parameters"]["message"]
    error, _ = _error_and_close(_opened_session().receive_text(_open(seq=2)))
    assert error["parameters"]["code"] == 405 and "'open' is not allowed while active" in error["parameters"]["message"]


def test_envelope_rules() -> None:
    error, _ = _error_and_close(_opened_session().receive_text(_msg("ping", seq=5)))
    assert "'seq' must be 2, got 5" in error["parameters"]["message"]
    error, _ = _error_and_close(_opened_session().receive_text(_msg("ping", session_id="other")))
    assert "does not match session id" in error["parameters"]["message"]
    ahead = json.dumps({"type": "ping", "id": "call-1", "serverseq": 9, "parameters": {}})
    error, _ = _error_and_close(_opened_session().receive_text(ahead))
    assert "'serverseq' 9 is ahead" in error["parameters"]["message"]


def test_unsupported_media_closes_with_1003() -> None:
    error, close = _error_and_close(SimpleSession().receive_text(_open(media=[{"codec": "audio/opus"}])))
    assert error["parameters"]["code"] == 415
    assert close.code == CLOSE_UNSUPPORTED_DATA


def test_first_supported_offer_wins() -> None:
    session = SimpleSession()
    session.receive_text(_open(media=[{"codec": "audio/opus"}, {"format": "PCMU", "rate": 8000}]))
    assert session.media == MediaFormat("PCMU", 8000, ("mono",))


def test_update_changes_language() -> None:
    session = _opened_session()
    actions = session.receive_text(_msg("update", seq=2, language="de-DE"))
    assert LanguageChanged("de") in actions and _sent(actions)[0]["type"] == "updated"
    assert session.language == "de"


def test_open_without_a_language_is_auto_detected() -> None:
    session = SimpleSession(languages=Languages(("en", "de")))
    actions = session.receive_text(_open(media=[{"type": "audio", "codec": "audio/pcm"}]))
    assert [a.language for a in actions if isinstance(a, SessionStarted)] == ["auto"]
    # English only: nothing to detect, English it is.
    actions = SimpleSession().receive_text(_open(media=[{"type": "audio", "codec": "audio/pcm"}]))
    assert [a.language for a in actions if isinstance(a, SessionStarted)] == ["en"]


def test_open_in_an_unsupported_language_is_a_415() -> None:
    session = SimpleSession(languages=Languages(("en", "de")))
    error, close = _error_and_close(session.receive_text(_open(language="tr")))
    assert error["parameters"]["code"] == 415
    assert "'tr' is not supported" in error["parameters"]["message"]
    assert "en, de (or auto to detect it)" in error["parameters"]["message"]
    assert close.code == CLOSE_UNSUPPORTED_DATA and session.state is State.CLOSED


def test_open_with_a_language_that_is_not_a_code_is_a_400() -> None:
    error, _ = _error_and_close(SimpleSession().receive_text(_open(language="english\n")))
    assert error["parameters"]["code"] == 400 and "not a language code" in error["parameters"]["message"]
    error, _ = _error_and_close(SimpleSession().receive_text(_open(language=7)))
    assert error["parameters"]["code"] == 400


def test_update_to_an_unsupported_language_is_a_415_like_open() -> None:
    session = _opened_session()
    error, close = _error_and_close(session.receive_text(_msg("update", seq=2, language="it")))
    assert error["parameters"]["code"] == 415 and "'it' is not supported" in error["parameters"]["message"]
    assert close.code == CLOSE_UNSUPPORTED_DATA and session.state is State.CLOSED


def test_close_reason_fits_the_websocket_limit() -> None:
    _, close = _error_and_close(SimpleSession().receive_text(json.dumps({"type": "é" * 200, "id": "x"})))
    assert len(close.reason.encode("utf-8")) <= 123


def test_transcript_entity_shape() -> None:
    update = TranscriptUpdate(
        utterance_id="0-1", channel=0, speaker="unknown", text="hello there", is_final=True,
        start=1.23456, end=2.5, language="en", confidence=0.912345, words=(Word("hello", 1.3, 1.6, 0.93),),
    )  # fmt: skip
    assert transcript_entity(update) == {
        "type": "transcript", "value": "hello there", "is_final": True, "start": 1.235, "end": 2.5,
        "channel": 0, "speaker": "unknown", "utterance_id": "0-1", "language": "en", "confidence": 0.9123,
        "words": [{"word": "hello", "start": 1.3, "end": 1.6, "confidence": 0.93}],
    }  # fmt: skip
    detected = transcript_entity(replace(update, language="de", language_probability=0.91234, translation="Hi."))
    assert detected["language"] == "de" and detected["language_probability"] == 0.9123
    assert detected["translation"] == "Hi."
    partial = TranscriptUpdate("0-2", 0, "unknown", "hel", False, 3.0, 3.5, "en")
    entity = transcript_entity(partial)
    assert entity["is_final"] is False and "words" not in entity and "confidence" not in entity


def test_a_diarized_final_says_its_voice_and_role() -> None:
    update = TranscriptUpdate(
        "0-1", 0, "agent", "hello", True, 0.0, 1.0, "en", speaker_id="speaker_1", role_confidence=0.91234
    )
    entity = transcript_entity(update)
    assert (entity["speaker"], entity["speaker_id"], entity["role_confidence"]) == ("agent", "speaker_1", 0.912)
    assert "speaker_id" not in transcript_entity(replace(update, speaker_id=None, role_confidence=None))


def test_speaker_update_is_an_event_before_closed_only() -> None:
    session = _opened_session()
    correction = SpeakerCorrection("0-2", "customer", "speaker_2", "agent", "speaker_1", 0.8)
    [action] = session.speakers_updated(SpeakerUpdate((correction,)))
    assert isinstance(action, SendMessage)
    message = action.message
    assert message["type"] == "event" and message["id"] == "call-1"
    assert message["parameters"]["entity"] == {
        "type": "speaker_update",
        "corrections": [
            {
                "utterance_id": "0-2",
                "speaker": "customer",
                "speaker_id": "speaker_2",
                "previous_speaker": "agent",
                "previous_speaker_id": "speaker_1",
                "role_confidence": 0.8,
            }
        ],
    }
    session.receive_text("nonsense")  # an error closes it: nothing more is sent
    assert session.speakers_updated(SpeakerUpdate((correction,))) == []
