"""`audiohook_server.client.session`: whole sessions against `FakeServer`, and sessions that cannot start."""

from __future__ import annotations

import asyncio
import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audiohook_server.audio.wav_files import write_wav
from audiohook_server.client import ClientError, ReceivedEvent, StreamResult, stream_audio, stream_wav
from tests.client.fake_server import API_KEY, audio
from tests.conftest import free_port


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def check_message_order(result: StreamResult) -> None:
    """Arrival times and stream positions never go backwards; server seq numbers increase."""
    times = [m.received_at for m in result.messages]
    positions = [m.audio_sent_s for m in result.messages]
    assert times == sorted(times)
    assert positions == sorted(positions)
    seqs = [m.message["seq"] for m in result.messages if "seq" in m.message]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


# ---- a whole session -------------------------------------------------------------------------


def test_full_session_open_frames_close(make_server: Any) -> None:
    server = make_server()
    samples = audio(2.3)
    seen: list[ReceivedEvent] = []
    result = run(
        stream_audio(
            server.url, samples, api_key=API_KEY, speed=0, session_id="session-1", language="de", on_message=seen.append
        )
    )
    log = server.log

    assert log.texts[0] == {
        "version": "2",
        "type": "open",
        "id": "session-1",
        "seq": 1,
        "parameters": {
            "media": [{"type": "audio", "codec": "audio/pcm", "rate": 16000, "channels": ["mono"]}],
            "language": "de",
        },
    }
    assert log.texts[-1] == {
        "version": "2",
        "type": "close",
        "id": "session-1",
        "seq": 2,
        "parameters": {"reason": "end"},
    }
    assert [t["seq"] for t in log.texts] == [1, 2]
    assert log.order == ["open"] + ["binary"] * 5 + ["close"]
    assert [size for _, size in log.frames] == [16000, 16000, 16000, 16000, 9600]  # 500 ms frames, then the rest
    assert bytes(log.audio) == samples.astype("<i2").tobytes()
    assert log.session is not None and log.session.language == "de"

    assert result.session_id == "session-1"
    assert result.opened is not None and result.opened["type"] == "opened"
    assert result.ok and not result.errors and not result.timed_out
    assert result.closed_received
    assert (result.close_code, result.close_reason) == (1000, "session closed")
    assert result.audio_seconds == pytest.approx(2.3)
    assert [m.message for m in seen] == [m.message for m in result.messages]
    assert result.messages[0].type == "opened"
    assert result.messages[-1].type == "closed"
    check_message_order(result)

    assert len(result.partials) == 5
    assert [f["value"] for f in result.finals] == ["word1 word2", "word3 word4", "goodbye"]
    assert result.final_text == "word1 word2 word3 word4 goodbye"
    assert result.last_analysis is not None and result.last_analysis["summary"] == "6 words spoken"
    assert result.started_at <= result.messages[-1].received_at <= result.finished_at


def test_frame_ms_sets_the_frame_size(make_server: Any) -> None:
    server = make_server()
    run(stream_audio(server.url, audio(1.0), api_key=API_KEY, speed=math.inf, frame_ms=120))
    sizes = [size for _, size in server.log.frames]
    assert sizes == [3840] * 8 + [16000 * 2 - 3840 * 8]
    assert server.log.texts[0]["id"] == server.log.texts[-1]["id"]  # a uuid4 by default
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", server.log.texts[0]["id"])


def test_real_time_pacing_at_speed_4(make_server: Any) -> None:
    server = make_server()
    samples = audio(3.0)  # 6 frames of 500 ms: 125 ms apart at speed 4, and the call lasts 750 ms
    before = time.monotonic()
    result = run(stream_audio(server.url, samples, api_key=API_KEY, speed=4, session_id="paced"))
    arrivals = [t for t, _ in server.log.frames]

    assert len(arrivals) == 6
    first = arrivals[0]
    for i, arrival in enumerate(arrivals):
        assert arrival - first >= i * 0.125 - 0.03, f"frame {i} early: {arrival - first:.3f} s"
    close_time = result.messages[-1].received_at  # `closed` comes after `close`, sent when the audio ended
    assert close_time - result.started_at >= 0.75 - 0.03
    assert time.monotonic() - before < 15  # generous: a noisy machine, but not stuck
    # Events arrive while audio is still being sent, and record how much had been sent.
    mid_stream = [m for m in result.messages if m.type == "event" and m.audio_sent_s < 3.0]
    assert mid_stream
    check_message_order(result)


