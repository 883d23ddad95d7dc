"""End to end: labelled scripted calls, spoken, streamed through the real server, scored on the CSV.

    .venv/bin/python benchmarks/bench_call_analytics.py [--split test] [--speed 2] [--concurrency 2]
                                                        [--show-errors] [-- server flags...]

Every call in ``benchmarks/analysis_data/calls/`` (and ``live_calls/``, rounds 5 on) is spoken by
Festival's HTS voice (the agent's pitched down, ``scripts/make_fixtures.FESTIVAL_VOICES``; the script's
own pauses kept, e.g. holds), made a telephone call (8 kHz mu-law, customer on channel 0, agent on
channel 1, 300-3400 Hz; ``scripts/make_fixtures.render_call``) and streamed as a signed Genesys
AudioHook session to ``audiohook-server`` started as a subprocess.
What is scored is what a QA team reads: the session's CSV (``utterance_sentiment``,
``utterance_categories``) and ``<session>.summary.json`` (agent score and its breakdown, summary
parts). Turns are matched to rows by speaker and time (``benchmarks.analytics_scoring``). Beside it, the same
analysis on the script's text (one row per turn, no recogniser), so recognition's share of the errors
shows.

Per call: per-turn sentiment agreement (text / CSV), turns without a row, the agent score against
the human rating, whether the summary's issue and outcome come from the turns a person marked. Per
split: category precision/recall per turn (text / CSV). Needs festival, festvox-us-slt-hts and sox
(Debian packages);
rendered audio is cached under ``~/.cache/audiohook-server/bench-calls``. Run by hand, not in CI.
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

import numpy as np
import numpy.typing as npt
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis import CallAnalyzer, Utterance  # noqa: E402
from analysis.backends import AnalysisModels, load_analysis_backend  # noqa: E402
from analysis.categories import CATEGORY_NAMES  # noqa: E402
from analysis.config import AnalysisConfig  # noqa: E402
from analysis.model_cache import default_cache_root, text_sha256  # noqa: E402
from audiohook_server.audio.wav_files import read_wav  # noqa: E402
from benchmarks.analytics_scoring import (  # noqa: E402
    CallScore,
    LabelledTurn,
    PredictedRow,
    best_turn,
    labelled_turns,
    merge_counts,
    outcome_quote,
    predicted_rows,
    score_call,
)
from benchmarks.common import machine, serve, stream_genesys_stereo  # noqa: E402
from scripts.make_fixtures import FESTIVAL_VOICES, render_labelled_call  # noqa: E402

DATA = ROOT / "benchmarks" / "analysis_data" / "calls"
LIVE_DATA = ROOT / "benchmarks" / "analysis_data" / "live_calls"  # rounds 5 on, the same labels and more
CACHE = default_cache_root() / "bench-calls"
KEY = "bench-analytics-key"
SECRET = b"bench-analytics-client-secret-0123456789"


@dataclass
class CallOutcome:
    """What one call produced: rows, agent score, summary parts (from the CSV/summary or the text)."""

    rows: list[PredictedRow]
    agent_score: int
    breakdown: dict[str, float]
    summary_parts: dict[str, str]
    outcome: str = ""  # the call's outcome (analysis.decisions)
    running: list[str] | None = None  # each CSV row's running_sentiment, in the rows' order


def load_calls(split: str | None, round_: str | None = None) -> list[dict[str, object]]:
    paths = [*sorted(DATA.glob("*.json")), *sorted(LIVE_DATA.glob("*.json"))]
    calls = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    calls = [c for c in calls if split in (None, c["split"])]
    return [c for c in calls if round_ is None or str(c.get("round")) == round_]


def spoken(call: dict[str, object]) -> tuple[npt.NDArray[np.int16], list[LabelledTurn]]:
    """The call as stereo 8 kHz audio and its turns with the rendered timings (cached on disk)."""
    turns = labelled_turns(call)
    key_material = [[(t.speaker, t.text, t.start, t.end) for t in turns], FESTIVAL_VOICES]
    key = text_sha256(json.dumps(key_material))[:16]
    folder = CACHE / f"{call['id']}-{key}"
    timed_file = folder / "call.json"
    if not timed_file.exists():
        timed_file.parent.mkdir(parents=True, exist_ok=True)
        timed_file.write_text(json.dumps(render_labelled_call(dict(call), folder)))
    audio, rate = read_wav(folder / "call.wav")
    if rate != 8000 or audio.ndim != 2:
        raise SystemExit(f"{folder / 'call.wav'}: expected stereo 8 kHz")
    return audio, labelled_turns(json.loads(timed_file.read_text()))


def on_text(turns: Sequence[LabelledTurn], models: AnalysisModels) -> CallOutcome:
    """The analyser on the script's text: one row per turn."""
    analyzer = CallAnalyzer(models=models)
    rows = []
    for turn in turns:
        channel = 0 if turn.speaker == "customer" else 1
        result = analyzer.add(Utterance(turn.text, turn.start, turn.end, channel, turn.speaker))
        categories = frozenset(hit.category for hit in result.hits)
        rows.append(PredictedRow(turn.speaker, turn.start, turn.end, turn.text, result.sentiment, categories))
    final = analyzer.analysis()
    assert final is not None
    return CallOutcome(rows, final.agent_score, dict(final.agent_score_breakdown), dict(final.summary_parts))


