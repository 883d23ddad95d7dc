"""Accuracy and cost of the analysis backends on the labelled evaluation set (run by hand, not in CI).

    .venv/bin/python benchmarks/bench_analysis.py [--sentiment-model PATH_OR_ID]

Data (benchmarks/analysis_data, labelling guide in docs/analytics.md): ``utterances.jsonl`` (189
utterances, ``dev`` and ``test`` splits) and ``calls/*.json`` (scripted stereo calls with per-turn
sentiment and category labels, a human agent score, the turns that state the issue and the outcome;
``dev`` calls were used while developing, ``test`` calls were written and labelled by someone else
and first scored after the models were frozen). The trained models learn only from
``analysis/training_examples.json``.

Prints, side by side for every backend (rules only; frozen MiniLM + logistic heads; fine-tuned
MiniLM, the default; a transformers model if given): sentiment and emotion accuracy / macro-F1 per
utterance split; per-turn category precision/recall by phrase, by meaning and both; per call, the
per-turn sentiment agreement and the agent score against the human one; the per-utterance cost; and
the machine. The same calls through the real server and the CSV: benchmarks/bench_call_analytics.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis import CallAnalyzer, Utterance  # noqa: E402
from analysis import sentiment as vader  # noqa: E402
from analysis.backends import AnalysisModels, lexicon_backend, load_analysis_backend  # noqa: E402
from analysis.categories import CATEGORY_NAMES  # noqa: E402
from analysis.config import AnalysisConfig  # noqa: E402
from analysis.emotion import EMOTION_LABELS  # noqa: E402
from analysis.sentiment import SENTIMENT_LABELS  # noqa: E402
from analysis.text import split_sentences  # noqa: E402
from benchmarks.analytics_scoring import labelled_turns  # noqa: E402
from benchmarks.common import machine  # noqa: E402

DATA = Path(__file__).parent / "analysis_data"
Predictor = Callable[[Sequence[dict[str, str]]], list[str]]


def macro_f1(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> float:
    scores = []
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return statistics.fmean(scores) if scores else 0.0


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)


def load_rows() -> list[dict[str, str]]:
    lines = (DATA / "utterances.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def load_calls() -> list[dict[str, object]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((DATA / "calls").glob("*.json"))]


def predictor(models: AnalysisModels, task: str) -> Predictor:
    def predict(rows: Sequence[dict[str, str]]) -> list[str]:
        out = []
        for row in rows:
            result = models.analyse(row["text"], 0.0, row["speaker"], split_sentences(row["text"])).result
            out.append(result.sentiment if task == "sentiment" else result.emotion)
        return out

    return predict


def utterance_tables(rows: list[dict[str, str]], backends: dict[str, AnalysisModels]) -> None:
    stock = SentimentIntensityAnalyzer()
    for task, labels in (("sentiment", SENTIMENT_LABELS), ("emotion", EMOTION_LABELS)):
        predictors: dict[str, Predictor] = {}
        if task == "sentiment":
            predictors["VADER (stock)"] = lambda rs: [
                vader.label_for(stock.polarity_scores(r["text"])["compound"]) for r in rs
            ]
        for name, models in backends.items():
            if task == "emotion" and models.config.sentiment_backend == "transformers":
                continue  # the transformers backend is sentiment only
            predictors[name] = predictor(models, task)
        splits = ("dev", "test")
        counts = ", ".join(f"{s} n={sum(r['split'] == s for r in rows)}" for s in splits)
        print(f"\n{task} per utterance ({counts})")
        print("| backend | dev acc | dev macro-F1 | test acc | test macro-F1 |\n|---|---|---|---|---|")
        predicted_by: dict[str, list[str]] = {}
        for name, predict in predictors.items():
            cells = []
            predicted_by[name] = predict(rows)
            for split in splits:
                pairs = [(r[task], p) for r, p in zip(rows, predicted_by[name], strict=True) if r["split"] == split]
                gold, predicted = [g for g, _ in pairs], [p for _, p in pairs]
                cells += [f"{accuracy(gold, predicted):.3f}", f"{macro_f1(gold, predicted, labels):.3f}"]
            print(f"| {name} | " + " | ".join(cells) + " |")
        if task == "sentiment":
            for tag in ("sarcasm", "polite_complaint", "mixed"):
                tagged = [i for i, r in enumerate(rows) if tag in r.get("tags", [])]
                line = ", ".join(
                    f"{name} {accuracy([rows[i][task] for i in tagged], [predicted_by[name][i] for i in tagged]):.2f}"
                    for name in predictors
                )
                print(f"  '{tag}' (n={len(tagged)}, both splits): {line}")


def category_table(calls: list[dict[str, object]], models: AnalysisModels, split: str) -> None:
    chosen = [c for c in calls if c["split"] == split]
    if not chosen:
        return
    turns = [t for c in chosen for t in c["turns"]]  # type: ignore[attr-defined]
    print(f"\ncategories per turn, {split} calls (n={len(chosen)} calls, {len(turns)} turns)")
    print("| category | phrase P / R | meaning P / R | both P / R |\n|---|---|---|---|")
    found: dict[str, list[set[str]]] = {"phrase": [], "meaning": [], "both": []}
    for turn in turns:
        text = str(turn["text"])
        phrase_hits = {h.category for h in models.phrases.match(text, 0.0, str(turn["speaker"]))}
        meaning_hits: set[str] = set()
        if models.semantic is not None and models.encoder is not None:
            sentences = split_sentences(text)
            embedded = models.encoder.encode(sentences)
            meaning_hits = {h.category for h in models.semantic.match(sentences, embedded, 0.0, "", text)}
        found["phrase"].append(phrase_hits)
        found["meaning"].append(meaning_hits)
        found["both"].append(phrase_hits | meaning_hits)
    for category in CATEGORY_NAMES:
        cells = []
        for kind in ("phrase", "meaning", "both"):
            tp = fp = fn = 0
            for turn, hits in zip(turns, found[kind], strict=True):
                expected = category in turn["categories"]
                got = category in hits
                tp += expected and got
                fp += got and not expected
                fn += expected and not got
            precision = tp / (tp + fp) if tp + fp else float("nan")
            recall = tp / (tp + fn) if tp + fn else float("nan")
            cells.append(f"{precision:.2f} / {recall:.2f}")
        print(f"| {category} | " + " | ".join(cells) + " |")


def call_table(calls: list[dict[str, object]], backends: dict[str, AnalysisModels]) -> None:
    print("\ncalls (script text): per-turn sentiment agreement with the human labels; agent score (human)")
    print("| call | split | " + " | ".join(backends) + " |\n|---|---|" + "---|" * len(backends))
    totals: dict[tuple[str, str], list[int]] = {}
    for call in calls:
        cells = []
        turns = labelled_turns(call)
        for name, models in backends.items():
            analyzer = CallAnalyzer(models=models)
            agree = 0
            for turn in turns:
                channel = 0 if turn.speaker == "customer" else 1
                result = analyzer.add(Utterance(turn.text, turn.start, turn.end, channel, turn.speaker))
                agree += result.sentiment == turn.sentiment
            final = analyzer.analysis()
            assert final is not None
            cells.append(f"{agree / len(turns):.0%}, {final.agent_score} ({call.get('agent_score', '?')})")
            total = totals.setdefault((str(call["split"]), name), [0, 0, 0, 0])
            total[0] += agree
            total[1] += len(turns)
            human = call.get("agent_score")
            if isinstance(human, int):
                total[2] += abs(final.agent_score - human)
                total[3] += 1
        print(f"| {call['id']} | {call['split']} | " + " | ".join(cells) + " |")
    for split in sorted({str(c["split"]) for c in calls}):
        cells = []
        for name in backends:
            agree, n, error, rated = totals[(split, name)]
            cells.append(f"{agree / n:.1%}, MAE {error / max(rated, 1):.2f}")
        print(f"| **all {split} calls** | {split} | " + " | ".join(cells) + " |")


def cost(rows: list[dict[str, str]], backends: dict[str, AnalysisModels]) -> None:
    print("\nper-utterance cost (analyse(), all utterances, torch 1 thread)")
    for name, models in backends.items():
        timings = []
        for row in rows:
            begin = time.perf_counter()
            models.analyse(row["text"], 0.0, row["speaker"], split_sentences(row["text"]))
            timings.append((time.perf_counter() - begin) * 1000)
        timings.sort()
        p95 = timings[int(0.95 * (len(timings) - 1))]
        print(f"  {name}: mean {statistics.fmean(timings):.2f} ms, p95 {p95:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentiment-model", help="also measure a transformers text-classification model")
    args = parser.parse_args()
    rows = load_rows()
    calls = load_calls()
    loads: dict[str, float] = {}
    backends: dict[str, AnalysisModels] = {"rules (tuned VADER, cue lexicon)": lexicon_backend()}
    configs = {
        "frozen MiniLM + heads": AnalysisConfig(sentiment_backend="embedding", emotion_backend="embedding"),
        "fine-tuned MiniLM (default)": AnalysisConfig(),
    }
    if args.sentiment_model:
        configs["transformers"] = AnalysisConfig(emotion_backend="lexicon").with_sentiment_model(args.sentiment_model)
    for name, config in configs.items():
        begin = time.perf_counter()
        backends[name] = load_analysis_backend(config)
        loads[name] = time.perf_counter() - begin
    import torch

    print(f"machine: {machine()}, torch {torch.__version__} ({torch.get_num_threads()} thread)")
    print("backend load (trained models from the cache): " + ", ".join(f"{k} {v:.1f} s" for k, v in loads.items()))
    utterance_tables(rows, backends)
    default = backends["fine-tuned MiniLM (default)"]
    for split in ("dev", "test"):
        category_table(calls, default, split)
    call_table(calls, backends)
    cost(rows, backends)


if __name__ == "__main__":
    main()
