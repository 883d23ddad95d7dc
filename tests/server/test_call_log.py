"""calls.csv end to end: one row per finished session on every door (simple, Genesys, JWT, HTTP live
capture, replay), with its end reason (completed, disconnected, drained, recovered after a SIGKILL, and
never twice after another restart), who authenticated (never a secret, in any export), and client
strings that cannot break a row. The real server over the stand-in speech (tests/stand_in_speech.py)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import dataclasses
import io
import json
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from audiohook_server.audio.resampling import resample
from audiohook_server.auth.api_keys import key_id
from audiohook_server.calls.call_record import CALL_COLUMNS
from audiohook_server.client import stream_audio
from audiohook_server.client.genesys import GenesysClient, media_offer
from audiohook_server.settings import ApiKey, Settings
from tests.conftest import RunningServer, make_settings
from tests.speech_fixtures import librivox_call
from tests.sse_events import sse_events
from tests.stand_in_server import StandInServerProcess
from tests.stand_in_speech import StandInSpeech

KEY = "call-log-key-9f8e7d6c5b4a"
SIGNED = "call-log-signed-key"
SECRET = b"call-log-client-secret-0123456789abcdef"
SECRET_B64 = base64.b64encode(SECRET).decode()
JWT_SECRET = "a-jwt-secret-of-at-least-thirty-two-bytes-for-the-call-log"
H = {"X-API-Key": KEY}


def run(coro: Any, timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def speech(seconds: float = 6.0) -> npt.NDArray[np.int16]:
    samples, _ = librivox_call(gap_s=1.0)
    return samples[: int(seconds * 16000)]


def settings_for(tmp: Path, **overrides: Any) -> Settings:
    base = make_settings(
        tmp, api_keys=(ApiKey(KEY), ApiKey(SIGNED, SECRET)), jwt_secret=JWT_SECRET, auth_failures_per_minute=100_000
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = RunningServer(settings_for(tmp_path_factory.mktemp("call-log")), speech=StandInSpeech()).start()
    yield running
    running.stop()


def calls(recordings: Path) -> pd.DataFrame:
    frame = pd.read_csv(recordings / "calls.csv", keep_default_na=False, dtype=str)
    assert list(frame.columns) == list(CALL_COLUMNS)
    return frame


def row_of(recordings: Path, session_id: str, timeout: float = 10.0) -> dict[str, str]:
    """The calls.csv row of a session (once it is there: an HTTP session's row comes before its `done`,
    a WebSocket session's just after its socket closes)."""
    deadline = time.monotonic() + timeout
    while True:
        if (recordings / "calls.csv").exists():
            rows = calls(recordings)
            mine = rows[rows["session_id"] == session_id]
            if len(mine):
                assert len(mine) == 1, mine
                return {str(k): str(v) for k, v in mine.iloc[0].items()}
        assert time.monotonic() < deadline, f"no calls.csv row for {session_id!r}"
        time.sleep(0.05)


def check_common(row: dict[str, str], recordings: Path, door: str, reason: str = "completed") -> None:
    assert (row["door"], row["end_reason"]) == (door, reason)
    assert row["started_at"].endswith("Z") and row["ended_at"] >= row["started_at"]
    assert float(row["duration_s"]) >= 0 and float(row["audio_s"]) > 0
    assert int(row["utterances"]) > 0 and int(row["words"]) > 0
    transcript = pd.read_csv(recordings / row["transcript_csv"], keep_default_na=False, dtype=str)
    assert int(row["utterances"]) == len(transcript)
    assert row["sentiment"] == transcript["running_sentiment"].iloc[-1]
    assert row["agent_score"] == transcript["running_agent_score"].iloc[-1] != ""
    for name in ("transcript_csv", "summary_json", "session_json", "recording_wav"):
        assert (recordings / row[name]).is_file(), name
    session = json.loads((recordings / row["session_json"]).read_text(encoding="utf-8"))
    assert session["end_reason"] == reason and session["ended_at"] == row["ended_at"]
    assert session["duration_s"] == float(row["duration_s"])
    assert session["authenticated_by"] == row["authenticated_by"]


# ---- every door ----------------------------------------------------------------------------------


def test_simple_door(server: RunningServer) -> None:
    url = server.url
    result = run(stream_audio(url, speech(), api_key=KEY, speed=0, session_id="simple-call-1"))
    assert result.ok and result.finals
    row = row_of(server.recordings, "simple-call-1")
    check_common(row, server.recordings, "simple")
    assert row["authenticated_by"] == f"api-key:{key_id(KEY)}"
    assert row["talk_share_unknown"] == "1.0" and row["talk_share_customer"] == "0.0"  # mono
    assert row["transcript_csv"] == "simple-call-1.csv"


def test_genesys_door(server: RunningServer) -> None:
    customer = resample(speech(), 16000, 8000)
    audio = np.stack([customer, np.zeros(len(customer), np.int16)], axis=1)
    conversation = "0f8b6c1a-3a43-4c0e-9a8e-9a6d1a2b3c4d"

    async def scenario() -> GenesysClient:
        client = GenesysClient(server.url, SIGNED, secret=SECRET_B64)
        async with client:
            await client.open([media_offer(["external", "internal"])], conversation_id=conversation)
            await client.stream(audio, speed=50.0)
            await client.close()
        return client

    client = run(scenario())
    row = row_of(server.recordings, client.session_id)
    check_common(row, server.recordings, "genesys")
    assert row["conversation_id"] == conversation
    assert row["authenticated_by"] == f"api-key:{key_id(SIGNED)}"
    assert (row["talk_share_customer"], row["talk_share_agent"]) == ("1.0", "0.0")  # only the customer spoke


def test_jwt_door(server: RunningServer) -> None:
    now = int(time.time())
    token = jwt.encode({"sub": 'desk=7,"agent"', "exp": now + 300, "iat": now}, JWT_SECRET, algorithm="HS256")

    async def scenario() -> str:
        async with connect(f"ws://127.0.0.1:{server.port}/ws/transcribe?token={token}") as ws:
            session_id = str(json.loads(await ws.recv())["session_id"])
            audio = speech().astype("<i2").tobytes()
            for i in range(0, len(audio), 32000):
                await ws.send(audio[i : i + 32000])
            await ws.send(json.dumps({"type": "close"}))
            with contextlib.suppress(ConnectionClosed):
                async for _ in ws:
                    pass
        return session_id

    session_id = run(scenario())
    row = row_of(server.recordings, session_id)
    check_common(row, server.recordings, "jwt")
    assert row["authenticated_by"] == 'jwt:desk=7,"agent"'  # the subject, in one cell


def _wav(samples: npt.NDArray[np.int16]) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def test_http_live_door(server: RunningServer) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
            started = (await client.post("/analyze/live/start", json={"filename": "a.wav"}, headers=H)).json()
            data = _wav(speech())
            for seq, offset in enumerate(range(0, len(data), 64 << 10)):
                files = {"chunk": ("c.bin", data[offset : offset + (64 << 10)], "application/octet-stream")}
                reply = await client.post(
                    started["chunk_endpoint"], headers=H, data={"chunk_seq": str(seq)}, files=files
                )
                assert reply.status_code == 200, reply.text
            finalize = await client.post(started["control_endpoint"], headers=H, json={"action": "finalize"})
            assert finalize.status_code == 200
            headers = {**H, "Accept": "text/event-stream"}
            async with client.stream("GET", started["events_endpoint"], headers=headers, timeout=None) as response:
                return [event async for event in sse_events(response)]

    events = run(scenario())
    done = events[-1]["data"]
    assert events[-1]["event"] == "done"
    row = row_of(server.recordings, done["session_id"], timeout=0)  # written before `done`
    check_common(row, server.recordings, "http-live")
    assert row["conversation_id"] == done["conversation_id"]
    assert row["transcript_csv"] == done["artifacts"]["csv"]["file"]
    assert row["authenticated_by"] == f"api-key:{key_id(KEY)}"


def test_replay_door(server: RunningServer) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=60) as client:
            files = {"file": ("recorded.wav", _wav(speech()), "audio/wav")}
            async with client.stream("POST", "/analyze/stream", headers=H, files=files) as response:
                assert response.status_code == 200
                return [event async for event in sse_events(response)]

    events = run(scenario())
    done = events[-1]["data"]
    check_common(row_of(server.recordings, done["session_id"], timeout=0), server.recordings, "replay")