async def through_server(url: str, audio: npt.NDArray[np.int16], recordings: Path, speed: float) -> CallOutcome:
    """Stream the call as a Genesys session; read its CSV and summary file."""
    session = await stream_genesys_stereo(url, KEY, SECRET, audio, recordings, speed)
    csv_path = recordings / f"{session}.csv"
    summary_path = csv_path.with_suffix(".summary.json")
    frame = pd.read_csv(csv_path, keep_default_na=False)
    rows = predicted_rows(frame.to_dict("records"))
    summary = json.loads(summary_path.read_text())
    return CallOutcome(
        rows,
        int(summary["agent_score"]["score"]),
        dict(summary["agent_score"]["components"]),
        dict(summary["summary_parts"]),
        str(summary.get("outcome", "")),
        [str(value) for value in frame.get("running_sentiment", pd.Series(dtype=str))],
    )


def state_agreement(call: dict[str, object], turns: Sequence[LabelledTurn], audio: CallOutcome) -> tuple[int, int]:
    """Turns whose labelled call_state equals the CSV's running_sentiment as of that turn (the last row that
    ended by the turn's end; neutral before any): (agreed, labelled)."""
    raw = call["turns"]
    assert isinstance(raw, list)
    running = audio.running or []
    agreed = labelled = 0
    for turn, labels in zip(turns, raw, strict=True):
        state = labels.get("call_state") if isinstance(labels, dict) else None
        if state is None:
            continue
        ended = [value for row, value in zip(audio.rows, running, strict=False) if row.end <= turn.end + 0.5]
        labelled += 1
        agreed += (ended[-1] if ended and ended[-1] else "neutral") == state
    return agreed, labelled


async def run_all(
    url: str, calls: Sequence[npt.NDArray[np.int16]], recordings: Path, speed: float, concurrency: int
) -> list[CallOutcome]:
    limit = asyncio.Semaphore(concurrency)

    async def one(audio: npt.NDArray[np.int16]) -> CallOutcome:
        async with limit:
            return await through_server(url, audio, recordings, speed)

    return list(await asyncio.gather(*(one(audio) for audio in calls)))


def summary_check(parts: dict[str, str], turns: Sequence[LabelledTurn], call: dict[str, object]) -> str:
    marks = []
    for part, key in (("issue", "issue_turns"), ("outcome", "outcome_turns")):
        wanted = call.get(key)
        if not isinstance(wanted, list):
            marks.append(f"{part} ?")
            continue
        found = best_turn(parts.get(part, ""), turns)
        marks.append(f"{part} {'yes' if found in wanted else 'no'}")
    return ", ".join(marks)


def human_score(call: dict[str, object]) -> str:
    value = call.get("agent_score")
    return str(value) if value is not None else "?"


