"""The HTTP live-capture door against the real server over stand-in speech: the contract's every answer
(200, 401, 404, 409, 413, 415, 422), resumption with Last-Event-ID, one consumer, expiry, cancel, every
container decoded while it arrives, the metrics, and a SIGKILL in the middle of a session. (The same
door on real Whisper, the cookbooks and the accuracy per container: test_capture_real.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from audiohook_server.settings import ApiKey
from tests.conftest import RunningServer, free_port, make_settings
from tests.speech_fixtures import librivox_call
from tests.sse_events import sse_events
from tests.stand_in_server import StandInServerProcess
from tests.stand_in_speech import StandInSpeech

KEY = "capture-key"
ROOT = Path(__file__).resolve().parents[2]


def wav_bytes(samples: npt.NDArray[np.int16], rate: int = 16000, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def encoded(samples: npt.NDArray[np.int16], container: str, codec: str) -> bytes:
    """The speech encoded by FFmpeg (PyAV) into a container, as a browser or a phone would send it."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=48000 if "opus" in codec else 16000)
        assert isinstance(stream, av.audio.stream.AudioStream)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.rate = 16000
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=stream.rate)
        for piece in resampler.resample(frame):
            for packet in stream.encode(piece):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def speech() -> tuple[npt.NDArray[np.int16], list[tuple[float, float, str]]]:
    samples, spans = librivox_call(gap_s=1.0)
    return samples, spans


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = dataclasses.replace(
        make_settings(tmp_path_factory.mktemp("capture"), api_keys=(ApiKey(KEY), ApiKey("other-key"))),
        max_chunk_bytes=256 << 10,
        auth_failures_per_minute=100_000,
    )
    running = RunningServer(settings, speech=StandInSpeech()).start()
    yield running
    running.stop()


def base(server: RunningServer) -> str:
    return f"http://127.0.0.1:{server.port}"


H = {"X-API-Key": KEY}