def test_an_http_session_cancelled_before_any_audio_still_gets_its_row(server: RunningServer) -> None:
    async def scenario() -> str:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
            started = (await client.post("/analyze/live/start", headers=H)).json()
            reply = await client.post(started["control_endpoint"], headers=H, json={"action": "cancel"})
            assert reply.status_code == 200
            return str(started["session_id"])

    session_id = run(scenario())
    row = row_of(server.recordings, session_id)
    assert (row["door"], row["end_reason"], row["utterances"], row["transcript_csv"]) == (
        "http-live",
        "cancelled",
        "0",
        "",
    )


def test_a_dropped_connection_is_disconnected(server: RunningServer) -> None:
    async def scenario() -> None:
        url = f"{server.url}?x-api-key={KEY}"
        async with connect(url) as ws:
            await ws.send(json.dumps({"type": "open", "id": "dropped-call", "seq": 1, "parameters": {}}))
            await ws.recv()
            audio = speech()
            for i in range(0, len(audio), 8000):
                await ws.send(audio[i : i + 8000].astype("<i2").tobytes())
            await asyncio.sleep(0.5)
        # the socket closes without a `close` message

    run(scenario())
    check_common(row_of(server.recordings, "dropped-call"), server.recordings, "simple", "disconnected")


HOSTILE = ['=HYPERLINK("http://evil.example/","x")', 'two\nlines,"quoted"', "+1\r\n@SUM(A1)", "nul\x00id"]


