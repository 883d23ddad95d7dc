"""Benchmark: concurrent real-time stereo Genesys calls against the real server.

Starts `audiohook-server` as a subprocess, then drives N concurrent AudioHook v2 sessions (signed,
pinging every 5 s, stereo 8 kHz PCMU, 200 ms frames, paced in real time) with the independent test
client (audiohook_server/client/genesys.py), and prints one row per N:

- WER of the finals against the script, share of words on the right channel, median offset error;
- final latency: the final's arrival minus the moment its last word was spoken (Whisper's word
  timing; the client paces audio like a live source), p50/p95/max, and the same for partials;
- opened latency and pong round trip, p99;
- server CPU (share of one core) and resident memory, from /proc.

Calls: the scripted espeak-ng call (tests/fixtures/dialogue), the labelled Festival call
(tests/fixtures/analytics) and a real-speech call made from the five LibriVox clips (alternating
customer/agent on the two channels, telephone band: resampled to 8 kHz and
μ-law coded, the way a phone line carries speech). Run by hand:

    .venv/bin/python benchmarks/bench_genesys.py --calls 1,4,8 [--call librivox|espeak|labelled] [-- server flags…]
    .venv/bin/python benchmarks/bench_genesys.py --sweep --compare 'tiny.en full=--encoder-window full' \\
        --compare 'base fit=--whisper-model base'     # the capacity table, configurations side by side
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
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
from audiohook_server.client.genesys import GenesysClient, media_offer  # noqa: E402
from benchmarks.common import machine, serve  # noqa: E402
from benchmarks.wer import normalize_text, word_error_rate  # noqa: E402
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


def labelled_call() -> Call:
    """The held-out labelled call of tests/fixtures/analytics (Festival voices, 114.6 s, 20 turns)."""
    samples, rate = read_wav(FIXTURES / "analytics" / "call_stereo8k_ulaw.wav")
    assert rate == 8000
    script = json.loads((FIXTURES / "analytics" / "call.json").read_text())
    channels = {"external": 0, "internal": 1}  # the stereo file's order: customer, agent
    turns = tuple(ScriptTurn(channels[t["channel"]], t["start"], t["end"], t["text"]) for t in script["turns"])
    return Call("labelled Festival call (8 kHz μ-law)", samples, turns)


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


def turn_errors(call: Call, results: list[CallResult]) -> tuple[float, float]:
    """Splits and merges per call against the script's turns: a turn whose words came in more than one
    final counts its extra finals as splits; a final that covers two turns (0.3 s of each, on its own
    channel) is a merge."""
    splits = merges = 0
    for result in results:
        per_turn: dict[int, int] = {}
        for channel, offset, end, _, _ in result.finals:
            overlaps = [
                (min(end, t.end) - max(offset, t.start), i) for i, t in enumerate(call.turns) if t.channel == channel
            ]
            covered = [i for overlap, i in overlaps if overlap > 0.3]
            merges += len(covered) > 1
            if overlaps and max(overlaps)[0] > 0:
                best = max(overlaps)[1]
                per_turn[best] = per_turn.get(best, 0) + 1
        splits += sum(count - 1 for count in per_turn.values())
    return splits / max(len(results), 1), merges / max(len(results), 1)


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


SWEEP = "1,8,16,24,32"
FINAL_P95_TARGET_S = 1.5
PARTIAL_P95_TARGET_S = 0.6


@dataclass
class Row:
    calls: int
    final_p95: float
    partial_p95: float
    pong_p99_ms: float
    rss_bytes: int  # the server's resident memory after the run (a high-water mark: it does not shrink)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="1,4,8", help="comma-separated numbers of concurrent calls")
    parser.add_argument("--sweep", action="store_true", help=f"the capacity sweep: --calls {SWEEP}")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=FLAGS",
        help="a server configuration to run the same calls against (repeatable; e.g. "
        "'base fit=--whisper-model base --encoder-window fit'); the summary compares them",
    )
    parser.add_argument("--call", choices=["librivox", "espeak", "labelled"], default="librivox")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the server with py-spy during each run (collapsed stacks in DIR) and print its top frames "
        "(the sampling costs CPU too: read latencies from a run without it)",
    )
    parser.add_argument("server_args", nargs="*", help="extra audiohook-server flags (after --)")
    args = parser.parse_args()
    call = {"librivox": librivox_call, "espeak": espeak_call, "labelled": labelled_call}[args.call]()
    counts = [int(x) for x in (SWEEP if args.sweep else args.calls).split(",")]
    configs = [tuple(c.split("=", 1)) for c in args.compare] or [("server", "")]
    print(f"machine: {machine()}")
    print(f"call: {call.name}, {len(call.audio) / 8000:.1f} s, {len(call.turns)} turns, speed {args.speed}x")
    summary = []
    for label, flags in configs:
        rows = run_config(call, counts, args.speed, [*flags.split(), *args.server_args], label, args.profile)
        summary.append((label, rows))
    print(f"\ncapacity: the most concurrent calls with final p95 <= {FINAL_P95_TARGET_S} s "
          f"(and partial p95 <= {PARTIAL_P95_TARGET_S} s)")  # fmt: skip
    for label, rows in summary:
        final_ok = [r.calls for r in rows if r.final_p95 <= FINAL_P95_TARGET_S]
        both_ok = [r.calls for r in rows if r.final_p95 <= FINAL_P95_TARGET_S and r.partial_p95 <= PARTIAL_P95_TARGET_S]
        rss = extra_call_rss_mib(rows)
        print(f"  {label:<24} {max(final_ok, default=0):>3} calls ({max(both_ok, default=0)} with partials); "
              f"RSS per extra call up to {rss:.1f} MiB")  # fmt: skip
    return 0


def extra_call_rss_mib(rows: list[Row]) -> float:
    """Memory each call beyond the first adds: the first run also pays the models' first-use buffers
    (about 85 MiB once), so calls are counted from the first row on."""
    first = rows[0] if rows else None
    growth = [
        (r.rss_bytes - first.rss_bytes) / (r.calls - first.calls) for r in rows[1:] if first and r.calls > first.calls
    ]
    return max(growth, default=float("nan")) / 2**20


def run_config(
    call: Call, counts: list[int], speed: float, server_args: list[str], label: str, profile: Path | None = None
) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp), KEY, SECRET, server_args) as served:
        server, port, ready_s = served.process, served.port, served.ready_s
        _, idle_rss = proc_stats(server.pid)
        flags = " ".join(server_args) or "defaults"
        print(f"\n{label}: {flags}; ready in {ready_s:.1f} s; idle RSS {idle_rss >> 20} MiB")
        print(
            f"{'calls':>5} {'WER':>6} {'channel':>7} {'offset':>6} {'final p50':>9} {'p95':>5} {'max':>5} "
            f"{'partial p50':>11} {'p95':>5} {'opened p99':>10} {'pong p99':>8} {'CPU':>5} {'RSS/call':>8} "
            f"{'splits':>6} {'merges':>6}"
        )
        for n in counts:
            cpu0, _ = proc_stats(server.pid)
            wall0 = time.monotonic()
            url = f"ws://127.0.0.1:{port}/audiohook"
            sampler = None
            if profile is not None:
                profile.mkdir(parents=True, exist_ok=True)
                stacks = profile / f"{''.join(c if c.isalnum() else '-' for c in label)}-{n}calls.txt"
                sampler = start_profiler(server.pid, stacks)
            results = asyncio.run(_gather(url, call, speed, n))
            cpu1, rss = proc_stats(server.pid)
            cpu = (cpu1 - cpu0) / (time.monotonic() - wall0)
            wer, channel_share, offset = score(call, results)
            finals = [f[4] for r in results for f in r.finals]
            partials = [p for r in results for p in r.partial_latencies]
            opened = [r.opened_ms for r in results]
            rtts = [x for r in results for x in r.rtts_ms]
            violations = sum(len(r.violations) for r in results)
            rss_per_call = (rss - idle_rss) / max(n, 1) / 2**20  # this row's: first-use buffers included
            splits, merges = turn_errors(call, results)
            print(
                f"{n:>5} {wer:>6.1%} {channel_share:>7.1%} {offset:>5.2f}s {pct(finals, 50):>8.2f}s "
                f"{pct(finals, 95):>5.2f} {max(finals, default=float('nan')):>5.2f} {pct(partials, 50):>10.2f}s "
                f"{pct(partials, 95):>5.2f} {pct(opened, 99):>8.1f}ms {pct(rtts, 99):>6.1f}ms {cpu:>5.0%} "
                f"{rss_per_call:>6.1f}MiB {splits:>6.1f} {merges:>6.1f}"
                + (f"  ({violations} violations)" if violations else ""),
                flush=True,
            )
            rows.append(Row(n, pct(finals, 95), pct(partials, 95), pct(rtts, 99), rss))
            if sampler is not None:
                sampler.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
                sampler.wait(60)
                print_profile(stacks)
    return rows


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling every thread of the server (100 Hz, Python frames, idle threads left out) into
    collapsed stacks: the sampling happens outside the process, so it barely slows what it measures."""
    command = [
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "--pid",
        str(pid),
        "--rate",
        "100",
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",  # sample without pausing the server (a paused loop would inflate the pong times)
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _function(frame: str) -> str:
    """`name (path/file.py:123)` -> `name (file.py)`: samples add up per function, not per line."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].rsplit('/', 1)[-1]})"


# Innermost frames of a thread that waits (for work, a lock, the selector): not time spent.
IDLE_FRAMES = ("_worker (thread.py)", "Condition.wait (threading.py)", "Event.wait (threading.py)",
               "EpollSelector.select (selectors.py)", "Thread.join (threading.py)")  # fmt: skip
# Frames every thread's stack starts with: left out of the total-time column.
STARTUP_FRAMES = ("Thread._bootstrap", "Thread._bootstrap_inner", "Thread.run", "_worker ", "_WorkItem.run",
                  "<module>", "_run_module_as_main", "_run_code", "main (", "Runner.run", "run (",
                  "BaseEventLoop.run_", "_run_once", "Handle._run", "Server.run", "Server.serve",
                  "Server._serve")  # fmt: skip


def print_profile(stacks: Path, top: int = 12) -> None:
    """Where the server's busy threads were: own time (the innermost frame) and total time (the frame
    anywhere on the stack), as shares of the busy samples (idle waits left out)."""
    if not stacks.exists():
        print(f"    (no profile: py-spy wrote nothing to {stacks}; it needs ptrace permission)")
        return
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = idle = 0
    for line in stacks.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";") if not frame.startswith(("process ", "thread ("))]
        if not frames:
            continue
        if frames[-1] in IDLE_FRAMES:
            idle += count
            continue
        samples += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            if not frame.startswith(STARTUP_FRAMES):
                total[frame] = total.get(frame, 0) + count
    print(f"    profile of {stacks.name}: {samples} busy samples ({idle} idle left out); own time | total time")
    by_own = sorted(own.items(), key=lambda kv: -kv[1])[:top]
    by_total = sorted(total.items(), key=lambda kv: -kv[1])[:top]
    for (frame, count), (frame_total, count_total) in zip(by_own, by_total, strict=False):
        print(f"    {count / samples:>6.1%} {frame[:58]:<58} | {count_total / samples:>6.1%} {frame_total[:58]}")


async def _gather(url: str, call: Call, speed: float, n: int) -> list[CallResult]:
    tasks = []
    for _ in range(n):
        tasks.append(asyncio.create_task(run_call(url, call, speed)))
        await asyncio.sleep(0.37)  # calls do not all start on the same frame
    return list(await asyncio.gather(*tasks))


if __name__ == "__main__":
    sys.exit(main())
