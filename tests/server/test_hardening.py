"""The attacks of the adversarial probe (issue 13), each against the real server, each refused.

Most run the real server (its ASGI app, doors, sessions, call core, exports, logging) over the stand-in
speech of tests/stand_in_speech.py: what they attack is not the speech models, and they run in seconds.
The flood test needs real Whisper (it measures latency) and the replay test a real Redis (Debian's
redis-server, installed by scripts/setup.sh). The shared-volume race at the process level is in
tests/calls/test_recovery.py; here two server processes race it end to end.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import shutil
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import numpy as np
import pandas as pd
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from audiohook_server.audio.resampling import resample
from audiohook_server.client import ReceivedEvent, stream_audio
from audiohook_server.client.genesys import GenesysClient, media_offer, signed_headers
from audiohook_server.settings import ApiKey, Settings
from tests.conftest import RunningServer, free_port, make_settings
from tests.speech_fixtures import librivox_call
from tests.stand_in_server import StandInServerProcess
from tests.stand_in_speech import StandInSpeech

KEY = "hardening-key"
SIGNED = "hardening-signed"
SECRET = b"hardening-client-secret-0123456789"
SECRET_B64 = base64.b64encode(SECRET).decode()
JWT_SECRET = "a-jwt-secret-of-at-least-thirty-two-bytes!"
ORG = "d7934305-0972-4844-938e-9060eef73d05"
ROOT = Path(__file__).resolve().parents[2]


def run(coro: Any, timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def stand_in_settings(tmp: Path, **overrides: Any) -> Settings:
    base = make_settings(
        tmp,
        api_keys=(ApiKey(KEY), ApiKey(SIGNED, SECRET)),
        jwt_secret=JWT_SECRET,
        auth_failures_per_minute=100_000,
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = RunningServer(stand_in_settings(tmp_path_factory.mktemp("hardening")), speech=StandInSpeech()).start()
    yield running
    running.stop()


def speech(seconds: float = 6.0) -> np.ndarray[Any, np.dtype[np.int16]]:
    samples, _ = librivox_call(gap_s=1.0)
    return samples[: int(seconds * 16000)]


async def _simple_call(url: str, session_id: str, audio: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
    result = await stream_audio(url, audio, api_key=KEY, speed=0, session_id=session_id)
    return result.finals


# ---- 1. recovery on a shared volume destroys another replica's finished CSVs ----------------------


class ServerProcess(StandInServerProcess):
    """A stand-in server process on a recordings directory, reading audio as fast as it comes."""

    def __init__(self, recordings: Path, log: Path) -> None:
        super().__init__(recordings, log, keys=KEY, flags=["--max-ingest-rate", "0"])

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/audiohook?x-api-key={KEY}"


async def _open_call(url: str, session_id: str, audio: np.ndarray[Any, Any]) -> tuple[Any, list[str]]:
    """A simple-dialect call that sends its audio and waits for its first final, but does not close."""
    ws = await connect(url, max_size=None)
    await ws.send(json.dumps({"type": "open", "id": session_id, "seq": 1, "parameters": {}}))
    json.loads(await ws.recv())  # opened
    finals: list[str] = []
    for i in range(0, len(audio), 8000):
        await ws.send(audio[i : i + 8000].astype("<i2").tobytes())
    with contextlib.suppress(TimeoutError):
        while not finals:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            entity = message.get("parameters", {}).get("entity", {})
            if entity.get("is_final"):
                finals.append(entity["value"])
    return ws, finals


async def _close_call(ws: Any, session_id: str) -> list[str]:
    finals = []
    await ws.send(json.dumps({"type": "close", "id": session_id, "parameters": {}}))
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            entity = json.loads(raw).get("parameters", {}).get("entity", {})
            if entity.get("is_final"):
                finals.append(entity["value"])
    return finals


async def _kill_and_restart_while_finishing(
    a: ServerProcess,
    b: ServerProcess,
    recordings: Path,
    audio: np.ndarray[Any, Any],
    rnd: int,
    expected: dict[str, int],
) -> ServerProcess:
    """A has 6 live calls and B 6; A is killed and restarted (recovery) while B's calls finish."""
    live_a = [await _open_call(a.url, f"a{rnd}-{i}", audio) for i in range(6)]
    live_b = [await _open_call(b.url, f"b{rnd}-{i}", audio) for i in range(6)]
    for i, (_, finals) in enumerate(live_a):
        expected[f"a{rnd}-{i}"] = len(finals)  # what A's clients saw before the kill
    a.kill()
    closing = [asyncio.create_task(_close_call(ws, f"b{rnd}-{i}")) for i, (ws, _) in enumerate(live_b)]
    restart = asyncio.get_running_loop().run_in_executor(None, ServerProcess, recordings, a.log)
    done = await asyncio.gather(*closing)
    for i, ((_, before), after) in enumerate(zip(live_b, done, strict=True)):
        expected[f"b{rnd}-{i}"] = len(before) + len(after)
    for ws, _ in live_a:
        with contextlib.suppress(Exception):
            await ws.close()
    return await restart