def category_cells(scores: Sequence[CallScore]) -> dict[str, str]:
    merged = merge_counts(scores)
    return {name: f"{c.precision:.2f} / {c.recall:.2f}" for name, c in merged.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["dev", "test"], help="only the calls of one split")
    parser.add_argument("--round", dest="round_", help="only the calls of one labelling round (e.g. 4)")
    parser.add_argument("--speed", type=float, default=2.0, help="streaming speed (x real time)")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--show-errors", action="store_true", help="print the turns scored as wrong")
    parser.add_argument("server_args", nargs="*", help="extra audiohook-server flags (after --)")
    args = parser.parse_args()

    calls = load_calls(args.split, args.round_)
    prepared = [spoken(call) for call in calls]
    models = load_analysis_backend(AnalysisConfig())
    text_outcomes = [on_text(turns, models) for _, turns in prepared]
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp), KEY, SECRET, args.server_args) as served:
        url = f"ws://127.0.0.1:{served.port}/audiohook"
        began = time.monotonic()
        audio_outcomes = asyncio.run(
            run_all(url, [audio for audio, _ in prepared], Path(tmp), args.speed, args.concurrency)
        )
        wall = time.monotonic() - began

    seconds = sum(len(audio) for audio, _ in prepared) / 8000
    print(f"machine: {machine()}")
    flags = " ".join(args.server_args) or "defaults"
    print(
        f"server: {flags}; {len(calls)} calls, {seconds:.0f} s of audio streamed at {args.speed}x, "
        f"{args.concurrency} at a time, in {wall:.0f} s\n"
    )
    print(
        "| call | split | turns | sentiment agreement text / CSV | no row | agent score auto text / CSV (human) "
        "| summary (CSV) |"
    )
    print("|---|---|---|---|---|---|---|")
    scores: dict[tuple[str, str], list[CallScore]] = {}
    for call, (_, turns), text, audio in zip(calls, prepared, text_outcomes, audio_outcomes, strict=True):
        text_score = score_call(turns, text.rows, CATEGORY_NAMES)
        audio_score = score_call(turns, audio.rows, CATEGORY_NAMES)
        scores.setdefault((str(call["split"]), "text"), []).append(text_score)
        scores.setdefault((str(call["split"]), "csv"), []).append(audio_score)
        print(
            f"| {call['id']} | {call['split']} | {len(turns)} | {text_score.agreement:.0%} / "
            f"{audio_score.agreement:.0%} | {audio_score.missed} | {text.agent_score} / {audio.agent_score} "
            f"({human_score(call)}) | {summary_check(audio.summary_parts, turns, call)} |"
        )
        if args.show_errors:
            for turn, predicted in audio_score.disagreements:
                print(f"    sentiment {turn.sentiment} -> {predicted}: {turn.speaker}: {turn.text}")
                heard = [
                    r.text
                    for r in audio.rows
                    if r.speaker == turn.speaker and r.end > turn.start and r.start < turn.end
                ]
                print(f"        heard: {' / '.join(heard)}")
            for turn, fired in audio_score.category_errors:
                print(f"    categories {sorted(turn.categories)} -> {sorted(fired)}: {turn.text}")
            print(f"    agent score breakdown (CSV): {audio.breakdown}")
    typed: dict[str, list[int]] = {}
    for call, (_, turns), audio in zip(calls, prepared, audio_outcomes, strict=True):
        if not call.get("call_type"):
            continue
        totals = typed.setdefault(str(call["call_type"]), [0, 0, 0, 0, 0, 0])
        agreed, labelled = state_agreement(call, turns, audio)
        totals[0] += audio.outcome == call.get("outcome")
        totals[1] += 1
        totals[2] += agreed
        totals[3] += labelled
        wanted = set(call.get("outcome_turns") or ())  # type: ignore[call-overload]
        if isinstance(call.get("decision_turn"), int):
            wanted.add(call["decision_turn"])
        totals[4] += best_turn(outcome_quote(audio.summary_parts.get("outcome", "")), turns) in wanted
        totals[5] += 1
        if args.show_errors and audio.outcome != call.get("outcome"):
            print(f"    {call['id']}: outcome {audio.outcome or '-'} (labelled {call.get('outcome')})")
    if typed:
        print("\nthrough the server (CSV, summary.json): per call type")
        print("| call type | outcome right | summary outcome from the decision | running_sentiment = call state |")
        print("|---|---|---|---|")
        for kind, (right, n, agreed, labelled, quoted, m) in sorted(typed.items()):
            print(f"| {kind} | {right}/{n} | {quoted}/{m} | {agreed}/{labelled} ({agreed / max(labelled, 1):.0%}) |")
    for split in sorted({str(c["split"]) for c in calls}):
        text_scores, audio_scores = scores[(split, "text")], scores[(split, "csv")]
        turns_n = sum(s.turns for s in audio_scores)
        agree_text = sum(s.agreed for s in text_scores) / turns_n
        agree_csv = sum(s.agreed for s in audio_scores) / turns_n
        print(f"\n{split}: {turns_n} turns, sentiment agreement text {agree_text:.1%}, CSV {agree_csv:.1%}")
        print("| category | text P / R | CSV P / R |\n|---|---|---|")
        text_cells, csv_cells = category_cells(text_scores), category_cells(audio_scores)
        for name in CATEGORY_NAMES:
            print(f"| {name} | {text_cells[name]} | {csv_cells[name]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
