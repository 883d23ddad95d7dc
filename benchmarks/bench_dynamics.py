"""Conversation dynamics, end to end: timed scripted calls through the real server, against the truth.

    .venv/bin/python benchmarks/bench_dynamics.py [--speed 2] [--concurrency 2] [--calls ID ...]
                                                  [--keep DIR] [-- server flags...]

Why it exists: talk time, overtalk, interruptions, dead air, the longest silence, holds, speech rate and
response latency (the ``dynamics`` object of ``<session>.summary.json``) are measured by the server on
audio, and only a call whose timing is known to the frame can say how far off they are. The eight calls of
``benchmarks/dynamics_set.py`` (Festival voices, customer on channel 0 "external", agent on channel 1
"internal"; interruptions both ways, back-channels, silences of 3-12 s, a silent hold and a hold with
music) are rendered once (cached under ``~/.cache/audiohook-server/bench-dynamics``), streamed as signed
Genesys stereo mu-law sessions to ``audiohook-server`` started as a subprocess, and each session's
``summary.json`` ``dynamics`` is set beside the truth measured from the placed audio.

Per call: a table of truth, measured and absolute error (seconds; words per minute for the rates; counts
for overlaps and interruptions). Then the mean absolute error per quantity and how many calls are within
0.3 s for overtalk and for the longest silence. A summary without ``dynamics`` is reported and skipped.
Needs festival, festvox-us-slt-hts and sox (Debian packages). Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine, serve, stream_genesys_stereo  # noqa: E402
from benchmarks.dynamics_set import CALLS, HELDOUT_CALLS, DynamicsTruth, RenderedDynamicsCall, rendered  # noqa: E402

KEY = "bench-dynamics-key"
SECRET = b"bench-dynamics-client-secret-0123456789"
SPEAKERS = ("customer", "agent")
WITHIN_S = 0.3


@dataclass(frozen=True)
class MeasuredDynamics:
    """The server's ``dynamics`` (``<session>.summary.json``), as far as the benchmark scores it."""

    basis: str
    talk_s: dict[str, float]
    speech_rate_wpm: dict[str, float]
    overtalk_s: float
    overtalk_count: int
    interruptions: int
    interruptions_by: dict[str, int]
    dead_air_s: float
    longest_silence_s: float
    longest_silence_start: float
    hold_s: float
    mean_latency_s: float | None
    latency_count: int

    @classmethod
    def from_summary(cls, raw: dict[str, Any]) -> MeasuredDynamics:
        speakers = raw["speakers"]
        latency = raw["response_latency_s"]
        count = int(latency["count"])
        return cls(
            basis=str(raw["basis"]),
            talk_s={s: float(speakers[s]["talk_s"]) for s in SPEAKERS if s in speakers},
            speech_rate_wpm={s: float(speakers[s]["speech_rate_wpm"]) for s in SPEAKERS if s in speakers},
            overtalk_s=float(raw["overtalk_s"]),
            overtalk_count=int(raw["overtalk_count"]),
            interruptions=len(raw["interruptions"]),
            interruptions_by={s: sum(i["by"] == s for i in raw["interruptions"]) for s in SPEAKERS},
            dead_air_s=float(raw["dead_air_s"]),
            longest_silence_s=float(raw["longest_silence_s"]),
            longest_silence_start=float(raw["longest_silence_start"]),
            hold_s=float(raw["hold_s"]),
            mean_latency_s=float(latency["mean"]) if count else None,
            latency_count=count,
        )


@dataclass(frozen=True)
class SessionResult:
    """What one streamed call left behind: its session id, and its dynamics (None: absent) or why not."""

    session_id: str
    dynamics: MeasuredDynamics | None
    problem: str = ""
    wall_s: float = 0.0


@dataclass(frozen=True)
class Row:
    """One quantity of one call: the truth, the server's value, and the unit of their difference."""

    name: str
    truth: float | None
    measured: float | None
    unit: str = "s"

    @property
    def error(self) -> float | None:
        return None if self.truth is None or self.measured is None else abs(self.measured - self.truth)


async def through_server(url: str, audio: npt.NDArray[np.int16], recordings: Path, speed: float) -> SessionResult:
    """Stream the call as a Genesys stereo mu-law session; read its summary's ``dynamics``."""
    began = time.monotonic()
    session = await stream_genesys_stereo(url, KEY, SECRET, audio, recordings, speed)
    summary_path = recordings / f"{session}.summary.json"
    wall = time.monotonic() - began
    if not summary_path.exists():
        return SessionResult(session, None, "no summary.json written", wall)
    summary = json.loads(summary_path.read_text())
    raw = summary.get("dynamics")
    if not isinstance(raw, dict):
        return SessionResult(session, None, "summary has no dynamics (not implemented yet)", wall)
    try:
        return SessionResult(session, MeasuredDynamics.from_summary(raw), "", wall)
    except (KeyError, TypeError, ValueError) as error:
        return SessionResult(session, None, f"dynamics not in the expected shape: {error!r}", wall)


async def run_all(
    url: str, calls: Sequence[RenderedDynamicsCall], recordings: Path, speed: float, concurrency: int
) -> list[SessionResult]:
    limit = asyncio.Semaphore(concurrency)

    async def one(call: RenderedDynamicsCall) -> SessionResult:
        async with limit:
            return await through_server(url, call.audio, recordings, speed)

    return list(await asyncio.gather(*(one(call) for call in calls)))


