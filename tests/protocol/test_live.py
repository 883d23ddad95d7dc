"""The live-transcription dialect's session state machine, driven frame by frame without any I/O."""

from __future__ import annotations

import io
import json
import struct
import wave
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from protocol.actions import (
    AudioReceived,
    CloseConnection,
    SendMessage,
    SessionAction,
    SessionEnding,
    SessionStarted,
)
from protocol.audio import MediaFormat
from protocol.errors import (
    CLOSE_GOING_AWAY,
    CLOSE_INVALID_PAYLOAD,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED_DATA,
)
from protocol.events import SpeakerCorrection, SpeakerUpdate, TranscriptUpdate, Word
from protocol.live import MAX_WAV_HEADER_BYTES, LiveSession, LiveState

SID = "7d0b1c2e-live-session"
KSDATAFORMAT_SUFFIX = b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def _sent(actions: list[SessionAction]) -> list[dict[str, Any]]:
    return [a.message for a in actions if isinstance(a, SendMessage)]


def _started(actions: list[SessionAction]) -> list[SessionStarted]:
    return [a for a in actions if isinstance(a, SessionStarted)]


def _audio(actions: list[SessionAction]) -> list[AudioReceived]:
    return [a for a in actions if isinstance(a, AudioReceived)]


def _closes(actions: list[SessionAction]) -> list[CloseConnection]:
    return [a for a in actions if isinstance(a, CloseConnection)]


def _pcm(samples: int, channels: int = 1, seed: int = 0) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(seed)
    return rng.integers(-20000, 20000, size=(samples, channels), dtype=np.int16)