@pytest.mark.parametrize("session_id", HOSTILE)
def test_hostile_session_ids_cannot_break_a_row(server: RunningServer, session_id: str) -> None:
    result = run(stream_audio(server.url, speech(3.0), api_key=KEY, speed=0, session_id=session_id))
    assert result.ok
    shown = session_id.replace("\x00", "\ufffd")
    rows = calls(server.recordings)
    [cell] = [c for c in rows["session_id"] if c.removeprefix("'") == shown]
    assert not cell.startswith(("=", "+", "-", "@"))
    assert all(len(record) == len(CALL_COLUMNS) for record in _records(server.recordings / "calls.csv"))


def _records(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_no_secret_in_any_export(server: RunningServer) -> None:
    # Runs after the sessions above (pytest keeps the file's order): every file they left.
    secrets = [KEY, SIGNED, SECRET_B64, SECRET.decode(), JWT_SECRET]
    files = [p for p in server.recordings.rglob("*") if p.is_file()]
    assert any(p.name == "calls.csv" for p in files) and len(files) > 10
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        for secret in secrets:
            assert secret not in text, (path.name, secret[:6])
        assert "eyJ" not in text, path.name  # no JWT (a token's header starts so), only its subject


# ---- ends that take the server away --------------------------------------------------------------


def test_a_drained_session_is_drained(tmp_path: Path) -> None:
    running = RunningServer(settings_for(tmp_path), speech=StandInSpeech()).start()

    async def scenario() -> int | None:
        async with connect(f"{running.url}?x-api-key={KEY}") as ws:
            await ws.send(json.dumps({"type": "open", "id": "drained-call", "seq": 1, "parameters": {}}))
            await ws.recv()
            audio = speech()
            for i in range(0, len(audio), 8000):
                await ws.send(audio[i : i + 8000].astype("<i2").tobytes())
            await asyncio.sleep(0.5)
            stopping = asyncio.create_task(asyncio.to_thread(running.stop))  # drains the live session
            with contextlib.suppress(ConnectionClosed):
                async for _ in ws:
                    pass
            await stopping
            return ws.close_code

    try:
        assert run(scenario()) == 1001
    finally:
        running.stop()
    check_common(row_of(running.recordings, "drained-call", timeout=0), running.recordings, "simple", "drained")


def test_a_killed_servers_session_is_recovered_once(tmp_path: Path) -> None:
    recordings, log = tmp_path / "recordings", tmp_path / "server.log"
    flags = ["--max-ingest-rate", "0"]
    server = StandInServerProcess(recordings, log, keys=KEY, flags=flags)

    async def call_without_end() -> Any:
        ws = await connect(f"ws://127.0.0.1:{server.port}/audiohook?x-api-key={KEY}")
        await ws.send(json.dumps({"type": "open", "id": "killed-call", "seq": 1, "parameters": {}}))
        await ws.recv()
        audio = np.concatenate([speech(), np.zeros(3 * 16000, np.int16)])  # a pause ends the utterance
        for i in range(0, len(audio), 8000):
            await ws.send(audio[i : i + 8000].astype("<i2").tobytes())
        while True:  # until a final is durable (the client is sent it only after its journal line)
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message.get("parameters", {}).get("entity", {}).get("is_final"):
                return ws

    loop = asyncio.new_event_loop()
    try:
        ws = loop.run_until_complete(call_without_end())
        server.kill()
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.wait_for(ws.close(), 5))
    finally:
        loop.close()
    assert not (recordings / "calls.csv").exists()
    for _ in range(2):  # the restart recovers it; the one after finds nothing more to add
        server = StandInServerProcess(recordings, log, keys=KEY, flags=flags)
        server.stop()
    rows = calls(recordings)
    assert list(rows["session_id"]) == ["killed-call"]
    row = {str(k): str(v) for k, v in rows.iloc[0].items()}
    assert (row["end_reason"], row["door"], row["transcript_csv"]) == ("recovered", "simple", "killed-call.csv")
    assert int(row["utterances"]) >= 1 and float(row["audio_s"]) > 0
    assert row["authenticated_by"] == f"api-key:{key_id(KEY)}"
    session = json.loads((recordings / "killed-call.session.json").read_text())
    assert session["end_reason"] == "recovered" and session["ended_at"] == row["ended_at"]
    assert "added the row of the recovered session" in log.read_text()