def rows(truth: DynamicsTruth, measured: MeasuredDynamics) -> list[Row]:
    """Truth against the server, quantity by quantity (the totals average these by name)."""
    out = [
        Row("overtalk_s", truth.overtalk_s, measured.overtalk_s),
        Row("longest_silence_s", truth.longest_silence_s, measured.longest_silence_s),
        Row("longest_silence_start", truth.longest_silence_start, measured.longest_silence_start),
        Row("dead_air_s", truth.dead_air_s, measured.dead_air_s),
        Row("hold_s", truth.hold_s, measured.hold_s),
    ]
    out += [Row(f"talk_s {s}", truth.speakers[s].talk_s, measured.talk_s.get(s)) for s in SPEAKERS]
    out += [
        Row(f"speech_rate_wpm {s}", truth.speakers[s].speech_rate_wpm, measured.speech_rate_wpm.get(s), "wpm")
        for s in SPEAKERS
    ]
    out += [
        Row("overlaps (overtalk_count)", truth.overtalk_count, measured.overtalk_count, "count"),
        Row("interruptions", truth.interruptions, measured.interruptions, "count"),
    ]
    out += [
        Row(f"interruptions by {s}", truth.speakers[s].interruptions, measured.interruptions_by[s], "count")
        for s in SPEAKERS
    ]
    out.append(Row("mean response latency_s", truth.mean_latency_s, measured.mean_latency_s))
    return out


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if unit == "count" else f"{value:.1f}" if unit == "wpm" else f"{value:.2f}"


def print_call(call: RenderedDynamicsCall, result: SessionResult) -> list[Row]:
    truth = call.truth
    print(f"\n### {call.call.id}: {call.call.description}")
    print(f"{truth.duration_s:.1f} s, {len(call.call.turns)} turns; session {result.session_id}, {result.wall_s:.0f} s")
    if result.dynamics is None:
        print(result.problem)
        return []
    print(f"basis: {result.dynamics.basis}\n")
    table = rows(truth, result.dynamics)
    print("| quantity | truth | measured | abs error |\n|---|---|---|---|")
    for row in table:
        error = _cell(row.error, row.unit)
        print(f"| {row.name} | {_cell(row.truth, row.unit)} | {_cell(row.measured, row.unit)} | {error} |")
    return table


def print_totals(tables: Sequence[list[Row]]) -> None:
    scored = [table for table in tables if table]
    print(f"\n## totals ({len(scored)} of {len(tables)} calls with dynamics)")
    if not scored:
        return
    print("| quantity | mean abs error | calls |\n|---|---|---|")
    for index, first in enumerate(scored[0]):
        errors = [e for table in scored if (e := table[index].error) is not None]
        mean = sum(errors) / len(errors) if errors else None
        print(f"| {first.name} | {_cell(mean, 'wpm' if first.unit == 'wpm' else 's')} | {len(errors)} |")
    for name in ("overtalk_s", "longest_silence_s"):
        within = sum(
            1
            for table in scored
            for row in table
            if row.name == name and (e := row.error) is not None and e <= WITHIN_S
        )
        print(f"{name} within {WITHIN_S} s: {within}/{len(scored)} calls")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=2.0, help="streaming speed (x real time)")
    parser.add_argument("--concurrency", type=int, default=2, help="calls streamed at a time")
    parser.add_argument(
        "--calls",
        nargs="+",
        metavar="ID",
        help="only these calls (ids of dynamics_set.CALLS, or of HELDOUT_CALLS with --heldout)",
    )
    parser.add_argument("--heldout", action="store_true", help="the held-out calls (HELDOUT_CALLS), not the eight")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the sessions' files (CSV, summary, WAV) in DIR")
    parser.add_argument("server_args", nargs="*", help="extra audiohook-server flags (after --)")
    args = parser.parse_args()

    pool = HELDOUT_CALLS if args.heldout else CALLS
    chosen = [c for c in pool if not args.calls or c.id in args.calls]
    if not chosen:
        raise SystemExit(f"no such call; the calls are: {', '.join(c.id for c in pool)}")
    began = time.monotonic()
    prepared = [rendered(call) for call in chosen]
    render_s = time.monotonic() - began
    with tempfile.TemporaryDirectory() as tmp:
        recordings = args.keep or Path(tmp)
        recordings.mkdir(parents=True, exist_ok=True)
        with serve(recordings, KEY, SECRET, args.server_args) as served:
            url = f"ws://127.0.0.1:{served.port}/audiohook"
            began = time.monotonic()
            results = asyncio.run(run_all(url, prepared, recordings, args.speed, args.concurrency))
            wall = time.monotonic() - began

    seconds = sum(len(call.audio) for call in prepared) / 8000
    print(f"machine: {machine()}")
    flags = " ".join(args.server_args) or "defaults"
    print(
        f"server: {flags} (ready in {served.ready_s:.1f} s); {len(prepared)} calls rendered or loaded in "
        f"{render_s:.0f} s, {seconds:.0f} s of audio streamed at {args.speed}x, {args.concurrency} at a time, "
        f"in {wall:.0f} s"
    )
    tables = [print_call(call, result) for call, result in zip(prepared, results, strict=True)]
    print_totals(tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
