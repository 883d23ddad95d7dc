"""Outcomes and the running call sentiment, per call type, on the labelled calls' script text (run by hand).

    .venv/bin/python benchmarks/bench_call_outcomes.py [--split dev|test|all] [--round 4] [--show-errors]

The calls of ``benchmarks/analysis_data/calls/`` (rounds up to 4) and ``live_calls/`` (rounds 5 on, which
carry the same labels) are fed turn by turn to the default analysis backend
(the fine-tuned MiniLM), as the server feeds finals. Per call type (``call_type``: retention, sales,
collections; the service calls have none) it prints, side by side:

- **outcome right**: the analysis's ``outcome`` equals the annotator's (calls with an ``outcome``);
- **summary outcome from the decision**: the summary's ``Outcome:`` part quotes the customer's
  deciding turn, or one of the turns the annotator marked as stating the outcome;
- **running sentiment vs call state**: after every turn, the call's ``sentiment`` (what the CSV's
  ``running_sentiment`` and the live events carry) against the annotator's ``call_state`` of that turn;
- **per-turn sentiment**: each utterance's label against the annotator's;
- for service calls, whose labels have no outcome or call state, the summary outcome taken from the
  annotator's outcome turns and the per-turn sentiment (the regression check).

The same calls spoken and streamed through the server: ``benchmarks/bench_call_analytics.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis import CallAnalyzer, Utterance  # noqa: E402
from analysis.backends import load_analysis_backend  # noqa: E402
from analysis.config import AnalysisConfig  # noqa: E402
from benchmarks.analytics_scoring import best_turn, labelled_turns, outcome_quote  # noqa: E402
from benchmarks.common import machine  # noqa: E402

CALLS = Path(__file__).parent / "analysis_data" / "calls"
LIVE_CALLS = Path(__file__).parent / "analysis_data" / "live_calls"


@dataclass
class TypeScore:
    calls: int = 0
    outcome_labelled: int = 0
    outcome_right: int = 0
    summary_labelled: int = 0
    summary_right: int = 0
    state_turns: int = 0
    state_agreed: int = 0
    turns: int = 0
    turns_agreed: int = 0
    errors: list[str] = field(default_factory=list)


def score(call: dict[str, Any], analyzer: CallAnalyzer, into: TypeScore, show: bool) -> None:
    turns = labelled_turns(call)
    raw_turns = call["turns"]
    into.calls += 1
    for index, turn in enumerate(turns):
        channel = 0 if turn.speaker == "customer" else 1
        result = analyzer.add(Utterance(turn.text, turn.start, turn.end, channel, turn.speaker))
        into.turns += 1
        into.turns_agreed += result.sentiment == turn.sentiment
        if show and result.sentiment != turn.sentiment:
            into.errors.append(f"  {call['id']} #{index} turn {result.sentiment} != {turn.sentiment}: {turn.text[:90]}")
        state = raw_turns[index].get("call_state")
        if state is not None:
            analysis = analyzer.analysis()
            running = analysis.sentiment if analysis is not None else "neutral"
            into.state_turns += 1
            into.state_agreed += running == state
            if show and running != state:
                into.errors.append(f"  {call['id']} #{index} state {running} != {state}: {turn.text[:90]}")
    final = analyzer.analysis()
    assert final is not None
    if call.get("outcome"):
        into.outcome_labelled += 1
        right = getattr(final, "outcome", "") == call["outcome"]
        into.outcome_right += right
        if show and not right:
            into.errors.append(f"  {call['id']} outcome {getattr(final, 'outcome', '') or '-'} != {call['outcome']}")
    wanted = set(call.get("outcome_turns") or ())
    if isinstance(call.get("decision_turn"), int):
        wanted.add(call["decision_turn"])
    if wanted:
        into.summary_labelled += 1
        quoted = best_turn(outcome_quote(final.summary_parts.get("outcome", "")), turns)
        into.summary_right += quoted in wanted
        if show and quoted not in wanted:
            into.errors.append(
                f"  {call['id']} summary outcome from turn {quoted}, wanted {sorted(wanted)}: {final.summary}"
            )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="all", help="dev, test or all (default)")
    parser.add_argument("--round", default=None, help="only the calls of this round (e.g. 4)")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args(argv)
    models = load_analysis_backend(AnalysisConfig())
    paths = [*sorted(CALLS.glob("*.json")), *sorted(LIVE_CALLS.glob("*.json"))]
    calls = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    calls = [c for c in calls if args.split == "all" or c.get("split") == args.split]
    if args.round is not None:
        calls = [c for c in calls if str(c.get("round")) == args.round]
    scores: dict[str, TypeScore] = {}
    for call in calls:
        kind = str(call.get("call_type") or "service")
        score(call, CallAnalyzer(models=models), scores.setdefault(kind, TypeScore()), args.show_errors)
    print(f"machine: {machine()}; calls: split {args.split}" + (f", round {args.round}" if args.round else ""))
    columns = ("call type", "calls", "outcome right", "summary outcome from the decision")
    print("| " + " | ".join((*columns, "running sentiment = call state", "per-turn sentiment")) + " |")
    print("|---|---|---|---|---|---|")

    def ratio(right: int, total: int) -> str:
        return f"{right}/{total} ({right / total:.0%})" if total else "-"

    for kind in sorted(scores, key=lambda k: (k == "service", k)):
        s = scores[kind]
        print(
            f"| {kind} | {s.calls} | {ratio(s.outcome_right, s.outcome_labelled)} | "
            f"{ratio(s.summary_right, s.summary_labelled)} | {ratio(s.state_agreed, s.state_turns)} | "
            f"{ratio(s.turns_agreed, s.turns)} |"
        )
    if args.show_errors:
        for kind, s in scores.items():
            if s.errors:
                print(f"\n{kind}:")
                print("\n".join(s.errors))


if __name__ == "__main__":
    main()