def test_two_replicas_on_one_volume_kill_restart_while_the_other_finishes(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    a = ServerProcess(recordings, tmp_path / "a.log")
    b = ServerProcess(recordings, tmp_path / "b.log")
    audio = speech(12.0)
    expected: dict[str, int] = {}
    try:
        for rnd in range(3):
            a = run(_kill_and_restart_while_finishing(a, b, recordings, audio, rnd, expected))
    finally:
        a.stop()
        b.stop()
    for session, finals in expected.items():
        frame = pd.read_csv(recordings / f"{session}.csv", keep_default_na=False)
        assert len(frame) >= finals, f"{session}: {len(frame)} rows, the client saw {finals} finals"
        if session.startswith("b"):
            assert finals > 0 and len(frame) == finals
    assert not list(recordings.glob("*.journal.jsonl"))


# ---- 2. one session can starve every other ---------------------------------------------------------


def _latencies(events: list[ReceivedEvent], started_at: float, spans: list[tuple[float, float, str]]) -> list[float]:
    """Each final's arrival after the end of the clip it transcribes was sent (real time: speed 1)."""
    out = []
    for event in events:
        entity = event.message.get("parameters", {}).get("entity", {})
        if event.type == "event" and entity.get("is_final"):
            end = min((e for _, e, _ in spans if e >= float(entity["end"]) - 1.0), default=float(entity["end"]))
            out.append(event.received_at - (started_at + end))
    return out


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = make_settings(tmp_path_factory.mktemp("flood"), api_keys=(ApiKey(KEY),))
    running = RunningServer(settings).start()
    yield running
    running.stop()


def test_a_flooding_session_does_not_slow_another(real_server: RunningServer) -> None:
    url = f"ws://127.0.0.1:{real_server.port}/audiohook"
    samples, spans = librivox_call(gap_s=1.5)
    normal = samples[: int(spans[2][1] * 16000) + 24000]  # three clips and the pause after them
    normal_spans = spans[:3]

    async def alone() -> list[float]:
        seen: list[ReceivedEvent] = []
        result = await stream_audio(url, normal, api_key=KEY, speed=1.0, session_id="alone", on_message=seen.append)
        return _latencies(seen, result.started_at, normal_spans)

    unloaded = run(alone(), 120)

    flood = np.tile(samples, 8)  # 245 s of speech, sent as the probe did: 300 times real time (0.8 s)

    async def beside_a_flood() -> tuple[list[float], Any, float]:
        flooding = asyncio.create_task(stream_audio(url, flood, api_key=KEY, speed=300, session_id="flood"))
        await asyncio.sleep(1.0)
        seen: list[ReceivedEvent] = []
        result = await stream_audio(url, normal, api_key=KEY, speed=1.0, session_id="normal", on_message=seen.append)
        started = time.monotonic()
        flood_result = await flooding
        return _latencies(seen, result.started_at, normal_spans), flood_result, time.monotonic() - started

    loaded, flood_result, _ = run(beside_a_flood(), 300)
    assert len(loaded) == len(unloaded) == 3, (loaded, unloaded)
    assert max(loaded) <= 1.5 * max(unloaded) + 0.2, f"unloaded {unloaded}, beside a flood {loaded}"
    # The flood itself was read at the ingest rate (8x real time after a 30 s burst), not at 300x.
    elapsed = flood_result.finished_at - flood_result.started_at
    assert elapsed >= (flood_result.audio_seconds - 30) / 8 * 0.9, (flood_result.errors, elapsed)


def test_ingest_is_read_at_the_configured_rate(tmp_path: Path) -> None:
    settings = stand_in_settings(tmp_path, max_ingest_rate=20.0, ingest_burst_s=5.0)
    with contextlib.closing(RunningServer(settings, speech=StandInSpeech()).start()) as running:
        silence = np.zeros(60 * 16000, dtype=np.int16)  # 60 s of silence, as fast as the client can
        result = run(stream_audio(running.url, silence, api_key=KEY, speed=0, session_id="paced"))
        elapsed = result.finished_at - result.started_at
        assert result.ok and elapsed >= (60 - 5) / 20 * 0.9, elapsed  # 2.75 s at 20x, not 0.2 s
        assert (running.recordings / "paced.wav").stat().st_size < 60 * 16000 * 2 + 1000


# ---- 3, 4, 5. client strings that break files, spreadsheets and logs -------------------------------

HOSTILE_IDS = ["lone-\ud800-surrogate", '=HYPERLINK("http://evil.example/","click")', "+1+1", "@SUM(A1:A9)"]


@pytest.mark.parametrize("session_id", HOSTILE_IDS)
def test_hostile_session_ids_lose_nothing(stand_in: RunningServer, session_id: str) -> None:
    finals = run(_simple_call(f"{stand_in.url}?x-api-key={KEY}", session_id, speech()))
    assert finals
    [csv] = [
        p
        for p in stand_in.recordings.glob("*.csv")
        if p.name != "calls.csv" and _first_cell(p).endswith(session_id[1:].replace("\ud800", "\ufffd"))
    ]
    frame = pd.read_csv(csv, keep_default_na=False)
    assert len(frame) == len(finals)
    cell = str(frame["session_id"].iloc[0])
    assert not cell.startswith(("=", "+", "-", "@")), cell  # text to a spreadsheet, never a formula
    json.loads(csv.with_suffix(".session.json").read_text(encoding="utf-8"))
    assert csv.with_suffix(".wav").stat().st_size > 44


def _first_cell(csv: Path) -> str:
    frame = pd.read_csv(csv, keep_default_na=False)
    return str(frame["session_id"].iloc[0]) if len(frame) else ""


def test_a_surrogate_in_a_genesys_participant_loses_nothing(stand_in: RunningServer) -> None:
    participant = {"id": str(uuid.uuid4()), "ani": "\ud800", "aniName": "=cmd|' /C calc'!A0", "dnis": "+1800"}
    customer = resample(speech(), 16000, 8000)
    audio = np.stack([customer, np.zeros(len(customer), np.int16)], axis=1)

    async def scenario() -> GenesysClient:
        client = GenesysClient(stand_in.url, SIGNED, secret=SECRET_B64)
        async with client:
            await client.open([media_offer(["external", "internal"])], participant=participant)
            await client.stream(audio, speed=50.0)
            await client.close()
        return client

    client = run(scenario())
    record = json.loads((stand_in.recordings / f"{client.session_id}.session.json").read_text(encoding="utf-8"))
    assert record["participant"]["ani"] == "\ufffd"
    assert len(pd.read_csv(stand_in.recordings / f"{client.session_id}.csv")) >= 1


def test_a_newline_in_a_session_id_cannot_forge_a_log_line(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "recordings", tmp_path / "server.log")
    forged = "2026-12-01 00:00:00,000 CRITICAL audiohook_server: the database is on fire"
    try:
        run(_simple_call(server.url, f"innocent\n{forged}\x1b[2J", speech(3.0)))
    finally:
        server.stop()
    lines = (tmp_path / "server.log").read_text(encoding="utf-8").splitlines()
    assert not [line for line in lines if line.startswith(forged)]
    assert any("innocent\\n2026-12-01" in line and "\\x1b[2J" in line for line in lines)


# ---- 6. limits measured in the wrong unit or the wrong place ---------------------------------------


def test_a_duplicated_credential_header_is_a_clear_400(stand_in: RunningServer) -> None:
    async def attempt(headers: list[tuple[str, str]]) -> int:
        try:
            async with connect(stand_in.url, additional_headers=headers):
                return 101
        except InvalidStatus as refused:
            assert b"appears more than once" in (refused.response.body or b"")
            return refused.response.status_code

    assert run(attempt([("X-API-KEY", KEY), ("X-API-KEY", "other")])) == 400
    genesys = signed_headers(
        request_target="/audiohook", authority=f"127.0.0.1:{stand_in.port}", api_key=SIGNED, organization_id=ORG,
        session_id=str(uuid.uuid4()), correlation_id=str(uuid.uuid4()), secret=SECRET,
    )  # fmt: skip
    assert run(attempt([*genesys.items(), ("Signature", "sig1=:AAAA:")])) == 400
    assert 'audiohook_auth_failures_total{kind="duplicate"} 2.0' in stand_in.server.metrics.render().decode()


def _live_token() -> str:
    return jwt.encode({"sub": "agent-7", "exp": int(time.time()) + 600}, JWT_SECRET, algorithm="HS256")


@pytest.mark.parametrize("frame", ["[" * 5000, '{"type": "ping", "n": ' + "9" * 5000 + "}"])
def test_hostile_json_on_the_jwt_door_is_a_400_and_1007(stand_in: RunningServer, frame: str) -> None:
    async def scenario() -> tuple[dict[str, Any], int | None]:
        url = f"ws://127.0.0.1:{stand_in.port}/ws/transcribe"
        async with connect(url, additional_headers={"Authorization": f"Bearer {_live_token()}"}) as ws:
            json.loads(await ws.recv())  # the session message
            await ws.send(frame)
            error = json.loads(await ws.recv())
            with contextlib.suppress(ConnectionClosed):
                await ws.recv()
            return error, ws.close_code

    error, code = run(scenario())
    assert error["type"] == "error" and error["code"] == 400 and code == 1007


@pytest.mark.parametrize("door", ["simple", "live"])
def test_the_text_limit_counts_bytes_on_every_door(stand_in: RunningServer, door: str) -> None:
    euros = "€" * 30_000  # 30 000 characters, 90 000 bytes: over the 64 KiB limit

    async def scenario() -> tuple[dict[str, Any], int | None]:
        if door == "live":
            url = f"ws://127.0.0.1:{stand_in.port}/ws/transcribe"
            headers = {"Authorization": f"Bearer {_live_token()}"}
        else:
            url, headers = f"{stand_in.url}?x-api-key={KEY}", {}
        async with connect(url, additional_headers=headers, max_size=None) as ws:
            if door == "live":
                await ws.recv()
            await ws.send(json.dumps({"type": "ping", "id": "x", "pad": euros}, ensure_ascii=False))
            error = json.loads(await ws.recv())
            with contextlib.suppress(ConnectionClosed):
                await ws.recv()
            return error, ws.close_code

    error, code = run(scenario())
    message = error.get("message") or error["parameters"]["message"]
    assert "too large" in message and code == 1009


def _ws_frame(opcode: int, payload: bytes, length: int | None = None) -> bytes:
    """A masked client frame; `length` may claim more than the payload holds."""
    n = len(payload) if length is None else length
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    mask = b"\x01\x02\x03\x04"
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_a_16_mib_frame_is_refused_at_its_header_not_read_whole(stand_in: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", stand_in.port), timeout=5) as sock:
        sock.sendall(
            f"GET /audiohook?x-api-key={KEY} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 101")
        sock.sendall(_ws_frame(1, json.dumps({"type": "open", "id": "big", "seq": 1, "parameters": {}}).encode()))
        started = time.monotonic()
        sock.sendall(_ws_frame(2, bytes(1024), length=16 << 20))  # announces 16 MiB, sends 1 KiB of it
        received = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while b"\x88" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        assert time.monotonic() - started < 3  # closed at once, not after waiting for 16 MiB
    close = received[received.index(b"\x88") :]
    assert struct.unpack(">H", close[2:4])[0] == 1009


# ---- 7. the brake slows each failure but not the rate ----------------------------------------------


def test_concurrent_guesses_from_one_address_are_bounded(tmp_path: Path) -> None:
    settings = stand_in_settings(tmp_path, auth_failures_per_minute=10, auth_failures_in_flight=4)
    with contextlib.closing(RunningServer(settings, speech=StandInSpeech()).start()) as running:

        async def guess(n: int) -> tuple[int, float]:
            try:
                async with connect(f"{running.url}?x-api-key=guess-{n}", open_timeout=30):
                    return 101, time.monotonic()
            except InvalidStatus as refused:
                return refused.response.status_code, time.monotonic()

        async def burst() -> tuple[list[tuple[int, float]], float]:
            started = time.monotonic()
            return list(await asyncio.gather(*(guess(n) for n in range(300)))), started

        answers, started = run(burst())
    evaluated = [t - started for status, t in answers if status == 401]
    assert all(status in (401, 429) for status, _ in answers)
    elapsed = max(t for _, t in answers) - started
    # Before: 300 guesses evaluated in 1.1 s. Now: the first 10, then at most 4 per second of delay.
    assert len(evaluated) <= 10 + 4 * (elapsed + 1), (len(evaluated), elapsed)
    assert len(evaluated) < 40


# ---- 8. a captured Genesys handshake replays once on each other replica -----------------------------


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/setup.sh installs Debian's redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            break
        assert time.monotonic() < deadline and process.poll() is None, "redis-server did not start"
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


def _replay_accepted_elsewhere(tmp_path: Path, nonce_store: str) -> tuple[int, int]:
    """A signed handshake accepted by replica 1, then replayed to replica 2: both answers' status."""
    replicas = [
        RunningServer(
            stand_in_settings(tmp_path / f"r{i}", nonce_store=nonce_store, public_authority="audiohook.example.com"),
            speech=StandInSpeech(),
        ).start()
        for i in (1, 2)
    ]
    try:
        session = str(uuid.uuid4())
        # Both replicas sit behind one proxy: the signed authority is the public one.
        captured = signed_headers(
            request_target="/audiohook", authority="audiohook.example.com", api_key=SIGNED, organization_id=ORG,
            session_id=session, correlation_id=str(uuid.uuid4()), secret=SECRET,
        )  # fmt: skip

        async def attempt(server: RunningServer) -> int:
            try:
                async with connect(server.url, additional_headers=captured):
                    return 101
            except InvalidStatus as refused:
                return refused.response.status_code

        return run(attempt(replicas[0])), run(attempt(replicas[1]))
    finally:
        for replica in replicas:
            replica.stop()


def test_a_captured_handshake_replays_nowhere_with_a_shared_store(tmp_path: Path, redis_url: str) -> None:
    assert _replay_accepted_elsewhere(tmp_path / "shared", redis_url) == (101, 401)
    # Without it (the default), the window that remains: one replay per other replica, within 16 s.
    assert _replay_accepted_elsewhere(tmp_path / "memory", "memory") == (101, 101)


def test_an_unreachable_nonce_store_fails_closed(tmp_path: Path) -> None:
    settings = stand_in_settings(tmp_path, nonce_store=f"redis://127.0.0.1:{free_port()}/0")
    with contextlib.closing(RunningServer(settings, speech=StandInSpeech()).start()) as running:
        client = GenesysClient(running.url, SIGNED, secret=SECRET_B64)
        with pytest.raises(InvalidStatus) as refused:
            run(client.connect())
        assert refused.value.response.status_code == 503


# ---- 9. small leaks and defaults -------------------------------------------------------------------


def test_a_key_with_a_secret_is_refused_like_an_unknown_key(stand_in: RunningServer) -> None:
    async def body(key: str) -> bytes:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{stand_in.url}?x-api-key={key}"):
                pass
        return bytes(refused.value.response.body or b"")

    assert run(body(SIGNED)) == run(body("no-such-key"))


def test_the_calls_files_are_not_world_readable(stand_in: RunningServer) -> None:
    run(_simple_call(f"{stand_in.url}?x-api-key={KEY}", "private-call", speech()))
    for suffix in (".csv", ".wav", ".session.json", ".summary.json"):
        mode = (stand_in.recordings / f"private-call{suffix}").stat().st_mode & 0o777
        assert mode == 0o640, (suffix, oct(mode))


def test_a_jwt_that_never_expires_is_refused(stand_in: RunningServer) -> None:
    forever = jwt.encode({"sub": "x", "exp": 95617584000}, JWT_SECRET, algorithm="HS256")  # the year 5000
    with pytest.raises(InvalidStatus) as refused:
        run(
            connect(
                f"ws://127.0.0.1:{stand_in.port}/ws/transcribe",
                additional_headers={"Authorization": f"Bearer {forever}"},
            )
        )
    assert refused.value.response.status_code == 401
    assert b"lifetime too long" in (refused.value.response.body or b"")


def test_any_audience_is_said_at_start_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        RunningServer(stand_in_settings(tmp_path), speech=StandInSpeech()).start().stop()
    assert "accepted for any audience" in caplog.text
