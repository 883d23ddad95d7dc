"""Accuracy and cost of the analysis backends on the labelled evaluation set (run by hand, not in CI).

    .venv/bin/python benchmarks/bench_analysis.py [--sentiment-model PATH_OR_ID] [--split test]

Data (benchmarks/analysis_data, labelling guide in docs/analytics.md): ``utterances.jsonl`` (189
utterances, ``dev`` split for choosing backends and thresholds, ``test`` split held out) and
``calls/*.json`` (scripted stereo calls with per-turn sentiment and category labels; ``dev`` and
``test`` calls). The trained heads learn only from ``analysis/training_examples.json``.

Prints, per split: sentiment and emotion accuracy / macro-F1 for every backend; per-turn category
precision/recall by phrase, by meaning and both; per-call sentiment agreement, agent score and
summary; the per-utterance cost; and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from analysis import CallAnalyzer, Utterance
from analysis import emotion as emotion_rules
from analysis import sentiment as vader
from analysis.categories import CATEGORY_NAMES
from analysis.config import AnalysisConfig
from analysis.emotion import EMOTION_LABELS
from analysis.heads import PrototypeClassifier, SoftmaxHead, lexical_features, speaker_features, training_examples
from analysis.hf_sentiment import TransformersSentiment
from analysis.models import SENTIMENT_ORDER, AnalysisModels, lexicon_backend, load_analysis_backend
from analysis.text import split_sentences

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


def head_predictors(models: AnalysisModels) -> tuple[dict[str, Predictor], dict[str, Predictor]]:
    """Sentiment and emotion predictors for every embedding-based variant."""
    encoder = models.encoder
    assert encoder is not None
    examples = training_examples()
    train_embeddings = encoder.encode_many([e.text for e in examples])

    def extra(text: str, speaker: str, with_speaker: bool) -> list[float]:
        lexical = lexical_features(*vader.vader_scores(text))
        return [*lexical, *speaker_features(speaker)] if with_speaker else lexical

    def features(texts: Sequence[str], speakers: Sequence[str], embeddings: np.ndarray, kind: str) -> np.ndarray:
        if kind == "embedding":
            return embeddings
        rows = [extra(t, s, kind == "hybrid+speaker") for t, s in zip(texts, speakers, strict=True)]
        return np.concatenate([embeddings, np.asarray(rows, dtype=np.float32)], axis=1)

    def head(labels: Sequence[str], target: str, kind: str) -> Predictor:
        train = features([e.text for e in examples], [e.speaker for e in examples], train_embeddings, kind)
        fitted = SoftmaxHead(labels, train, [getattr(e, target) for e in examples])

        def predict(rows: Sequence[dict[str, str]]) -> list[str]:
            texts = [r["text"] for r in rows]
            embedded = encoder.encode_many(texts)
            probs = fitted.predict(features(texts, [r["speaker"] for r in rows], embedded, kind))
            return [labels[i] for i in probs.argmax(axis=1)]

        return predict

    def prototype(labels: Sequence[str], target: str) -> Predictor:
        fitted = PrototypeClassifier(labels, train_embeddings, [getattr(e, target) for e in examples])
        return lambda rows: [
            labels[i] for i in fitted.predict(encoder.encode_many([r["text"] for r in rows])).argmax(1)
        ]

    sentiment = {
        "embedding prototypes": prototype(SENTIMENT_ORDER, "sentiment"),
        "embedding head": head(SENTIMENT_ORDER, "sentiment", "embedding"),
        "embedding+VADER head": head(SENTIMENT_ORDER, "sentiment", "hybrid"),
        "embedding+VADER+speaker head (default)": head(SENTIMENT_ORDER, "sentiment", "hybrid+speaker"),
    }
    emotion = {
        "embedding prototypes": prototype(EMOTION_LABELS, "emotion"),
        "embedding head": head(EMOTION_LABELS, "emotion", "embedding"),
        "embedding+VADER head": head(EMOTION_LABELS, "emotion", "hybrid"),
        "embedding+VADER+speaker head (default)": head(EMOTION_LABELS, "emotion", "hybrid+speaker"),
    }
    return sentiment, emotion


def utterance_tables(rows: list[dict[str, str]], models: AnalysisModels, hf: TransformersSentiment | None) -> None:
    stock = SentimentIntensityAnalyzer()
    sentiment: dict[str, Predictor] = {
        "VADER (stock)": lambda rs: [vader.label_for(stock.polarity_scores(r["text"])["compound"]) for r in rs],
        "VADER (tuned lexicon)": lambda rs: [vader.label_for(vader.polarity(r["text"])) for r in rs],
    }
    emotion: dict[str, Predictor] = {
        "cue lexicon + VADER": lambda rs: [emotion_rules.classify(r["text"], vader.polarity(r["text"])) for r in rs],
    }
    heads_sentiment, heads_emotion = head_predictors(models)
    sentiment.update(heads_sentiment)
    emotion.update(heads_emotion)
    if hf is not None:
        sentiment[f"transformers ({hf.model})"] = lambda rs: [
            max(SENTIMENT_ORDER, key=lambda label: p[label]) for p in hf.predict([r["text"] for r in rs])
        ]
    for task, predictors, labels in (
        ("sentiment", sentiment, SENTIMENT_ORDER),
        ("emotion", emotion, EMOTION_LABELS),
    ):
        splits = ("dev", "test")
        counts = ", ".join(f"{s} n={sum(r['split'] == s for r in rows)}" for s in splits)
        print(f"\n{task} ({counts})")
        print("| backend | dev acc | dev macro-F1 | test acc | test macro-F1 |\n|---|---|---|---|---|")
        for name, predict in predictors.items():
            cells = []
            for split in splits:
                subset = [r for r in rows if r["split"] == split]
                gold = [r[task] for r in subset]
                predicted = predict(subset)
                cells += [f"{accuracy(gold, predicted):.3f}", f"{macro_f1(gold, predicted, labels):.3f}"]
            print(f"| {name} | " + " | ".join(cells) + " |")
        test = [r for r in rows if r["split"] == "test"]
        for tag in ("sarcasm", "polite_complaint", "mixed"):
            tagged = [r for r in test if tag in r.get("tags", [])]
            if tagged and task == "sentiment":
                default = predictors["embedding+VADER+speaker head (default)"](tagged)
                tuned = predictors["VADER (tuned lexicon)"](tagged)
                gold = [r[task] for r in tagged]
                print(
                    f"  test '{tag}' (n={len(tagged)}): default {accuracy(gold, default):.2f}, "
                    f"tuned VADER {accuracy(gold, tuned):.2f}"
                )


def category_table(calls: list[dict[str, object]], models: AnalysisModels, split: str) -> None:
    chosen = [c for c in calls if c["split"] == split]
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
    print("\ncalls: per-turn sentiment agreement with the human labels, agent score, summary")
    print(
        "| call | split | "
        + " | ".join(backends)
        + " | agent score (default) |\n|---|---|"
        + "---|" * (len(backends) + 1)
    )
    summaries = []
    for call in calls:
        cells = []
        final = None
        for models in backends.values():
            analyzer = CallAnalyzer(models=models)
            agree = 0
            turns = call["turns"]
            for turn in turns:  # type: ignore[attr-defined]
                channel = 0 if turn["speaker"] == "customer" else 1
                result = analyzer.add(Utterance(turn["text"], turn["start"], turn["end"], channel, turn["speaker"]))
                agree += result.sentiment == turn["sentiment"]
            cells.append(f"{agree / len(turns):.0%}")  # type: ignore[arg-type]
            final = analyzer.analysis()
        assert final is not None
        breakdown = ", ".join(f"{k} {v:+g}" for k, v in final.agent_score_breakdown.items() if v)
        print(f"| {call['id']} | {call['split']} | " + " | ".join(cells) + f" | {final.agent_score} ({breakdown}) |")
        summaries.append(f"  {call['id']}: {final.summary}")
    print("\n".join(summaries))


def cost(rows: list[dict[str, str]], backends: dict[str, AnalysisModels]) -> None:
    print("\nper-utterance cost (analyse(), test utterances, one thread)")
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
    begin = time.perf_counter()
    default = load_analysis_backend(AnalysisConfig())
    load_s = time.perf_counter() - begin
    hf = TransformersSentiment(args.sentiment_model) if args.sentiment_model else None
    import torch

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} thread), "
        f"default backend loaded in {load_s:.1f} s"
    )
    utterance_tables(rows, default, hf)
    for split in ("dev", "test"):
        category_table(calls, default, split)
    backends = {"lexicon (VADER)": lexicon_backend(), "default": default}
    if args.sentiment_model:
        backends["transformers"] = load_analysis_backend(AnalysisConfig().with_sentiment_model(args.sentiment_model))
    call_table(calls, backends)
    cost([r for r in rows if r["split"] == "test"], {"lexicon": lexicon_backend(), "default": default})


if __name__ == "__main__":
    main()
