"""Benchmark: concurrent real-time stereo Genesys calls against the real server.

Starts `audiohook-server` as a subprocess, then drives N concurrent AudioHook v2 sessions (signed,
pinging every 5 s, stereo 8 kHz PCMU, 200 ms frames, paced in real time) with the independent test
client (tests/genesys_client.py), and prints one row per N:

- WER of the finals against the script, share of words on the right channel, median offset error;
- final latency: the final's arrival minus the moment its last word was spoken (Whisper's word
  timing; the client paces audio like a live source), p50/p95/max, and the same for partials;
- opened latency and pong round trip, p99;
- server CPU (share of one core) and resident memory, from /proc.

Calls: the scripted espeak-ng call (tests/fixtures/dialogue) and a real-speech call made from the five
LibriVox clips (alternating customer/agent on the two channels, telephone band: resampled to 8 kHz and
μ-law coded, as models-and-data.md suggests for measuring telephone accuracy). Run by hand:

    .venv/bin/python benchmarks/bench_genesys.py --calls 1,4,8 [--call librivox|espeak] [-- server flags…]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiohook_server.audio.wav_files import read_wav  # noqa: E402
from benchmarks.common import machine, serve  # noqa: E402
from benchmarks.wer import normalize_text, word_error_rate  # noqa: E402
from tests.genesys_client import GenesysClient, media_offer  # noqa: E402
from tests.genesys_fixtures import librivox_stereo_call  # noqa: E402

KEY = "bench-genesys-key"
SECRET = b"bench-genesys-client-secret-0123456789"
FIXTURES = ROOT / "tests" / "fixtures"


@dataclass(frozen=True)
class ScriptTurn:
    channel: int  # 0 = external (customer), 1 = internal (agent)
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Call:
    name: str
    audio: npt.NDArray[np.int16]  # (frames, 2) at 8 kHz: external, internal
    turns: tuple[ScriptTurn, ...]


def espeak_call() -> Call:
    samples, rate = read_wav(FIXTURES / "dialogue" / "call_stereo8k_ulaw.wav")
    assert rate == 8000
    script = json.loads((FIXTURES / "dialogue" / "call.json").read_text())
    turns = tuple(ScriptTurn(t["channel_stereo"], t["start"], t["end"], t["text"]) for t in script["turns"])
    return Call("espeak two-voice call", samples, turns)


def librivox_call() -> Call:
    audio, turns = librivox_stereo_call()
    return Call("LibriVox real-speech call (8 kHz μ-law)", audio, tuple(ScriptTurn(*t) for t in turns))


def proc_stats(pid: int) -> tuple[float, int]:
    """CPU seconds (user+system) and resident bytes of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return cpu, rss_pages * os.sysconf("SC_PAGE_SIZE")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


@dataclass
class CallResult:
    finals: list[tuple[int, float, float, str, float]]  # channel, offset, end, text, latency
    partial_latencies: list[float]
    opened_ms: float
    rtts_ms: list[float]
    violations: list[str]


async def run_call(url: str, call: Call, speed: float) -> CallResult:
    client = GenesysClient(url, KEY, SECRET)
    await client.connect()
    await client.open(media=[media_offer(["external", "internal"])])
    client.start_pinging()
    started = time.monotonic()
    await client.stream(call.audio, fmt="PCMU", frame_ms=200, speed=speed)
    await client.close(timeout=120)
    await client.aclose()
    finals, partials = [], []
    for entity in client.transcripts():
        words = entity.tokens
        spoken_end = entity.end
        if words:
            last = words[-1]
            spoken_end = min(spoken_end, _seconds(last["offset"]) + _seconds(last["duration"]))
        latency = entity.at - (started + spoken_end / speed)
        if entity.is_final:
            finals.append((entity.channel_id, entity.offset, entity.end, entity.transcript, latency))
        else:
            partials.append(latency)
    return CallResult(
        finals, partials, (client.opened_latency or 0) * 1000, [r * 1000 for r in client.rtts], client.violations
    )


