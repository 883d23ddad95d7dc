"""Live analytics against labels nobody tuned to: 7-way emotion, PAD, moments, transitions, cost.

    .venv/bin/python benchmarks/bench_live_analytics.py [--split dev|test|all] [--round N] [--calls-only]
                                                        [--voice] [--show]

Why it exists: the live analytics (``analysis.live``: emotion as a 7-way distribution and PAD,
moments, customer-state transitions) are rules over the text models' outputs, and only labelled
calls can say how often they are right. The labels are ``benchmarks/analysis_data/live/``
(utterances with ``emotion7`` and ``pad``) and ``benchmarks/analysis_data/live_calls/`` (calls with
per-turn ``moments`` and per-call ``transitions``), written by annotators who did not read the code
(``LABELLING.md``): the dev split (annotator A, p*, call_l*) was used to write the rules, the test split
(annotator B, q*, call_v*) was scored once with everything frozen.

Reported:
* utterances: 7-way accuracy and macro-F1, PAD Pearson r and mean absolute error per axis, for the
  text alone and (``--voice``) text + voice, where the voice is each utterance rendered with Festival
  (the same synthetic voices as the rendered calls: they carry no emotion, which is the point: no
  recorded emotional speech can be installed here) and measured by ``analysis.prosody`` against the
  speaker's running baseline; the Mehrabian-anchor baseline (the distribution's expected PAD alone,
  no sentiment, no cues) beside them;
* calls: per-moment precision and recall (a predicted moment is right when the labelled turn has that
  moment), transitions: the labelled transitions with a predicted one at the same customer turn or the
  customer turn just before or after it (hit rate within one utterance), the same with the right
  to_state, and the predicted transitions that match a labelled one (precision);
* cost per utterance on one core: the live analytics' own work (``LiveAnalytics.add`` and ``view``)
  and the whole ``CallAnalyzer.add`` + ``analysis()`` with the text models (torch 1 thread).
The calls are fed to ``CallAnalyzer`` as text with the annotated times (the server adds audio timing
and Whisper's errors; ``bench_dynamics.py`` measures the timing through the real server). Run by hand.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis import AnalysisConfig, CallAnalyzer, Utterance, load_analysis_backend  # noqa: E402
from analysis.backends import AnalysisModels  # noqa: E402
from analysis.emotion_pad import ANCHORS, EKMAN_LABELS, pad_emotion  # noqa: E402
from analysis.live import LiveAnalytics  # noqa: E402
from analysis.moments import MOMENT_LABELS  # noqa: E402
from analysis.prosody import ProsodyBaseline, ProsodyChange, measure  # noqa: E402
from analysis.summary import utterance_features  # noqa: E402
from benchmarks.common import machine  # noqa: E402

DATA = ROOT / "benchmarks" / "analysis_data"
UTTERANCES = {"dev": DATA / "live" / "utterances.jsonl", "test": DATA / "live" / "utterances_heldout.jsonl"}
CALLS = DATA / "live_calls"
AXES = ("valence", "arousal", "dominance")
WINDOW = 1  # customer utterances either side of a labelled transition


def _read_utterances(split: str) -> list[dict[str, Any]]:
    paths = list(UTTERANCES.values()) if split == "all" else [UTTERANCES[split]]
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


def read_calls(split: str, round_: int | None = None) -> list[dict[str, Any]]:
    """The labelled live calls of `split` ("dev", "test" or "all"), of one labelling round if given."""
    calls = [json.loads(path.read_text()) for path in sorted(CALLS.glob("call_*.json"))]
    return [c for c in calls if (split == "all" or c["split"] == split) and round_ in (None, c.get("round"))]


def _pearson(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) < 2 or statistics.pstdev(a) == 0 or statistics.pstdev(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    scores = []
    for label in EKMAN_LABELS:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label and g != label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else float("nan")


def _voices(rows: list[dict[str, Any]]) -> list[ProsodyChange | None]:
    """Each utterance rendered with the rendered calls' Festival voices, measured against its speaker's
    running baseline (in file order)."""
    from scripts.make_fixtures import FESTIVAL_VOICES, SAMPLE_RATE, synthesise

    baselines: dict[str, ProsodyBaseline] = {}
    found: list[ProsodyChange | None] = []
    with tempfile.TemporaryDirectory() as work:
        for index, row in enumerate(rows):
            speaker = row["speaker"] if row["speaker"] in FESTIVAL_VOICES else "customer"
            samples = synthesise(row["text"], FESTIVAL_VOICES[speaker], Path(work), index)
            prosody = measure(np.asarray(samples, dtype=np.float32), SAMPLE_RATE)
            duration = len(samples) / SAMPLE_RATE
            words = len(row["text"].split())
            found.append(baselines.setdefault(speaker, ProsodyBaseline()).change(prosody, words / duration))
    return found


def _anchor_pad(distribution: dict[str, float]) -> tuple[float, float, float]:
    return tuple(sum(distribution[k] * ANCHORS[k][axis] for k in EKMAN_LABELS) for axis in range(3))  # type: ignore[return-value]


def score_utterances(models: AnalysisModels, rows: list[dict[str, Any]], voice: bool, show: bool) -> None:
    changes = _voices(rows) if voice else [None] * len(rows)
    variants: dict[str, list[tuple[float, float, float]]] = {"anchors only": [], "text": [], "text + voice": []}
    predicted: list[str] = []
    for row, change in zip(rows, changes, strict=True):
        found = models.analyse(row["text"], 0.0, row["speaker"], utterance_features(row["text"]).sentences).result
        text = pad_emotion(row["text"], found.emotion_scores, found.sentiment_score)
        predicted.append(text.label)
        variants["anchors only"].append(_anchor_pad(text.distribution))
        variants["text"].append((text.pad.valence, text.pad.arousal, text.pad.dominance))
        if change is not None:
            both = pad_emotion(row["text"], found.emotion_scores, found.sentiment_score, change)
            variants["text + voice"].append((both.pad.valence, both.pad.arousal, both.pad.dominance))
        if show and text.label != row["emotion7"]:
            print(f"  {row['id']} gold {row['emotion7']:<8} got {text.label:<8} {row['text'][:90]}")
    gold = [row["emotion7"] for row in rows]
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(rows)
    print(
        f"\n7-way emotion, {len(rows)} utterances: accuracy {accuracy:.3f}, macro-F1 {_macro_f1(gold, predicted):.3f}"
    )
    confusion = Counter(zip(gold, predicted, strict=True))
    for label in EKMAN_LABELS:
        row_counts = {p: confusion[(label, p)] for p in EKMAN_LABELS if confusion[(label, p)]}
        print(f"  {label:<9} -> {row_counts}")
    print("\nPAD against the labels (Pearson r / mean absolute error):")
    print(f"  {'variant':<14}" + "".join(f"{axis:>20}" for axis in AXES))
    for name, values in variants.items():
        if not values:
            print(f"  {name:<14} (run with --voice)")
            continue
        cells = []
        for axis_index, axis in enumerate(AXES):
            truth = [float(row["pad"][axis]) for row in rows]
            mine = [v[axis_index] for v in values]
            mae = statistics.fmean(abs(a - b) for a, b in zip(mine, truth, strict=True))
            cells.append(f"{_pearson(mine, truth):>11.3f} / {mae:.3f}")
        print(f"  {name:<14}" + "".join(f"{c:>20}" for c in cells))


@dataclass
class _Timed:
    """LiveAnalytics with its add/view timed (the live analytics' own cost)."""

    inner: LiveAnalytics
    seconds: list[float] = field(default_factory=list)

    @property
    def voice(self) -> bool:
        return self.inner.voice

    def add(self, item: Any) -> Any:
        began = time.perf_counter()
        try:
            return self.inner.add(item)
        finally:
            self.seconds.append(time.perf_counter() - began)

    def view(self, context: Any) -> Any:
        began = time.perf_counter()
        try:
            return self.inner.view(context)
        finally:
            self.seconds[-1] += time.perf_counter() - began


@dataclass
class _Tally:
    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)


