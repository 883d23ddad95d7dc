"""Benchmark: the HTTP live-capture door beside the simple-dialect WebSocket door, on the real server.

Starts `audiohook-server` as a subprocess and, for each call (the two-voice scripted call of
tests/fixtures/dialogue and the five LibriVox clips in one stream), in one run:

- **WebSocket**: the simple dialect, 500 ms PCM16 frames paced in real time (the project's client);
- **HTTP live**: the same audio as a WAV uploaded in 64 KiB chunks (2.048 s of audio each), each chunk
  posted when its last sample has been "recorded" (as a microphone client would), the SSE stream read
  at the same time;
- **replay**: the whole WAV posted to `/analyze/stream`, as fast as the machine allows.

It prints the WER of each, and the final latency two ways: from the moment the final's last word was
spoken (the caller's view: for HTTP this includes waiting for the chunk to fill) and, for HTTP, from
the arrival of the chunk that held that word (the server's part, what `/metrics` observes). Run by hand:

    .venv/bin/python benchmarks/bench_live_capture.py [--call dialogue|librivox|both] [-- server flags…]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiohook_server.client import stream_audio  # noqa: E402
from benchmarks.common import machine, serve  # noqa: E402
from benchmarks.wer import word_error_rate  # noqa: E402
from tests.speech_fixtures import DIALOGUE, librivox_call, read_pcm16  # noqa: E402

KEY = "bench-live-capture-key"
CHUNK = 65536
HEADERS = {"X-API-Key": KEY}


@dataclass(frozen=True)
class Call:
    name: str
    samples: npt.NDArray[np.int16]
    reference: str

    @property
    def seconds(self) -> float:
        return len(self.samples) / 16000

    def wav(self) -> bytes:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
            out.writeframes(self.samples.astype("<i2").tobytes())
        return buffer.getvalue()


def calls(which: str) -> list[Call]:
    found = []
    if which in ("dialogue", "both"):
        samples, rate = read_pcm16(DIALOGUE / "call_mono16k.wav")
        assert rate == 16000
        script = json.loads((DIALOGUE / "call.json").read_text())
        found.append(Call("dialogue", samples, " ".join(turn["text"] for turn in script["turns"])))
    if which in ("librivox", "both"):
        samples, spans = librivox_call()
        found.append(Call("librivox", samples, " ".join(text for _, _, text in spans)))
    return found


def spoken_end(final: dict[str, Any]) -> float:
    """Where the final's last word ends in the audio (the utterance end when there are no words)."""
    words = final.get("words") or []
    return min(float(words[-1]["end"]), float(final["t_end"])) if words else float(final["t_end"])


async def sse(response: httpx.Response) -> Any:
    """(arrival, event name, data) for each event of a text/event-stream response."""
    current: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in current:
                yield time.monotonic(), current.get("event", "message"), json.loads(current["data"])
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            current[key] = value.strip()


async def websocket_door(port: int, call: Call) -> tuple[str, list[float]]:
    result = await stream_audio(f"ws://127.0.0.1:{port}/audiohook", call.samples, api_key=KEY, close_timeout=300)
    texts, latencies = [], []
    for received in result.messages:
        entity = received.message.get("parameters", {}).get("entity")
        if received.message.get("type") == "event" and entity and entity["is_final"]:
            texts.append(entity["value"])
            words = entity.get("words") or []
            end = min(float(words[-1]["end"]), float(entity["end"])) if words else float(entity["end"])
            latencies.append(received.received_at - (result.started_at + end))
    return " ".join(texts), latencies