async def read_events(
    client: httpx.AsyncClient,
    url: str,
    last_id: int = 0,
    stop_after: int | None = None,
    into: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The cookbook's reader, keeping ids: [{id, event, data}] until `done` (or `stop_after` events),
    appended to `into` as they come (so a reader cut off by a dying server keeps what it got)."""
    headers = {**H, "Accept": "text/event-stream"}
    if last_id:
        headers["Last-Event-ID"] = str(last_id)
    events: list[dict[str, Any]] = [] if into is None else into
    async with client.stream("GET", url, headers=headers, timeout=None) as response:
        assert response.status_code == 200, await response.aread()
        async for event in sse_events(response):
            assert event["id"] is not None, event  # the live stream numbers every event (Last-Event-ID)
            events.append(event)
            if event["event"] == "done" or (stop_after is not None and len(events) >= stop_after):
                return events
    return events


async def start(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/analyze/live/start", json=body or None, headers=H)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def upload(
    client: httpx.AsyncClient, session: dict[str, Any], data: bytes, size: int = 64 << 10, first: int = 0
) -> None:
    for seq, offset in enumerate(range(first * size, len(data), size), start=first):
        files = {"chunk": (f"chunk-{seq}.bin", data[offset : offset + size], "application/octet-stream")}
        response = await client.post(session["chunk_endpoint"], headers=H, data={"chunk_seq": str(seq)}, files=files)
        assert response.status_code == 200, response.text


async def whole_session(server: RunningServer, data: bytes, **start_body: Any) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base(server), timeout=30) as client:
        session = await start(client, **start_body)
        reader = asyncio.create_task(read_events(client, session["events_endpoint"]))
        await asyncio.sleep(0.2)
        await upload(client, session, data)
        finalize = await client.post(session["control_endpoint"], headers=H, json={"action": "finalize"})
        assert finalize.status_code == 200
        return await asyncio.wait_for(reader, 60)


def run(coro: Any, timeout: float = 120) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---- the happy path, in every container ----------------------------------------------------------


def test_start_answers_the_published_shape(capture: RunningServer) -> None:
    async def scenario() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=base(capture)) as client:
            return await start(client, filename="call.wav", goal="Coach for confidence")

    session = run(scenario())
    assert session["session_id"].startswith("live_") and session["conversation_id"].startswith("liveconv_")
    sid = session["session_id"]
    assert session["chunk_endpoint"] == f"/analyze/live/{sid}/chunk"
    assert session["events_endpoint"] == f"/analyze/live/{sid}/events"
    assert session["control_endpoint"] == f"/analyze/live/{sid}/control"
    assert session["next_chunk_seq"] == 0 and session["status"] == "waiting_media"
    assert len(session["expires_at"]) == 24 and session["expires_at"].endswith("Z")  # 2025-11-08T18:12:04.991Z


def test_start_takes_a_supported_language_and_refuses_another_with_415(capture: RunningServer) -> None:
    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(base_url=base(capture)) as client:
            named = await client.post("/analyze/live/start", json={"language": "de"}, headers=H)
            refused = await client.post("/analyze/live/start", json={"language": "tr"}, headers=H)
            malformed = await client.post("/analyze/live/start", json={"language": ["en"]}, headers=H)
            return named, refused, malformed

    named, refused, malformed = run(scenario())
    assert named.status_code == 200
    assert refused.status_code == 415 and "'tr' is not supported" in refused.json()["detail"]
    assert malformed.status_code == 422


@pytest.mark.parametrize(
    ("container", "codec", "filename"),
    [
        ("wav", "", "call.wav"),
        ("mp3", "libmp3lame", "call.mp3"),
        ("ogg", "libopus", "call.ogg"),
        ("webm", "libopus", "call.webm"),
        ("raw", "", "call.pcm"),
        ("mp4", "aac", "call.m4a"),
    ],
)
def test_every_container_is_transcribed(capture: RunningServer, container: str, codec: str, filename: str) -> None:
    samples, spans = speech()
    if container == "wav":
        data = wav_bytes(samples)
    elif container == "raw":
        data = samples.astype("<i2").tobytes()
    else:
        data = encoded(samples, container, codec)
    events = run(whole_session(capture, data, filename=filename))
    names = [e["event"] for e in events]
    finals = [e["data"] for e in events if e["event"] == "final_transcript"]
    assert len(finals) == len(spans), (container, [f["text"] for f in finals])
    for final, (begin, end, _) in zip(finals, spans, strict=True):
        assert abs(final["t_start"] - begin) < 0.5 and abs(final["t_end"] - end) < 0.8
    assert names[0] == "status" and names[-1] == "done"
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))  # every event has its id, in order
    statuses = [e["data"]["phase"] for e in events if e["event"] == "status"]
    assert statuses[0] == "waiting_media" and "ingesting" in statuses and statuses[-1] == "completed"
    if container == "mp4":  # its index is at its end: decoded once complete, and the status says so
        assert any("once complete" in str(e["data"].get("detail")) for e in events if e["event"] == "status")
    else:  # decoded as the chunks arrive: transcripts before finalize (finals at real time: test_capture_real)
        finalized = next(
            i for i, e in enumerate(events) if e["event"] == "status" and e["data"]["phase"] == "processing"
        )
        assert names.index("partial_transcript") < finalized


def test_done_references_the_artifacts_and_they_download(capture: RunningServer) -> None:
    samples, spans = speech()
    events = run(whole_session(capture, wav_bytes(samples), filename="a.wav", goal="upsell the premium plan"))
    done = events[-1]["data"]
    assert set(done["artifacts"]) == {"csv", "summary", "timeline", "recording"}
    assert done["conversation_id"].startswith("liveconv_")

    async def download() -> dict[str, httpx.Response]:
        async with httpx.AsyncClient(base_url=base(capture)) as client:
            return {name: await client.get(item["url"], headers=H) for name, item in done["artifacts"].items()}

    files = run(download())
    assert all(response.status_code == 200 for response in files.values())
    frame = pd.read_csv(io.StringIO(files["csv"].text), keep_default_na=False)
    assert len(frame) == len(spans)
    timeline = [json.loads(line) for line in files["timeline"].text.splitlines()]
    assert [t["id"] for t in timeline] == [e["id"] for e in events]
    assert json.loads(files["summary"].text)["analysis"]["agent_score"] in range(1, 6)
    assert files["recording"].content[:4] == b"RIFF"
    session_json = capture.recordings / f"{done['session_id']}.session.json"
    assert json.loads(session_json.read_text())["goal"] == "upsell the premium plan"


# ---- the contract's refusals ---------------------------------------------------------------------


def test_refusals_401_404_409_413_422(capture: RunningServer) -> None:
    samples, _ = speech()
    data = wav_bytes(samples[: 16000 * 6])

    async def scenario() -> dict[str, int]:
        codes: dict[str, int] = {}
        async with httpx.AsyncClient(base_url=base(capture), timeout=30) as client:
            codes["no key"] = (await client.post("/analyze/live/start")).status_code
            codes["wrong key"] = (await client.post("/analyze/live/start", headers={"X-API-Key": "nope"})).status_code
            codes["key in query"] = (await client.post(f"/analyze/live/start?api_key={KEY}")).status_code
            codes["unknown session"] = (
                await client.post("/analyze/live/live_0000/control", headers=H, json={"action": "keepalive"})
            ).status_code
            codes["bad ttl"] = (
                await client.post("/analyze/live/start", headers=H, json={"ttl_seconds": 5})
            ).status_code
            session = await start(client)
            chunk, control = session["chunk_endpoint"], session["control_endpoint"]

            async def post(seq: Any, body: bytes) -> httpx.Response:
                files = {"chunk": ("c.bin", body, "application/octet-stream")}
                return await client.post(chunk, headers=H, data={"chunk_seq": str(seq)}, files=files)

            codes["first"] = (await post(0, data[:65536])).status_code
            other = {"X-API-Key": "other-key"}  # a valid key, not the one that started the session
            codes["other key's control"] = (
                await client.post(control, headers=other, json={"action": "cancel"})
            ).status_code
            codes["other key's events"] = (await client.get(session["events_endpoint"], headers=other)).status_code
            gap = await post(2, data[65536:131072])
            codes["gap"] = gap.status_code
            assert gap.json()["next_chunk_seq"] == 1
            resend = await post(0, data[:65536])  # its ack was lost: acknowledged again, not appended
            codes["resend"] = resend.status_code
            assert resend.json() == {"received_bytes": 65536, "next_chunk_seq": 1}
            codes["resend, other bytes"] = (await post(0, data[1:65537])).status_code
            codes["too big"] = (await post(1, bytes(300 << 10))).status_code
            codes["bad seq"] = (await post("one", data[65536:131072])).status_code
            raw = await client.post(f"{chunk}?chunk_seq=1", headers=H, content=data[65536:131072])
            codes["raw body"] = raw.status_code
            codes["bad action"] = (await client.post(control, headers=H, json={"action": "pause"})).status_code
            codes["not json"] = (await client.post(control, headers=H, content=b"finalize")).status_code

            reader = asyncio.create_task(read_events(client, session["events_endpoint"]))
            await asyncio.sleep(0.3)
            second = await client.get(session["events_endpoint"], headers=H)
            codes["second consumer"] = second.status_code
            reader.cancel()  # the consumer goes away; the events wait for the next one
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await asyncio.sleep(0.2)
            codes["finalize"] = (await client.post(control, headers=H, json={"action": "finalize"})).status_code
            codes["chunk after finalize"] = (await post(2, data[131072:196608])).status_code
            events = await read_events(client, session["events_endpoint"])
            assert events[-1]["event"] == "done"
            codes["events after done"] = (await client.get(session["events_endpoint"], headers=H)).status_code
            codes["chunk after done"] = (await post(2, data[131072:196608])).status_code
            artifacts = f"/analyze/live/{session['session_id']}/artifacts/csv"
            codes["artifact"] = (await client.get(artifacts, headers=H)).status_code
            codes["other key's artifact"] = (await client.get(artifacts, headers=other)).status_code
        return codes

    codes = run(scenario())
    assert codes == {
        "no key": 401,
        "wrong key": 401,
        "key in query": 200,
        "unknown session": 404,
        "bad ttl": 422,
        "first": 200,
        "other key's control": 404,
        "other key's events": 404,
        "gap": 409,
        "resend": 200,
        "resend, other bytes": 409,
        "too big": 413,
        "bad seq": 422,
        "raw body": 200,
        "bad action": 422,
        "not json": 422,
        "second consumer": 409,
        "finalize": 200,
        "chunk after finalize": 409,
        "events after done": 404,
        "chunk after done": 404,
        "artifact": 200,
        "other key's artifact": 404,
    }


def test_audio_that_is_not_audio_is_an_error_and_the_session_stays_controllable(capture: RunningServer) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], int, int]:
        async with httpx.AsyncClient(base_url=base(capture), timeout=30) as client:
            session = await start(client, filename="notes.mp3")
            reader = asyncio.create_task(read_events(client, session["events_endpoint"]))
            await asyncio.sleep(0.2)
            text = {"chunk": ("c.bin", b"this is a text file, not audio at all. " * 1500, "application/octet-stream")}
            first = await client.post(session["chunk_endpoint"], headers=H, data={"chunk_seq": "0"}, files=text)
            assert first.status_code == 200  # accepted (and kept) before its content is known
            await asyncio.sleep(1.0)
            files = {"chunk": ("c.bin", b"more text", "application/octet-stream")}
            late = await client.post(session["chunk_endpoint"], headers=H, data={"chunk_seq": "1"}, files=files)
            cancel = await client.post(
                session["control_endpoint"], headers=H, json={"action": "cancel", "reason": "wrong file"}
            )
            return await reader, late.status_code, cancel.status_code

    events, late, cancel = run(scenario())
    errors = [e["data"] for e in events if e["event"] == "error"]
    assert errors[0]["code"] == "unsupported_media" and "not audio" in errors[0]["message"]
    assert late == 415 and cancel == 200
    assert errors[-1] == {"code": "cancelled", "message": "wrong file"} and events[-1]["event"] == "done"


# ---- resumption, expiry, cancel ------------------------------------------------------------------


def test_a_consumer_that_reconnects_with_last_event_id_misses_nothing(capture: RunningServer) -> None:
    samples, spans = speech()
    data = wav_bytes(samples)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with httpx.AsyncClient(base_url=base(capture), timeout=30) as client:
            session = await start(client)
            first = await asyncio.gather(
                read_events(client, session["events_endpoint"], stop_after=4), upload(client, session, data)
            )
            seen = first[0]
            await client.post(session["control_endpoint"], headers=H, json={"action": "finalize"})
            rest = await read_events(client, session["events_endpoint"], last_id=seen[-1]["id"])
            return seen, rest

    seen, rest = run(scenario())
    ids = [e["id"] for e in seen + rest]
    assert ids == list(range(1, len(ids) + 1))  # exactly the events it missed, in order, nothing twice
    assert sum(e["event"] == "final_transcript" for e in seen + rest) == len(spans)


def test_an_idle_session_expires_into_its_artifacts(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_keys=(ApiKey(KEY),))
    with contextlib.closing(RunningServer(settings, speech=StandInSpeech()).start()) as server:
        samples, _ = speech()
        run_ = server.server.capture

        async def scenario() -> list[dict[str, Any]]:
            async with httpx.AsyncClient(base_url=base(server), timeout=30) as client:
                session = await start(client, ttl_seconds=60)
                await upload(client, session, wav_bytes(samples)[: 4 * 65536])
                server.call(_age(run_, session["session_id"], 61))  # a minute with no chunk, keepalive or consumer
                await asyncio.sleep(2.5)
                return await read_events(client, session["events_endpoint"])

        events = run(scenario())
    errors = [e["data"] for e in events if e["event"] == "error"]
    assert errors and errors[-1]["code"] == "expired" and events[-1]["event"] == "done"
    assert "csv" in events[-1]["data"]["artifacts"]


async def _age(service: Any, session_id: str, seconds: float) -> None:
    service.runs[session_id].session.last_activity -= seconds


def test_keepalive_extends_the_lifetime(capture: RunningServer) -> None:
    async def scenario() -> tuple[str, str]:
        async with httpx.AsyncClient(base_url=base(capture), timeout=30) as client:
            session = await start(client, ttl_seconds=60)
            await asyncio.sleep(1.1)
            answer = await client.post(session["control_endpoint"], headers=H, json={"action": "keepalive"})
            return session["expires_at"], answer.json()["expires_at"]

    before, after = run(scenario())
    assert after > before


def test_disabled_live_streaming_answers_404_saying_how_to_enable_it(tmp_path: Path) -> None:
    settings = dataclasses.replace(make_settings(tmp_path, api_keys=(ApiKey(KEY),)), live_streaming=False)
    with contextlib.closing(RunningServer(settings, speech=StandInSpeech()).start()) as server:
        response = httpx.post(f"{base(server)}/analyze/live/start", headers=H)
    assert response.status_code == 404 and "ENABLE_LIVE_STREAMING=true" in response.json()["detail"]


def test_replay_streams_the_same_catalog(capture: RunningServer) -> None:
    samples, spans = speech()

    async def scenario() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=base(capture), timeout=60) as client:
            files = {"file": ("recorded.mp3", encoded(samples, "mp3", "libmp3lame"), "audio/mpeg")}
            async with client.stream("POST", "/analyze/stream", headers=H, files=files) as response:
                assert response.status_code == 200
                return [event async for event in sse_events(response)]

    events = run(scenario())
    assert sum(e["event"] == "final_transcript" for e in events) == len(spans)
    assert events[-1]["event"] == "done"


def test_metrics_count_events_chunks_bytes_and_latency(capture: RunningServer) -> None:
    samples, _ = speech()
    run(whole_session(capture, wav_bytes(samples)))
    text = httpx.get(f"{base(capture)}/metrics").text
    assert 'audiohook_http_events_total{event="final_transcript"}' in text
    assert 'audiohook_http_chunks_total{result="accepted"}' in text
    assert "audiohook_http_bytes_total" in text
    assert "audiohook_http_final_latency_seconds_count" in text


# ---- SIGKILL in the middle of a session ----------------------------------------------------------


def server_process(recordings: Path, log: Path, port: int) -> StandInServerProcess:
    return StandInServerProcess(recordings, log, keys=KEY, port=port)


async def _events_until(client: httpx.AsyncClient, url: str, last_id: int, out: list[dict[str, Any]]) -> None:
    """Read events into `out` until done or until the server goes away (then return)."""
    with contextlib.suppress(httpx.HTTPError):
        await read_events(client, url, last_id=last_id, into=out)


def test_sigkill_mid_session_then_restart_loses_nothing(tmp_path: Path) -> None:
    samples, spans = speech()
    data = wav_bytes(samples)
    half = len(data) // 2 // 65536
    port = free_port()
    recordings = tmp_path / "recordings"
    first = server_process(recordings, tmp_path / "first.log", port)

    async def before_the_kill() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            session = await start(client, filename="call.wav")
            seen: list[dict[str, Any]] = []
            reader = asyncio.create_task(_events_until(client, session["events_endpoint"], 0, seen))
            await asyncio.sleep(0.2)
            await upload_some(client, session, data, 0, half)
            await asyncio.sleep(1.5)  # some finals out
            first.kill()
            await reader
            return session, seen

    session, seen = run(before_the_kill())
    assert any(e["event"] == "final_transcript" for e in seen)
    second = server_process(recordings, tmp_path / "second.log", port)

    async def after_the_restart() -> tuple[int, list[dict[str, Any]]]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            # The client goes on from the number the server reports for a resend of its last chunk.
            files = {"chunk": ("c.bin", data[(half - 1) * 65536 : half * 65536], "application/octet-stream")}
            ack = await client.post(
                session["chunk_endpoint"], headers=H, data={"chunk_seq": str(half - 1)}, files=files
            )
            assert ack.status_code == 200, ack.text
            next_seq = int(ack.json()["next_chunk_seq"])
            rest: list[dict[str, Any]] = []
            reader = asyncio.create_task(_events_until(client, session["events_endpoint"], seen[-1]["id"], rest))
            await upload_some(client, session, data, next_seq, None)
            await client.post(session["control_endpoint"], headers=H, json={"action": "finalize"})
            await asyncio.wait_for(reader, 60)
            return next_seq, rest

    try:
        next_seq, rest = run(after_the_restart())
    finally:
        second.stop()
    assert next_seq == half
    events = seen + rest
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))  # nothing missed, nothing twice
    finals = [e["data"] for e in events if e["event"] == "final_transcript"]
    assert len(finals) == len(spans) and len({f["utterance_id"] for f in finals}) == len(spans)
    frame = pd.read_csv(recordings / f"{session['session_id']}.csv", keep_default_na=False)
    assert len(frame) == len(spans)  # the artifacts hold every utterance of the whole upload
    assert events[-1]["event"] == "done"


async def upload_some(
    client: httpx.AsyncClient, session: dict[str, Any], data: bytes, first: int, last: int | None
) -> None:
    size = 65536
    stop = len(data) if last is None else last * size
    for seq, offset in enumerate(range(first * size, stop, size), start=first):
        files = {"chunk": (f"chunk-{seq}.bin", data[offset : offset + size], "application/octet-stream")}
        response = await client.post(session["chunk_endpoint"], headers=H, data={"chunk_seq": str(seq)}, files=files)
        assert response.status_code == 200, response.text


# ---- the live analytics on the events stream ----------------------------------------------------

RETENTION_SCRIPT = (
    "I want to cancel my contract, the price has gone up again and it's ridiculous.",
    "Twenty pounds is still more than I pay with the other company, why would I stay?",
    "Okay, yes please, put me on that one.",
    "Brilliant, thank you so much, that's a relief.",
)


def test_the_live_analytics_arrive_as_their_events(tmp_path: Path) -> None:
    """A mono upload whose finals are scripted (the stand-in speaks for a customer, diarization off):
    the 7-way emotion with PAD, the moments, a transition, cognitive signals and a rolling summary that
    reflects the session's goal."""
    settings = dataclasses.replace(make_settings(tmp_path, api_keys=(ApiKey(KEY),)), diarization="off")
    server = RunningServer(settings, speech=StandInSpeech(scripted=RETENTION_SCRIPT)).start()
    try:
        samples, spans = speech()
        events = run(
            whole_session(server, wav_bytes(samples[: int(spans[3][1] * 16000) + 16000]), goal="Retain the customer")
        )
    finally:
        server.stop()
    emotions = [e["data"] for e in events if e["event"] == "emotion"]
    assert emotions and all(
        set(e["emotion"]) == {"neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust"} for e in emotions
    )
    assert all(set(e["scores"]) == {"valence", "arousal", "dominance"} and e["stability"] == "final" for e in emotions)
    assert all(abs(sum(e["emotion"].values()) - 1.0) < 1e-3 for e in emotions)
    moments = [e["data"] for e in events if e["event"] == "moment"]
    categories = {m["category"] for m in moments}
    assert {"cancellation_threat", "objection"} <= categories, categories
    threat = next(m for m in moments if m["category"] == "cancellation_threat")
    assert threat["alert"] is True and threat["reason"] and threat["utterance_ids"]
    assert {"moment_id", "speaker_id", "start_ms", "end_ms", "summary", "labels", "confidence"} <= set(threat)
    transitions = [e["data"] for e in events if e["event"] == "transition"]
    assert transitions and transitions[-1]["to_state"] == "pleased"
    assert {"transition_id", "at_ms", "from_state", "evidence_utterance_ids", "drivers", "confidence"} <= set(
        transitions[-1]
    )
    cognitive = [e["data"] for e in events if e["event"] == "cognitive"]
    assert cognitive and {"speaker_id", "engagement", "cognitive_load", "focus", "signals", "rationale"} <= set(
        cognitive[0]
    )
    summaries = [e["data"] for e in events if e["event"] == "summary_update"]
    assert summaries and len(summaries) <= len(emotions)
    last = summaries[-1]
    assert {
        "overview",
        "key_insights",
        "notable_patterns",
        "recommendations",
        "what_went_well",
        "what_went_wrong",
        "speaker_dynamics",
        "conversation_quality",
    } <= set(last)
    assert any("Retain the customer" in line for line in last["recommendations"])
    # the CSVs a QA reader filters on
    csv = next(path for path in settings.recordings_dir.rglob("*.csv") if not path.name.startswith("calls"))
    frame = pd.read_csv(csv, keep_default_na=False)
    assert frame["utterance_valence"].between(-1, 1).all() and frame["utterance_arousal"].between(-1, 1).all()
    assert "cancellation_threat" in frame["utterance_moments"].iloc[0]
    assert frame["running_moments"].iloc[-1].count(":") >= 2 and frame["running_customer_state"].iloc[-1] == "pleased"
    calls = next(settings.recordings_dir.rglob("calls*.csv"))
    call = pd.read_csv(calls, keep_default_na=False).iloc[-1]
    assert call["customer_state"] == "pleased" and "cancellation_threat:1" in call["moments"] and call["alerts"] >= 1