def _near(customer_turns: list[int], a: int, b: int) -> bool:
    """Turns ``a`` and ``b`` are within WINDOW customer utterances of each other."""
    if a not in customer_turns or b not in customer_turns:
        return abs(a - b) <= 2 * WINDOW
    return abs(customer_turns.index(a) - customer_turns.index(b)) <= WINDOW


def score_calls(models: AnalysisModels, calls: list[dict[str, Any]], show: bool, labels: str = "moments") -> None:
    tally = _Tally()
    gold_transitions = hits = hits_state = predicted_transitions = matched_predictions = 0
    live_seconds: list[float] = []
    total_seconds: list[float] = []
    for call in calls:
        analyzer = CallAnalyzer(models=models, goal=call.get("goal", ""))
        timed = _Timed(analyzer._live)
        analyzer._live = timed  # type: ignore[assignment]
        turn_of: dict[str, int] = {}
        predicted: set[tuple[int, str]] = set()
        read_as: list[str] = []  # the sentiment and emotion each turn was read with, for --show
        transitions: list[tuple[int, str]] = []
        for index, turn in enumerate(call["turns"]):
            utterance_id = f"{call['id']}#{index}"
            turn_of[utterance_id] = index
            began = time.perf_counter()
            result = analyzer.add(
                Utterance(
                    turn["text"],
                    float(turn["start"]),
                    float(turn["end"]),
                    0 if turn["speaker"] == "customer" else 1,
                    turn["speaker"],
                    utterance_id=utterance_id,
                )
            )
            analyzer.analysis()
            total_seconds.append(time.perf_counter() - began)
            live_seconds.append(timed.seconds[-1])
            predicted |= {(index, m.category) for m in result.moments if m.category in MOMENT_LABELS}
            read_as.append(f"{result.sentiment}/{result.emotion}")
            transitions += [(turn_of[t.evidence_utterance_ids[0]], t.to_state) for t in result.transitions]
        fields = labels.split(",")  # the first of these fields a turn has
        gold = {
            (i, m)
            for i, turn in enumerate(call["turns"])
            for m in next((turn[f] for f in fields if f in turn), [])
            if m in MOMENT_LABELS
        }
        for found in predicted:
            (tally.tp if found in gold else tally.fp)[found[1]] += 1
        for _, label in gold - predicted:
            tally.fn[label] += 1
        customer_turns = [i for i, t in enumerate(call["turns"]) if t["speaker"] == "customer"]

        used: set[int] = set()
        for labelled in call.get("transitions", []):
            gold_transitions += 1
            match = next(
                (
                    k
                    for k, (i, _) in enumerate(transitions)
                    if k not in used and _near(customer_turns, i, labelled["turn"])
                ),
                None,
            )
            if match is not None:
                used.add(match)
                hits += 1
                hits_state += transitions[match][1] == labelled["to_state"]
        predicted_transitions += len(transitions)
        matched_predictions += len(used)
        if show:
            print(f"\n{call['id']}: moments gold {sorted(gold)}")
            print(f"  predicted {sorted(predicted)}")
            for kind, wrong in (("missed", gold - predicted), ("wrong", predicted - gold)):
                for index, label in sorted(wrong):
                    turn = call["turns"][index]
                    print(f"    {kind} {index} {label} ({turn['speaker']}, read {read_as[index]}): {turn['text']}")
            labelled = [(t["turn"], t["to_state"]) for t in call.get("transitions", [])]
            print(f"  transitions gold {labelled} got {transitions}")
    print(f"\nMoments, {len(calls)} calls (a moment is right when the labelled turn has it):")
    print(f"  {'moment':<20}{'precision':>10}{'recall':>8}{'tp':>5}{'fp':>5}{'fn':>5}")
    for label in (*MOMENT_LABELS, "all"):
        tp = sum(tally.tp.values()) if label == "all" else tally.tp[label]
        fp = sum(tally.fp.values()) if label == "all" else tally.fp[label]
        fn = sum(tally.fn.values()) if label == "all" else tally.fn[label]
        precision = tp / (tp + fp) if tp + fp else math.nan
        recall = tp / (tp + fn) if tp + fn else math.nan
        print(f"  {label:<20}{precision:>10.3f}{recall:>8.3f}{tp:>5}{fp:>5}{fn:>5}")
    print(
        f"\nTransitions: {gold_transitions} labelled; hit within {WINDOW} customer utterance "
        f"{hits}/{gold_transitions} = {hits / max(1, gold_transitions):.3f} (right to_state {hits_state}); "
        f"precision {matched_predictions}/{predicted_transitions} = "
        f"{matched_predictions / max(1, predicted_transitions):.3f}"
    )
    live_ms = [1000 * s for s in live_seconds]
    total_ms = [1000 * s for s in total_seconds]
    print(
        f"\nCost per utterance ({len(live_ms)} utterances, one core): live analytics mean "
        f"{statistics.fmean(live_ms):.2f} ms, "
        f"p95 {np.percentile(live_ms, 95):.2f} ms, max {max(live_ms):.2f} ms; whole analysis with the text models "
        f"mean {statistics.fmean(total_ms):.1f} ms, p95 {np.percentile(total_ms, 95):.1f} ms"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    parser.add_argument("--voice", action="store_true", help="also render the utterances and add the voice terms")
    parser.add_argument("--show", action="store_true", help="print the mistakes")
    parser.add_argument("--round", type=int, help="only the calls of this labelling round (5-8)")
    parser.add_argument("--calls-only", action="store_true", help="skip the utterances")
    parser.add_argument(
        "--labels",
        default="moments",
        help="the turns' field holding the moments scored against: moments (the adjudicated labels where a round "
        "had two annotators), or one annotator's alone: moments_annotator_e / _f (round 8), moments_annotator_h,"
        "moments_annotator_i (round 9's writers) / moments_annotator_j; several, comma-separated: the first a turn has",
    )
    parser.add_argument(
        "--call-turns",
        action="store_true",
        help="also score the emotion of the calls' turns that carry emotion7 and PAD",
    )
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    print(f"machine: {machine()}; split {args.split}")
    models = load_analysis_backend(AnalysisConfig(torch_threads=1))
    print(models.describe())
    if not args.calls_only:
        score_utterances(models, _read_utterances(args.split), args.voice, args.show)
    calls = read_calls(args.split, args.round)
    if args.call_turns:
        turns = [
            {"id": f"{call['id']}#{index}", **turn}
            for call in calls
            for index, turn in enumerate(call["turns"])
            if "emotion7" in turn and "pad" in turn
        ]
        print(f"\nThe calls' own turns ({len(turns)} labelled with emotion7 and PAD):")
        if turns:
            score_utterances(models, turns, False, args.show)
    score_calls(models, calls, args.show, args.labels)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
