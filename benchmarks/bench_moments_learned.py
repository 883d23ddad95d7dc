"""A learned alternative to the moment rules, measured the only fair way: left one labelling round out.

    .venv/bin/python benchmarks/bench_moments_learned.py [--test 8 9] [--epochs 4]

Why it exists: the moment rules (``analysis.moments``) score 0.87 / 0.82 on the rounds they were written
from and 0.67-0.68 / 0.57-0.59 on rounds nobody had read (docs/analytics.md, "Live analytics"). This
asks whether a model that reads a turn together with the turn before it does better: the packaged
all-MiniLM-L6-v2 fine-tuned as a cross-encoder (the turn and the previous turn as a pair, mean-pooled,
one sigmoid output per moment), trained on every labelled round but one and scored on that one (each
round is another annotator's, so this is the blind case). It prints the rules' score on the same round
beside it. Not shipped: on rounds 8 and 9 it scored 0.68 / 0.68 and 0.72 / 0.63 at threshold 0.7.
About 5 minutes per round on 2 cores; run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis import AnalysisConfig, CallAnalyzer, Utterance, load_analysis_backend  # noqa: E402
from analysis.embeddings import default_embedding_path, load_pretrained  # noqa: E402
from analysis.moments import MOMENT_LABELS  # noqa: E402
from benchmarks.bench_live_analytics import read_calls  # noqa: E402
from benchmarks.common import machine  # noqa: E402

THRESHOLDS = (0.5, 0.6, 0.7, 0.8)


@dataclass(frozen=True)
class Turn:
    round: str  # "dev" or the held-out round's number
    speaker: str
    text: str
    before: str  # the turn before it ("" at the start of the call)
    gold: frozenset[str]
    rules: frozenset[str]  # what analysis.moments found


def labelled_turns() -> list[Turn]:
    """Every labelled call turn, with the rules' moments (the text models on one thread)."""
    import torch

    torch.set_num_threads(1)
    models = load_analysis_backend(AnalysisConfig(torch_threads=1))
    turns: list[Turn] = []
    for call in read_calls("all"):
        round_ = "dev" if call["split"] == "dev" else str(call["round"])
        analyzer = CallAnalyzer(models=models, goal=call.get("goal", ""))
        before = ""
        for index, turn in enumerate(call["turns"]):
            channel = 0 if turn["speaker"] == "customer" else 1
            utterance = Utterance(
                turn["text"], float(turn["start"]), float(turn["end"]), channel, turn["speaker"],
                utterance_id=f"{call['id']}#{index}",
            )  # fmt: skip
            result = analyzer.add(utterance)
            analyzer.analysis()
            found = frozenset(m.category for m in result.moments if m.category in MOMENT_LABELS)
            gold = frozenset(m for m in turn.get("moments", []) if m in MOMENT_LABELS)
            turns.append(Turn(round_, turn["speaker"], turn["text"], before, gold, found))
            before = turn["text"]
    return turns


def _precision_recall(predicted: npt.NDArray[np.bool_], gold: npt.NDArray[np.bool_]) -> tuple[float, float]:
    tp = int((predicted & gold).sum())
    fp = int((predicted & ~gold).sum())
    fn = int((~predicted & gold).sum())
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


def left_out(turns: Sequence[Turn], test: str, epochs: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """The fine-tuned cross-encoder's probabilities for the turns of round ``test``, trained on the others."""
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    shuffle = random.Random(seed)
    labels = list(MOMENT_LABELS)
    tokenizer, _ = load_pretrained(default_embedding_path())
    first = [f"{'customer' if t.speaker == 'customer' else 'agent'}: {t.text}" for t in turns]
    second = [f"before: {t.before or '(start of call)'}" for t in turns]
    encoded = tokenizer(first, second, truncation=True, max_length=128, padding="max_length", return_tensors="pt")
    targets = torch.tensor([[label in t.gold for label in labels] for t in turns], dtype=torch.float32)

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            _, self.encoder = load_pretrained(default_embedding_path())
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, len(labels))

        def forward(self, ids: Any, mask: Any) -> Any:
            hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            return self.head(pooled)

    train = [i for i, t in enumerate(turns) if t.round != test]
    held = [i for i, t in enumerate(turns) if t.round == test]
    share = targets[train].mean(0).clamp(min=1e-3)
    loss_of = torch.nn.BCEWithLogitsLoss(pos_weight=((1 - share) / share).clamp(1, 20).sqrt())
    model = CrossEncoder()
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-5, weight_decay=0.01)
    for _ in range(epochs):
        model.train()
        order = list(train)
        shuffle.shuffle(order)
        for start in range(0, len(order), 16):
            batch = order[start : start + 16]
            loss = loss_of(model(encoded["input_ids"][batch], encoded["attention_mask"][batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        chunks = [
            torch.sigmoid(model(encoded["input_ids"][held[a : a + 64]], encoded["attention_mask"][held[a : a + 64]]))
            for a in range(0, len(held), 64)
        ]
    return np.asarray(torch.cat(chunks).numpy(), dtype=np.float32)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--test", nargs="+", default=["8", "9"], help="the rounds to leave out, one at a time")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    turns = labelled_turns()
    labels = list(MOMENT_LABELS)
    for test in args.test:
        held = [t for t in turns if t.round == test]
        if not held:
            raise SystemExit(f"no labelled turns in round {test}")
        gold = np.array([[label in t.gold for label in labels] for t in held])
        rules = np.array([[label in t.rules for label in labels] for t in held])
        began = time.monotonic()
        probabilities = left_out(turns, test, args.epochs)
        p, r = _precision_recall(rules, gold)
        print(f"round {test} ({len(held)} turns, trained on {len(turns) - len(held)}): rules P {p:.2f} R {r:.2f}")
        for threshold in THRESHOLDS:
            p, r = _precision_recall(probabilities >= threshold, gold)
            print(f"  cross-encoder at {threshold}: P {p:.2f} R {r:.2f}")
        print(f"  ({time.monotonic() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
