"""The JWT live-transcription endpoint end to end: real server, real tokens, real speech."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import time
import wave
from pathlib import Path
from typing import Any

import jwt
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from benchmarks.wer import word_error_rate
from tests.conftest import RunningServer, make_settings
from tests.diarization_checks import corrected, dialogue_turns, label_is_consistent, role_share
from tests.speech_fixtures import DIALOGUE, librivox_clips, read_pcm16
from tests.turn_timing import words_span_the_final

SECRET = "a-test-secret-that-is-at-least-32-bytes-long"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    running = RunningServer(make_settings(tmp_path_factory.mktemp("live"), jwt_secret=SECRET)).start()
    yield running
    running.stop()


def _token(**claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": "agent-desktop-7", "exp": now + 300, "iat": now, "team": "billing", **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, SECRET, algorithm="HS256")


def _live_url(server: RunningServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/transcribe"


async def _transcribe(url: str, audio: bytes, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    async with connect(url, additional_headers=headers or {}) as ws:
        messages.append(json.loads(await ws.recv()))  # the session message comes first
        for i in range(0, len(audio), 16000):
            await ws.send(audio[i : i + 16000])
        await ws.send(json.dumps({"type": "close"}))
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                messages.append(json.loads(message))
    return messages


def _wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize("how", ["header", "query", "wav"])
def test_valid_tokens_transcribe(live_server: RunningServer, how: str) -> None:
    _, samples, reference = librivox_clips()[0]
    token = _token()
    url, headers = _live_url(live_server), {"Authorization": f"Bearer {token}"}
    if how == "query":
        url, headers = f"{url}?token={token}", {}
    audio = _wav_bytes(samples) if how == "wav" else samples.astype("<i2").tobytes()
    messages = asyncio.run(_transcribe(url, audio, headers))
    session = messages[0]
    assert session["type"] == "session" and session["session_id"]
    finals = [m for m in messages if m["type"] == "transcript" and m["is_final"]]
    assert word_error_rate([reference], [" ".join(m["text"] for m in finals)]) <= 0.15
    for final in finals:
        assert {"text", "is_final", "start", "end", "speaker", "channel", "words"} <= final.keys()
        assert words_span_the_final(final["words"], final["start"], final["end"]), final
    assert messages[-1]["type"] == "closed"
    metadata = json.loads((live_server.recordings / f"{session['session_id']}.session.json").read_text())
    assert metadata["auth"] == "jwt" and metadata["subject"] == "agent-desktop-7"
    assert metadata["claims"]["team"] == "billing" and metadata["dialect"] == "live"


def test_the_dialogue_call_is_told_who_spoke(live_server: RunningServer) -> None:
    """ "Automatic speaker identification with clear labeling": a mono two-voice call's finals carry
    `speaker_id` (speaker_1, speaker_2) and the role in `speaker`; a `speaker_update` before `closed`
    lists what the end of the call corrected."""
    samples, _ = read_pcm16(DIALOGUE / "call_mono16k.wav")
    url, headers = _live_url(live_server), {"Authorization": f"Bearer {_token()}"}
    messages = asyncio.run(_transcribe(url, samples.astype("<i2").tobytes(), headers))
    finals = [m for m in messages if m["type"] == "transcript" and m["is_final"]]
    assert {m["speaker_id"] for m in finals} == {"speaker_1", "speaker_2"}
    updates = [m for m in messages if m["type"] == "speaker_update"]
    assert len(updates) <= 1 and messages[-1]["type"] == "closed"
    now = corrected(finals, updates[0]["corrections"] if updates else [])
    turns = dialogue_turns()
    spans = [(m["start"], m["end"], *now[m["utterance_id"]], len(m["text"].split())) for m in finals]
    assert role_share([(a, b, role, n) for a, b, role, _, n in spans], turns) == 1.0
    assert label_is_consistent([(a, b, label, n) for a, b, _, label, n in spans], turns) == 1.0


def _forged() -> str:
    return jwt.encode(
        {"sub": "x", "exp": int(time.time()) + 60}, "another-secret-of-at-least-32-bytes!!", algorithm="HS256"
    )


def _alg_none() -> str:
    def b64(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'sub': 'x', 'exp': int(time.time()) + 60})}."


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "missing token"),
        ("not.a.jwt", "malformed token"),
        (_forged(), "signature verification failed"),
        (_token(exp=int(time.time()) - 3600), "token expired"),
        (_token(nbf=int(time.time()) + 3600), "not yet valid"),
        (_alg_none(), "algorithm"),
    ],
)
def test_bad_tokens_get_401_with_a_reason(live_server: RunningServer, token: str | None, reason: str) -> None:
    async def attempt() -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with pytest.raises(InvalidStatus) as info:
            async with connect(_live_url(live_server), additional_headers=headers):
                pass
        response = info.value.response
        return response.status_code, response.body.decode()

    status, body = asyncio.run(attempt())
    assert status == 401 and reason in body


def test_jwt_instead_of_an_api_key_on_audiohook(live_server: RunningServer) -> None:
    async def ping() -> str:
        url = f"ws://127.0.0.1:{live_server.port}/audiohook?token={_token()}"
        async with connect(url) as ws:
            await ws.send(json.dumps({"type": "ping", "id": "jwt-session", "parameters": {}}))
            return str(json.loads(await ws.recv())["type"])

    assert asyncio.run(ping()) == "pong"


def test_live_endpoint_is_off_without_jwt_settings(server: RunningServer, tmp_path: Path) -> None:
    async def attempt() -> int:
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"ws://127.0.0.1:{server.port}/ws/transcribe?token=abc"):
                pass
        return int(info.value.response.status_code)

    assert asyncio.run(attempt()) == 404
