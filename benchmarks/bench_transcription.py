"""Benchmark: WER and latency of the real server on the committed real-speech fixtures.

Starts `audiohook-server` as a subprocess on a loopback port, streams each fixture through the
simple dialect with the real client in real time (or `--speed` times faster), and prints:
- WER of the final transcripts against the reference transcripts;
- final-transcript latency: the final event's arrival minus the moment the utterance's last sample
  was spoken (`started_at + end / speed`), i.e. what a caller would see;
- partial latency: a partial's arrival minus the moment the last sample it covers was spoken.
Run by hand, not in CI (CI runs the tests):

    .venv/bin/python benchmarks/bench_transcription.py [--speed 1] [--sessions 1] [-- server flags…]

Timings depend on the machine and its load: compare numbers from one run, not across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiohook_server.audio.resampling import to_mono_16k  # noqa: E402
from audiohook_server.audio.wav_files import read_wav  # noqa: E402
from audiohook_server.client import StreamResult, stream_audio  # noqa: E402
from benchmarks.common import free_port, machine  # noqa: E402
from benchmarks.wer import word_error_rate  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
API_KEY = "bench-key"


@dataclass
class Fixture:
    name: str
    samples: np.ndarray
    reference: str


def load_fixtures() -> list[Fixture]:
    transcripts: dict[str, str] = json.loads((FIXTURES / "librivox" / "transcripts.json").read_text())
    gap = np.zeros(16000, dtype=np.int16)
    parts = [gap]
    for name in sorted(transcripts):
        samples, rate = read_wav(FIXTURES / "librivox" / name)
        parts += [to_mono_16k(samples, rate), gap]
    librivox = Fixture("librivox-5-clips", np.concatenate(parts), " ".join(transcripts[n] for n in sorted(transcripts)))
    samples, rate = read_wav(FIXTURES / "dialogue" / "call_mono16k.wav")
    script = json.loads((FIXTURES / "dialogue" / "call.json").read_text())
    dialogue = Fixture("espeak-dialogue", to_mono_16k(samples, rate), " ".join(t["text"] for t in script["turns"]))
    return [librivox, dialogue]


def start_server(port: int, recordings: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], float]:
    env = dict(os.environ, AUDIOHOOK_API_KEYS=API_KEY)
    command = [sys.executable, "-m", "audiohook_server", "--port", str(port), "--recordings-dir", str(recordings)]
    began = time.monotonic()
    process = subprocess.Popen([*command, *extra], env=env, stderr=subprocess.DEVNULL)
    while time.monotonic() - began < 120:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return process, time.monotonic() - began
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("server not ready within 120 s")


def latencies(result: StreamResult, speed: float) -> tuple[list[float], list[float]]:
    """Final latency from the end of the last spoken word (Whisper's word timing; the utterance end
    when there is none); partial latency from the end of the audio the partial covers."""
    finals: list[float] = []
    partials: list[float] = []
    for received in result.messages:
        entity = received.message.get("parameters", {}).get("entity")
        if received.message.get("type") != "event" or not entity:
            continue
        if entity["is_final"]:
            words = entity.get("words") or []
            end = min(float(words[-1]["end"]), float(entity["end"])) if words else float(entity["end"])
            finals.append(received.received_at - (result.started_at + end / speed))
        else:
            partials.append(received.received_at - (result.started_at + float(entity["end"]) / speed))
    return finals, partials


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(values, q))


async def run_fixture(url: str, fixture: Fixture, speed: float, sessions: int) -> list[StreamResult]:
    return list(
        await asyncio.gather(
            *(
                stream_audio(url, fixture.samples, api_key=API_KEY, speed=speed, close_timeout=300)
                for _ in range(sessions)
            )
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=1.0, help="1 = real time")
    parser.add_argument("--sessions", type=int, default=1, help="concurrent sessions per fixture")
    parser.add_argument("server_args", nargs="*", help="extra audiohook-server flags (after --)")
    args = parser.parse_args()

    fixtures = load_fixtures()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        process, ready_s = start_server(port, Path(tmp), args.server_args)
        try:
            print(f"machine: {machine()}")
            print(f"server flags: {' '.join(args.server_args) or '(defaults)'}; ready in {ready_s:.1f} s")
            print(f"speed {args.speed}x, {args.sessions} concurrent session(s) per fixture\n")
            header = f"{'fixture':<20} {'audio s':>7} {'WER':>6} {'finals':>6} {'final p50':>9} {'p95':>6} {'max':>6}"
            print(header + f" {'partials':>8} {'partial p50':>11} {'p95':>6}")
            all_final: list[float] = []
            for fixture in fixtures:
                results = asyncio.run(
                    run_fixture(f"ws://127.0.0.1:{port}/audiohook", fixture, args.speed, args.sessions)
                )
                wer = word_error_rate([fixture.reference] * len(results), [r.final_text for r in results])
                finals, partials = [], []
                for result in results:
                    f, p = latencies(result, args.speed)
                    finals += f
                    partials += p
                all_final += finals
                print(
                    f"{fixture.name:<20} {len(fixture.samples) / 16000:>7.1f} {wer:>6.1%} {len(finals):>6} "
                    f"{pct(finals, 50):>9.2f} {pct(finals, 95):>6.2f} {max(finals, default=float('nan')):>6.2f} "
                    f"{len(partials):>8} {pct(partials, 50):>11.2f} {pct(partials, 95):>6.2f}"
                )
            print(
                f"\nall finals: n={len(all_final)} mean={statistics.fmean(all_final):.2f} s "
                f"p95={pct(all_final, 95):.2f} s (from the last word's end; includes the silence that ends it)"
            )
        finally:
            process.terminate()
            process.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