def _seconds(duration: str) -> float:
    return float(duration[2:-1])


def score(call: Call, results: list[CallResult]) -> tuple[float, float, float]:
    """WER, share of final words on the right channel, median |offset - turn start|."""
    refs, hyps, right, total, offset_errors = [], [], 0, 0, []
    for result in results:
        refs.append(" ".join(t.text for t in call.turns))
        hyps.append(" ".join(text for _, _, _, text, _ in sorted(result.finals, key=lambda f: f[1])))
        for channel, offset, end, text, _ in result.finals:
            # The turn this final overlaps most: its channel is the right one for its words.
            turn = max(call.turns, key=lambda t: min(end, t.end) - max(offset, t.start))
            words = len(normalize_text(text).split())
            total += words
            right += words if turn.channel == channel else 0
            offset_errors.append(abs(offset - turn.start))
    return word_error_rate(refs, hyps), right / max(total, 1), statistics.median(offset_errors or [float("nan")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="1,4,8", help="comma-separated numbers of concurrent calls")
    parser.add_argument("--call", choices=["librivox", "espeak"], default="librivox")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("server_args", nargs="*", help="extra audiohook-server flags (after --)")
    args = parser.parse_args()
    call = librivox_call() if args.call == "librivox" else espeak_call()
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp), KEY, SECRET, args.server_args) as served:
        server, port, ready_s = served.process, served.port, served.ready_s
        _, idle_rss = proc_stats(server.pid)
        print(f"machine: {machine()}")
        flags = " ".join(args.server_args) or "defaults"
        print(f"server: {flags}; ready in {ready_s:.1f} s; idle RSS {idle_rss >> 20} MiB")
        print(f"call: {call.name}, {len(call.audio) / 8000:.1f} s, speed {args.speed}x\n")
        print(
            f"{'calls':>5} {'WER':>6} {'channel':>7} {'offset':>6} {'final p50':>9} {'p95':>5} {'max':>5} "
            f"{'partial p50':>11} {'p95':>5} {'opened p99':>10} {'pong p99':>8} {'CPU':>5} {'RSS/call':>8}"
        )
        for n in [int(x) for x in args.calls.split(",")]:
            cpu0, _ = proc_stats(server.pid)
            wall0 = time.monotonic()
            url = f"ws://127.0.0.1:{port}/audiohook"
            results = asyncio.run(_gather(url, call, args.speed, n))
            cpu1, rss = proc_stats(server.pid)
            cpu = (cpu1 - cpu0) / (time.monotonic() - wall0)
            wer, channel_share, offset = score(call, results)
            finals = [f[4] for r in results for f in r.finals]
            partials = [p for r in results for p in r.partial_latencies]
            opened = [r.opened_ms for r in results]
            rtts = [x for r in results for x in r.rtts_ms]
            violations = sum(len(r.violations) for r in results)
            print(
                f"{n:>5} {wer:>6.1%} {channel_share:>7.1%} {offset:>5.2f}s {pct(finals, 50):>8.2f}s "
                f"{pct(finals, 95):>5.2f} {max(finals, default=float('nan')):>5.2f} {pct(partials, 50):>10.2f}s "
                f"{pct(partials, 95):>5.2f} {pct(opened, 99):>8.1f}ms {pct(rtts, 99):>6.1f}ms {cpu:>5.0%} "
                f"{(rss - idle_rss) / max(n, 1) / 2**20:>6.1f}MiB"
                + (f"  ({violations} violations)" if violations else "")
            )
    return 0


async def _gather(url: str, call: Call, speed: float, n: int) -> list[CallResult]:
    tasks = []
    for _ in range(n):
        tasks.append(asyncio.create_task(run_call(url, call, speed)))
        await asyncio.sleep(0.37)  # calls do not all start on the same frame
    return list(await asyncio.gather(*tasks))


if __name__ == "__main__":
    sys.exit(main())