def _wav_file(audio: npt.NDArray[np.int16], rate: int) -> bytes:
    """A complete WAV file as the stdlib writes it (declared sizes)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(audio.shape[1])
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(audio.astype("<i2").tobytes())
    return buffer.getvalue()


def _chunk(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def _fmt(tag: int = 1, channels: int = 1, rate: int = 16000, bits: int = 16) -> bytes:
    block_align = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * block_align, block_align, bits)


def _extensible_fmt(sub_format: int, channels: int = 1, rate: int = 16000, bits: int = 16) -> bytes:
    base = _fmt(0xFFFE, channels, rate, bits)
    return base + struct.pack("<HHI", 22, bits, 0) + struct.pack("<I", sub_format) + KSDATAFORMAT_SUFFIX


def _wav_header(fmt: bytes, data_size: int = 0, extra_chunks: bytes = b"", magic: bytes = b"RIFF") -> bytes:
    """A streaming WAV header: RIFF, the chunks given, and a `data` chunk header of `data_size`."""
    body = b"WAVE" + _chunk(b"fmt ", fmt) + extra_chunks + b"data" + struct.pack("<I", data_size)
    return magic + struct.pack("<I", 0xFFFFFFFF) + body


def _joined(actions: list[SessionAction]) -> npt.NDArray[np.int16]:
    received = _audio(actions)
    return np.concatenate([a.samples for a in received]) if received else np.zeros((0, 1), np.int16)


def _feed(session: LiveSession, frames: list[bytes]) -> list[SessionAction]:
    actions: list[SessionAction] = []
    for frame in frames:
        actions.extend(session.receive_binary(frame))
    return actions


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _state(session: LiveSession) -> LiveState:
    return session.state  # read through a function: mypy would keep an earlier narrowing of the attribute


def _assert_error(actions: list[SessionAction], code: int, close_code: int, text: str) -> None:
    error = _sent(actions)
    assert len(error) == 1 and error[0]["type"] == "error" and error[0]["session_id"] == SID
    assert error[0]["code"] == code and text in error[0]["message"], error[0]
    closes = _closes(actions)
    assert len(closes) == 1 and closes[0].code == close_code and closes[0].delay == 0


# ---- start -------------------------------------------------------------------------------------------


def test_start_message_announces_the_session() -> None:
    session = LiveSession(SID)
    [message] = _sent(session.connected())
    assert message["type"] == "session" and message["session_id"] == SID
    assert message["sample_rate"] == 16000 and message["channels"] == 1 and message["format"] == "pcm16le"
    assert "wav" in message["accepts"]
    assert session.state is LiveState.AWAITING_FORMAT and session.media is None


def test_raw_pcm_starts_the_session_with_the_first_frame() -> None:
    session = LiveSession(SID, language="de", details={"subject": "agent-42", "claims": {"sub": "agent-42"}})
    audio = _pcm(8000)
    actions = session.receive_binary(audio.tobytes())
    assert _started(actions) == [
        SessionStarted(
            SID,
            MediaFormat("L16", 16000, ("mono",)),
            "de",
            dialect="live",
            details={"subject": "agent-42", "claims": {"sub": "agent-42"}},
        )
    ]
    assert isinstance(actions[0], SessionStarted) and isinstance(actions[1], AudioReceived)  # started first
    assert actions[1].first_sample == 0 and np.array_equal(actions[1].samples, audio)
    assert session.container == "raw" and session.state is LiveState.STREAMING


def test_raw_pcm_odd_frames_keep_positions_and_samples() -> None:
    session = LiveSession(SID)
    audio = _pcm(5000, seed=1)
    frames = _split(audio.tobytes(), 333)  # odd length: every frame splits a sample
    actions = _feed(session, frames)
    assert len(_started(actions)) == 1
    received = _audio(actions)
    assert [a.first_sample for a in received] == list(np.cumsum([0] + [a.samples.shape[0] for a in received])[:-1])
    assert np.array_equal(_joined(actions), audio)
    assert session.samples_received == 5000 and session.seconds_received == 5000 / 16000


def test_first_bytes_that_might_begin_riff_wait_for_more() -> None:
    session = LiveSession(SID)
    audio = np.frombuffer(b"RI" + b"\x10\x00" * 99, dtype="<i2").reshape(-1, 1)
    assert session.receive_binary(b"R") == []  # could be the start of "RIFF"
    assert session.receive_binary(b"I") == []
    actions = session.receive_binary(audio.tobytes()[2:])  # "RI\x10\x00": not RIFF, so raw PCM
    assert len(_started(actions)) == 1 and session.container == "raw"
    assert np.array_equal(_joined(actions), audio)


def test_one_byte_that_cannot_begin_riff_starts_raw_pcm_at_once() -> None:
    session = LiveSession(SID)
    actions = session.receive_binary(b"\x01")
    assert len(_started(actions)) == 1 and _audio(actions) == []  # half a sample: carried over
    actions = session.receive_binary(b"\x02")
    assert _audio(actions)[0].samples[0, 0] == 0x0201


# ---- WAV streams -------------------------------------------------------------------------------------


def test_wav_stream_fed_byte_by_byte() -> None:
    session = LiveSession(SID)
    audio = _pcm(1000, seed=2)
    data = _wav_file(audio, 16000)
    header_size = data.index(b"data") + 8
    actions: list[SessionAction] = []
    for i in range(len(data)):
        step = session.receive_binary(data[i : i + 1])
        if i < header_size - 1:
            assert step == [], f"acted at byte {i}, inside the header"
        actions.extend(step)
    assert _started(actions) == [SessionStarted(SID, MediaFormat("L16", 16000, ("mono",)), "auto", dialect="live")]
    assert session.container == "wav" and np.array_equal(_joined(actions), audio)


def test_wav_header_split_across_frames_with_chunks_to_skip() -> None:
    audio = _pcm(4000, seed=3)
    info = _chunk(b"LIST", b"INFOISFT" + struct.pack("<I", 13) + b"some encoder\x00")
    odd = _chunk(b"junk", b"abc")  # odd size: padded
    data = _wav_header(_fmt(), extra_chunks=info + odd) + audio.tobytes()
    for frame_size in (5, 7, 13, 64, 1001):
        session = LiveSession(SID)
        actions = _feed(session, _split(data, frame_size))
        assert len(_started(actions)) == 1, frame_size
        assert np.array_equal(_joined(actions), audio), frame_size


def test_wav_8k_stereo_takes_its_format_from_the_header() -> None:
    session = LiveSession(SID)
    audio = _pcm(4000, channels=2, seed=4)
    actions = _feed(session, _split(_wav_file(audio, 8000), 1000))
    [started] = _started(actions)
    assert started.media == MediaFormat("L16", 8000, ("left", "right"))
    joined = _joined(actions)
    assert joined.shape == (4000, 2) and np.array_equal(joined, audio)
    assert session.seconds_received == 0.5


def test_wav_extensible_pcm16_is_accepted() -> None:
    session = LiveSession(SID)
    audio = _pcm(100, seed=5)
    actions = session.receive_binary(_wav_header(_extensible_fmt(1, rate=8000)) + audio.tobytes())
    assert _started(actions)[0].media == MediaFormat("L16", 8000, ("mono",))
    assert np.array_equal(_joined(actions), audio)


def test_rf64_stream_is_accepted() -> None:
    session = LiveSession(SID)
    audio = _pcm(100, seed=6)
    ds64 = _chunk(b"ds64", bytes(28))
    header = _wav_header(_fmt(), data_size=0xFFFFFFFF, magic=b"RF64").replace(b"WAVE", b"WAVE" + ds64, 1)
    actions = session.receive_binary(header + audio.tobytes())
    assert len(_started(actions)) == 1 and np.array_equal(_joined(actions), audio)


def test_bytes_after_a_declared_data_chunk_are_not_audio() -> None:
    session = LiveSession(SID)
    audio = _pcm(1000, seed=7)
    trailer = _chunk(b"LIST", b"INFO" + b"x" * 40)
    data = _wav_file(audio, 16000) + trailer  # the data chunk declares its size
    actions = _feed(session, _split(data, 777))
    assert np.array_equal(_joined(actions), audio)
    assert session.samples_received == 1000 and session.ignored_audio_bytes == len(trailer)


def test_unknown_data_size_streams_to_the_end() -> None:
    audio = _pcm(3000, seed=8)
    for size in (0, 0xFFFFFFFF):
        session = LiveSession(SID)
        actions = _feed(session, [_wav_header(_fmt(), data_size=size), *_split(audio.tobytes(), 1000)])
        assert np.array_equal(_joined(actions), audio)


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        (_fmt(tag=3, bits=32), "IEEE float"),
        (_fmt(tag=7, bits=8, rate=8000), "mu-law"),
        (_fmt(bits=24), "24-bit"),
        (_fmt(bits=8), "8-bit"),
        (_fmt(rate=44100), "44100"),
        (_fmt(rate=48000, channels=2), "48000"),
        (_fmt(channels=3), "channel count 3"),
        (_extensible_fmt(3, bits=32), "IEEE float"),
    ],
)
def test_unsupported_wav_formats_are_refused_with_415(fmt: bytes, text: str) -> None:
    session = LiveSession(SID)
    actions = session.receive_binary(_wav_header(fmt) + bytes(100))
    _assert_error(actions, 415, CLOSE_UNSUPPORTED_DATA, text)
    assert _started(actions) == [] and session.state is LiveState.CLOSED
    assert session.receive_binary(bytes(100)) == []


def test_unsupported_format_split_across_frames_is_refused_once() -> None:
    session = LiveSession(SID)
    actions = _feed(session, _split(_wav_header(_fmt(tag=3, bits=32)) + bytes(64), 3))
    _assert_error(actions, 415, CLOSE_UNSUPPORTED_DATA, "IEEE float")


def test_riff_that_is_not_wave_is_refused() -> None:
    session = LiveSession(SID)
    actions = session.receive_binary(b"RIFF" + struct.pack("<I", 100) + b"AVI " + bytes(100))
    _assert_error(actions, 415, CLOSE_UNSUPPORTED_DATA, "not WAV")


def test_data_before_fmt_is_a_malformed_header() -> None:
    session = LiveSession(SID)
    actions = session.receive_binary(b"RIFF" + struct.pack("<I", 0) + b"WAVE" + b"data" + bytes(4) + bytes(10))
    _assert_error(actions, 400, CLOSE_INVALID_PAYLOAD, "'data' chunk before the 'fmt '")


def test_inconsistent_block_align_is_a_malformed_header() -> None:
    fmt = struct.pack("<HHIIHH", 1, 2, 16000, 64000, 2, 16)  # stereo PCM16 needs a block align of 4
    actions = LiveSession(SID).receive_binary(_wav_header(fmt))
    _assert_error(actions, 400, CLOSE_INVALID_PAYLOAD, "block align")


def test_header_without_data_is_refused_after_the_limit() -> None:
    session = LiveSession(SID)
    huge = b"LIST" + struct.pack("<I", 0xFFFFFF00)  # a chunk that never ends
    actions = session.receive_binary(b"RIFF" + bytes(4) + b"WAVE" + _chunk(b"fmt ", _fmt()) + huge)
    assert actions == []
    for _ in range(MAX_WAV_HEADER_BYTES // 65536):
        actions = session.receive_binary(bytes(65536))
        if actions:
            break
    _assert_error(actions, 400, CLOSE_INVALID_PAYLOAD, "no 'data' chunk")


# ---- text messages -----------------------------------------------------------------------------------


def test_ping_gets_pong_before_during_and_after_close() -> None:
    session = LiveSession(SID)
    assert _sent(session.receive_text('{"type": "ping"}')) == [{"type": "pong", "session_id": SID}]
    session.receive_binary(_pcm(160).tobytes())
    assert _sent(session.receive_text(b'{"type": "ping"}'))[0]["type"] == "pong"
    session.receive_text('{"type": "close"}')
    actions = session.receive_text('{"type": "ping"}')
    assert _sent(actions)[0]["type"] == "pong" and _closes(actions) == []


def test_close_flow() -> None:
    session = LiveSession(SID)
    session.receive_binary(_pcm(1600).tobytes())
    assert session.receive_text('{"type": "close"}') == [SessionEnding("end")]
    assert session.state is LiveState.CLOSING
    assert session.receive_binary(_pcm(160).tobytes()) == []  # audio after close: dropped
    assert session.ignored_audio_bytes == 320 and session.samples_received == 1600
    assert session.receive_text('{"type": "close"}') == []  # a second close changes nothing
    # The server flushes the last finals: they are still sent while closing.
    assert _sent(session.transcript(_final(), None))
    actions = session.closed()
    assert _sent(actions) == [{"type": "closed", "session_id": SID}]
    assert _closes(actions) == [CloseConnection(CLOSE_NORMAL, "session closed")]
    assert _state(session) is LiveState.CLOSED
    assert session.closed() == [] and session.receive_text('{"type": "ping"}') == []
    assert session.transcript(_final(), None) == []


def test_close_with_a_reason() -> None:
    session = LiveSession(SID)
    assert session.receive_text('{"type": "close", "reason": "hangup"}') == [SessionEnding("hangup")]


def test_close_before_any_audio_never_starts_the_session() -> None:
    session = LiveSession(SID)
    assert session.receive_binary(b"RIFF" + bytes(4) + b"WAVEfm") == []  # only the start of a WAV header
    assert session.receive_text('{"type": "close"}') == [SessionEnding("end")]
    assert session.receive_binary(_pcm(100).tobytes()) == []
    assert session.media is None and session.seconds_received == 0.0
    assert _sent(session.closed())[0]["type"] == "closed"


def test_closed_message_only_after_close() -> None:
    session = LiveSession(SID)
    assert session.closed() == []
    session.receive_binary(_pcm(10).tobytes())
    assert session.closed() == []


@pytest.mark.parametrize("frame", ["{not json", '{"type": "close"', b"\xff\xfe not utf-8"])
def test_malformed_json_closes_with_1007(frame: str | bytes) -> None:
    session = LiveSession(SID)
    _assert_error(session.receive_text(frame), 400, CLOSE_INVALID_PAYLOAD, "not valid")
    assert session.state is LiveState.CLOSED and session.receive_text('{"type": "ping"}') == []


@pytest.mark.parametrize(
    ("frame", "text"),
    [
        ('{"type": "open", "id": "x"}', "unknown message type 'open'"),
        ('{"type": "transcribe"}', "unknown message type 'transcribe'"),
        ('{"type": 7}', "'type' must be a string"),
        ('{"text": "hello"}', "no 'type'"),
        ('["close"]', "must be a JSON object"),
        ('"close"', "must be a JSON object"),
    ],
)
def test_protocol_violations_close_with_1008(frame: str, text: str) -> None:
    session = LiveSession(SID)
    session.receive_binary(_pcm(160).tobytes())
    _assert_error(session.receive_text(frame), 400, CLOSE_POLICY_VIOLATION, text)
    assert session.receive_binary(_pcm(160).tobytes()) == []  # nothing after the error


def test_oversized_text_message_is_refused() -> None:
    session = LiveSession(SID)
    frame = json.dumps({"type": "ping", "padding": "x" * 70000})
    _assert_error(session.receive_text(frame), 413, CLOSE_TOO_BIG, "too large")


def test_shutdown_closes_with_going_away_once() -> None:
    session = LiveSession(SID)
    session.receive_binary(_pcm(160).tobytes())
    assert session.shutdown() == [CloseConnection(CLOSE_GOING_AWAY, "server shutting down")]
    assert session.shutdown() == [] and session.closed() == []
    assert session.transcript(_final(), None) == []


def test_fail_sends_an_error_once() -> None:
    from protocol.errors import ProtocolError

    session = LiveSession(SID)
    actions = session.fail(ProtocolError(503, "server cannot keep up", 1013))
    _assert_error(actions, 503, 1013, "cannot keep up")
    assert session.fail(ProtocolError(500, "again")) == []


# ---- results -----------------------------------------------------------------------------------------


def _final() -> TranscriptUpdate:
    return TranscriptUpdate(
        utterance_id="1-3",
        channel=1,
        speaker="unknown",
        text="Thank you for calling.",
        is_final=True,
        start=0.39012,
        end=2.5809,
        language="en",
        confidence=0.94712,
        words=(Word("Thank", 0.52, 0.8, 0.9111), Word("you", 0.8, 0.95, 0.98)),
    )


def test_final_transcript_message() -> None:
    session = LiveSession(SID)
    analysis = {"sentiment": "positive", "agent_score": 4}
    [message] = _sent(session.transcript(_final(), analysis))
    assert message == {
        "type": "transcript",
        "session_id": SID,
        "text": "Thank you for calling.",
        "is_final": True,
        "start": 0.39,
        "end": 2.581,
        "speaker": "unknown",
        "channel": 1,
        "utterance_id": "1-3",
        "language": "en",
        "confidence": 0.9471,
        "words": [
            {"word": "Thank", "start": 0.52, "end": 0.8, "confidence": 0.9111},
            {"word": "you", "start": 0.8, "end": 0.95, "confidence": 0.98},
        ],
        "analysis": analysis,
    }
    json.dumps(message)  # serializable as sent


def test_partial_transcript_message_has_no_words_or_analysis_unless_given() -> None:
    session = LiveSession(SID)
    partial = TranscriptUpdate("0-1", 0, "unknown", "thank you", False, 0.4, 1.2, "en")
    [message] = _sent(session.transcript(partial, None))
    assert message["is_final"] is False and message["text"] == "thank you"
    assert "words" not in message and "confidence" not in message and "analysis" not in message


def test_no_transcripts_after_an_error() -> None:
    session = LiveSession(SID)
    session.receive_text("nonsense")
    assert session.transcript(_final(), None) == []


def test_speaker_update_message() -> None:
    session = LiveSession(SID)
    correction = SpeakerCorrection("0-2", "customer", "speaker_2", "agent", "speaker_1")
    [message] = _sent(session.speakers_updated(SpeakerUpdate((correction,))))
    assert message["type"] == "speaker_update" and message["session_id"] == SID
    assert message["corrections"][0]["speaker_id"] == "speaker_2" and "role_confidence" not in message["corrections"][0]
    diarized = TranscriptUpdate(
        "0-1", 0, "customer", "hi", True, 0.0, 1.0, "en", speaker_id="speaker_2", role_confidence=0.7
    )
    [final] = _sent(session.transcript(diarized, None))
    assert final["speaker"] == "customer" and final["speaker_id"] == "speaker_2" and final["role_confidence"] == 0.7