async def http_live(client: httpx.AsyncClient, call: Call) -> tuple[str, list[float], list[float], float]:
    data = call.wav()
    started = await client.post("/analyze/live/start", headers=HEADERS, json={"filename": f"{call.name}.wav"})
    started.raise_for_status()
    session = started.json()
    finals: list[tuple[float, dict[str, Any]]] = []

    async def read() -> None:
        async with client.stream("GET", session["events_endpoint"], headers=HEADERS, timeout=None) as response:
            response.raise_for_status()
            async for arrived, name, payload in sse(response):
                if name == "final_transcript":
                    finals.append((arrived, payload))
                elif name == "done":
                    return

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.3)
    began = time.monotonic()
    sent_at: list[float] = []
    for seq, offset in enumerate(range(0, len(data), CHUNK)):
        piece = data[offset : offset + CHUNK]
        # A microphone client posts a chunk once its last byte has been recorded.
        await asyncio.sleep(max(0.0, began + (offset + len(piece) - 44) / 32000 - time.monotonic()))
        files = {"chunk": (f"chunk-{seq}.bin", piece, "application/octet-stream")}
        ack = await client.post(session["chunk_endpoint"], headers=HEADERS, data={"chunk_seq": str(seq)}, files=files)
        ack.raise_for_status()
        sent_at.append(time.monotonic())
    upload_done = time.monotonic()
    (await client.post(session["control_endpoint"], headers=HEADERS, json={"action": "finalize"})).raise_for_status()
    await asyncio.wait_for(reader, 300)
    from_spoken, from_chunk = [], []
    for arrived, final in finals:
        end = spoken_end(final)
        from_spoken.append(arrived - (began + end))
        holding = min(int((end * 32000 + 44) // CHUNK), len(sent_at) - 1)
        from_chunk.append(arrived - sent_at[holding])
    during = sum(1 for arrived, _ in finals if arrived < upload_done)
    return " ".join(f["text"] for _, f in finals), from_spoken, from_chunk, during / max(1, len(finals))


async def replay(client: httpx.AsyncClient, call: Call) -> tuple[str, float]:
    began = time.monotonic()
    texts = []
    files = {"file": (f"{call.name}.wav", call.wav(), "audio/wav")}
    async with client.stream("POST", "/analyze/stream", headers=HEADERS, files=files, timeout=None) as response:
        response.raise_for_status()
        async for _, name, payload in sse(response):
            if name == "final_transcript":
                texts.append(payload["text"])
            elif name == "done":
                break
    return " ".join(texts), time.monotonic() - began


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):5.2f} s  p95 {p95:5.2f} s  max {ordered[-1]:5.2f} s  (n={len(ordered)})"


async def measure(port: int, call: Call) -> None:
    ws_text, ws_latency = await websocket_door(port, call)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        live_text, from_spoken, from_chunk, share_during = await http_live(client, call)
        replay_text, replay_s = await replay(client, call)
    print(f"\n{call.name}: {call.seconds:.1f} s of audio")
    print(f"  WebSocket (500 ms frames)   WER {word_error_rate([call.reference], [ws_text]):6.1%}")
    print(f"      final latency from the word spoken:   {summary(ws_latency)}")
    print(f"  HTTP live (64 KiB chunks)   WER {word_error_rate([call.reference], [live_text]):6.1%}")
    print(f"      final latency from the word spoken:   {summary(from_spoken)}")
    print(f"      final latency from its chunk's arrival: {summary(from_chunk)}")
    print(f"      finals that arrived while uploading:  {share_during:.0%}")
    print(f"  replay (/analyze/stream)    WER {word_error_rate([call.reference], [replay_text]):6.1%}")
    print(f"      {replay_s:.1f} s for {call.seconds:.1f} s of audio ({call.seconds / replay_s:.1f}x real time)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--call", choices=["dialogue", "librivox", "both"], default="both")
    parser.add_argument("server_args", nargs="*", help="extra audiohook-server flags (after --)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp), KEY, None, args.server_args) as served:
        print(f"server ready in {served.ready_s:.1f} s")
        for call in calls(args.call):
            asyncio.run(measure(served.port, call))
    return 0


if __name__ == "__main__":
    sys.exit(main())