def test_as_fast_as_possible_is_not_paced(make_server: Any) -> None:
    server = make_server()
    start = time.monotonic()
    result = run(stream_audio(server.url, audio(60.0), api_key=API_KEY, speed=0))
    assert result.ok
    assert len(server.log.frames) == 120
    assert time.monotonic() - start < 30  # 60 s of audio; real time would be 60 s


def test_stream_wav_resamples_to_16k_mono(make_server: Any, tmp_path: Path) -> None:
    server = make_server()
    stereo = np.stack([audio(1.0)[:8000], audio(1.0)[:8000]], axis=1)
    write_wav(tmp_path / "call.wav", stereo, 8000)
    result = run(stream_wav(server.url, tmp_path / "call.wav", api_key=API_KEY, speed=0))
    assert result.ok
    assert abs(len(server.log.audio) - 2 * 16000) <= 4
    assert result.audio_seconds == pytest.approx(1.0, abs=0.001)


# ---- the server ends the session -------------------------------------------------------------


def test_error_then_close_mid_stream(make_server: Any) -> None:
    server = make_server(fail_after=2)
    result = run(stream_audio(server.url, audio(3.0), api_key=API_KEY, speed=8))
    assert [e["parameters"]["code"] for e in result.errors] == [413]
    assert result.errors[0]["parameters"]["message"] == "too much audio for this test"
    assert result.close_code == 1008
    assert result.close_reason == "too much audio for this test"
    assert result.opened is not None
    assert not result.ok
    assert result.audio_seconds < 3.0  # the client stopped sending when the server closed
    assert "close" not in server.log.order


def test_error_in_answer_to_open(make_server: Any) -> None:
    server = make_server(fail_open=True)
    result = run(stream_audio(server.url, audio(1.0), api_key=API_KEY, speed=0))
    assert result.opened is None
    assert [e["parameters"]["code"] for e in result.errors] == [415]
    assert result.close_code == 1008
    assert result.audio_seconds == 0
    assert server.log.order == ["open"]  # no audio after a refused open
    assert not result.ok


def test_server_closes_early(make_server: Any) -> None:
    server = make_server(close_after=2)
    result = run(stream_audio(server.url, audio(3.0), api_key=API_KEY, speed=8))
    assert (result.close_code, result.close_reason) == (1011, "recognizer crashed")
    assert not result.ok and not result.errors and not result.closed_received
    assert result.audio_seconds < 3.0


def test_disconnect_from_the_server(make_server: Any) -> None:
    server = make_server(disconnect_after=2)
    result = run(stream_audio(server.url, audio(3.0), api_key=API_KEY, speed=4))
    assert result.disconnect is not None
    assert server.log.texts[-1]["type"] == "close"
    assert server.log.texts[-1]["parameters"] == {"reason": "disconnect"}
    assert server.log.texts[-1]["seq"] == 2
    assert len(server.log.frames) < 6  # stopped streaming
    assert result.closed_received and result.close_code == 1000
    assert result.ok  # reason "completed"


def test_close_timeout(make_server: Any) -> None:
    server = make_server(ignore_close=True)
    start = time.monotonic()
    result = run(stream_audio(server.url, audio(0.5), api_key=API_KEY, speed=0, close_timeout=0.5))
    assert result.timed_out and not result.ok
    assert not result.closed_received
    assert time.monotonic() - start < 10


# ---- the session cannot start ----------------------------------------------------------------


def test_http_401_raises_client_error(make_server: Any) -> None:
    server = make_server()
    with pytest.raises(ClientError, match=r"server refused the connection: HTTP 401 Unauthorized: invalid or missing"):
        run(stream_audio(server.url, audio(0.5), api_key="wrong", speed=0))
    with pytest.raises(ClientError, match="HTTP 401"):
        run(stream_audio(server.url, audio(0.5), api_key=None, speed=0))
    assert server.rejected == 2 and not server.logs


def test_connection_refused_raises_client_error() -> None:
    url = f"ws://127.0.0.1:{free_port()}/audiohook"
    with pytest.raises(ClientError, match=r"cannot connect to ws://127\.0\.0\.1") as info:
        run(stream_audio(url, audio(0.5), api_key=API_KEY))
    assert API_KEY not in str(info.value)


def test_invalid_url_and_arguments() -> None:
    with pytest.raises(ClientError, match="invalid WebSocket URL"):
        run(stream_audio("http://127.0.0.1:1/x", audio(0.5), api_key=None))
    with pytest.raises(ValueError, match="speed"):
        run(stream_audio("ws://127.0.0.1:1/x", audio(0.5), api_key=None, speed=-1))
    with pytest.raises(ValueError, match="1-D"):
        run(stream_audio("ws://127.0.0.1:1/x", np.zeros((10, 2), np.int16), api_key=None))
