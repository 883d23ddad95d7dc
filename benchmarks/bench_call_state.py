"""The learned running call sentiment against the rule, left one labelling round out (run by hand).

    .venv/bin/python benchmarks/bench_call_state.py [--regularization 0.3,1,3]

Why it exists: the learned call state (``analysis.call_state_model``) is fitted on the labelled calls of
``analysis/call_state_calls.json``; its agreement with the annotators can only be measured on calls it was
not fitted on. This fits it on every labelling round but one, scores the round left out turn by turn (the
belief's label after each turn against the annotator's ``call_state``), does so for each round, and prints
the agreement per round and per call type beside the rule's (``analysis.call_state``) on the same turns.
The features come from the default models (turn classifier, encoder) on the calls' script text, as the
server computes them from the finals. Held-out rounds that are not in the training file (round 9) are
scored by ``benchmarks/bench_call_outcomes.py``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.backends import load_analysis_backend  # noqa: E402
from analysis.call_state_model import CallStateModel, state_of  # noqa: E402
from analysis.call_state_training import REGULARIZATION, call_sequences, labelled_calls  # noqa: E402
from analysis.config import AnalysisConfig  # noqa: E402
from benchmarks.common import machine  # noqa: E402


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regularization", default=str(REGULARIZATION), help="comma-separated values of C")
    args = parser.parse_args(argv)
    models = load_analysis_backend(AnalysisConfig(call_state="rules"))
    sequences = call_sequences(models, labelled_calls())
    rounds = sorted({s.call.round for s in sequences})
    print(f"machine: {machine()}; {len(sequences)} calls, {sum(len(s.labels) for s in sequences)} turns")
    for value in (float(v) for v in args.regularization.split(",")):
        agreed: Counter[str] = Counter()
        turns: Counter[str] = Counter()
        print(f"\nC = {value}\n\n| round left out | turns | rule | learned |\n|---|---|---|---|")
        for held in rounds:
            training = [(s.rows, s.labels) for s in sequences if s.call.round != held]
            model = CallStateModel.fit(training, value)
            right = rule = total = 0
            for s in (s for s in sequences if s.call.round == held):
                for belief, label, rule_label in zip(model.beliefs(s.rows), s.labels, s.rule_labels, strict=True):
                    learned = state_of(belief)[0] == label
                    kind = s.call.call_type
                    for key in ("all", kind):
                        turns[key] += 1
                        agreed[key + " learned"] += learned
                        agreed[key + " rule"] += rule_label == label
                    right += learned
                    rule += rule_label == label
                    total += 1
            print(f"| {held} | {total} | {rule / total:.1%} | {right / total:.1%} |")
        print("\n| call type | turns | rule | learned |\n|---|---|---|---|")
        for key in ("all", "service", "retention", "sales", "collections"):
            if turns[key]:
                n = turns[key]
                print(f"| {key} | {n} | {agreed[key + ' rule'] / n:.1%} | {agreed[key + ' learned'] / n:.1%} |")


if __name__ == "__main__":
    main()
