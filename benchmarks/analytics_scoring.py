"""Scoring a call's analytics against a human-labelled script: per-turn sentiment and categories.

The claim a QA team cares about is made on the session CSV: after a real call went through the
server, does each row's ``utterance_sentiment`` agree with what a person would say of that turn, and
do the ``utterance_categories`` fire on the turns that carry a category and stay quiet on the clean
ones? The CSV's rows are what the recogniser and VAD made of the audio, not the script's turns: a
turn may be split in two rows, two turns of one speaker may be merged into one, a row may be
missing. So turns are matched to rows by speaker and time, and each turn is scored by its rows:

* a turn's predicted sentiment is that of the **last** row overlapping it in time on its speaker
  (the labelling guide's mixed turns "take the side the turn ends on"); a turn with no row counts as
  a disagreement (``missed``);
* a turn carries a predicted category when any row overlapping it has a hit of that category.

Scoring the analyser directly on the script's text (no audio) is the same computation with one
row per turn. Pure functions; the benchmarks (``bench_analysis``, ``bench_call_analytics``) and the
tests read the files. Offline tooling: it is not part of the installed ``analysis`` package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CallScore",
    "CategoryCounts",
    "LabelledTurn",
    "PredictedRow",
    "best_turn",
    "categories_of",
    "labelled_turns",
    "match_rows",
    "merge_counts",
    "predicted_rows",
    "score_call",
]


@dataclass(frozen=True, slots=True)
class _SpokenLabels:
    """Who said what when, with a sentiment and the categories it carries."""

    speaker: str
    start: float
    end: float
    text: str
    sentiment: str
    categories: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LabelledTurn(_SpokenLabels):
    """One turn of a scripted call with its human labels."""


@dataclass(frozen=True, slots=True)
class PredictedRow(_SpokenLabels):
    """One analysed utterance (a CSV row): who, when, and what the analyser said of it."""


@dataclass(slots=True)
class CategoryCounts:
    """Turn-level counts for one category."""

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    @property
    def precision(self) -> float:
        fired = self.true_positive + self.false_positive
        return self.true_positive / fired if fired else float("nan")

    @property
    def recall(self) -> float:
        carried = self.true_positive + self.false_negative
        return self.true_positive / carried if carried else float("nan")


@dataclass(slots=True)
class CallScore:
    """Per-turn agreement of one call, with the disagreements for reading."""

    turns: int = 0
    agreed: int = 0
    missed: int = 0  # turns with no row at all
    categories: dict[str, CategoryCounts] = field(default_factory=dict)
    disagreements: list[tuple[LabelledTurn, str | None]] = field(default_factory=list)
    category_errors: list[tuple[LabelledTurn, frozenset[str]]] = field(default_factory=list)

    @property
    def agreement(self) -> float:
        return self.agreed / self.turns if self.turns else float("nan")


def categories_of(cell: str) -> frozenset[str]:
    """The category names in an ``utterance_categories`` cell (``category/label; ...``)."""
    return frozenset(part.split("/", 1)[0].strip() for part in cell.split(";") if part.strip())


def predicted_rows(records: Iterable[Mapping[Any, object]]) -> list[PredictedRow]:
    """The rows of a session CSV (as read by ``csv.DictReader`` or ``DataFrame.to_dict("records")``)."""
    return [
        PredictedRow(
            str(record["speaker"]),
            float(str(record["start"])),
            float(str(record["end"])),
            str(record["text"]),
            str(record["utterance_sentiment"]),
            categories_of(str(record["utterance_categories"])),
        )
        for record in records
    ]


def _overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return min(a_end, b_end) - max(a_start, b_start)


def match_rows(
    turns: Sequence[LabelledTurn], rows: Sequence[PredictedRow], *, tolerance_s: float = 0.25
) -> list[list[PredictedRow]]:
    """For each turn, the rows of the same speaker that overlap it in time, in start order.

    A row overlaps a turn when they share more than ``tolerance_s`` seconds, or when the row is
    shorter than that and lies inside the turn; VAD padding that merely touches a neighbouring turn
    does not count.
    """
    ordered = sorted(rows, key=lambda row: (row.start, row.end))
    matched: list[list[PredictedRow]] = []
    for turn in turns:
        mine = []
        for row in ordered:
            if row.speaker != turn.speaker:
                continue
            shared = _overlap(turn.start, turn.end, row.start, row.end)
            if shared > min(tolerance_s, max(0.0, row.end - row.start) * 0.5):
                mine.append(row)
        matched.append(mine)
    return matched


def score_call(
    turns: Sequence[LabelledTurn],
    rows: Sequence[PredictedRow],
    category_names: Iterable[str],
) -> CallScore:
    """Per-turn sentiment agreement and per-category turn-level counts of one call."""
    names = tuple(category_names)
    result = CallScore(categories={name: CategoryCounts() for name in names})
    for turn, mine in zip(turns, match_rows(turns, rows), strict=True):
        result.turns += 1
        predicted = mine[-1].sentiment if mine else None
        if predicted is None:
            result.missed += 1
        if predicted == turn.sentiment:
            result.agreed += 1
        else:
            result.disagreements.append((turn, predicted))
        fired = frozenset(name for row in mine for name in row.categories)
        for name in names:
            counts = result.categories[name]
            if name in fired and name in turn.categories:
                counts.true_positive += 1
            elif name in fired:
                counts.false_positive += 1
            elif name in turn.categories:
                counts.false_negative += 1
        if (fired & set(names)) != (turn.categories & set(names)):
            result.category_errors.append((turn, fired))
    return result


def merge_counts(scores: Iterable[CallScore]) -> dict[str, CategoryCounts]:
    """Category counts summed over calls."""
    total: dict[str, CategoryCounts] = {}
    for score in scores:
        for name, counts in score.categories.items():
            into = total.setdefault(name, CategoryCounts())
            into.true_positive += counts.true_positive
            into.false_positive += counts.false_positive
            into.false_negative += counts.false_negative
    return total


def labelled_turns(call: Mapping[str, object]) -> list[LabelledTurn]:
    """The turns of a call file (``benchmarks/analysis_data/calls/*.json`` layout)."""
    raw = call["turns"]
    if not isinstance(raw, list):
        raise ValueError("a call's 'turns' must be a list")
    return [
        LabelledTurn(
            str(t["speaker"]),
            float(t["start"]),
            float(t["end"]),
            str(t["text"]),
            str(t["sentiment"]),
            frozenset(str(c) for c in t.get("categories", ())),
        )
        for t in raw
    ]


def _words(text: str) -> set[str]:
    return {w.strip(".,?!'\"").lower() for w in text.split() if w.strip(".,?!'\"")}


def best_turn(text: str, turns: Sequence[LabelledTurn]) -> int | None:
    """The index of the turn that a summary sentence was taken from: the most of the sentence's words
    found in the turn (transcripts differ from the script in a word or two); None for an empty text."""
    words = _words(text)
    if not words:
        return None
    shares = [len(words & _words(turn.text)) / len(words) for turn in turns]
    best = max(range(len(turns)), key=lambda i: shares[i], default=None)
    return best if best is not None and shares[best] >= 0.5 else None


_DECIDED_OUTCOME = re.compile(r'^[a-z ]+: "(.*)"$')


def outcome_quote(outcome: str) -> str:
    """The words a summary's outcome part quotes: of a decided call's `retention saved: "Go on then."` the
    quoted utterance; any other outcome part as it is."""
    match = _DECIDED_OUTCOME.match(outcome)
    return match.group(1) if match else outcome
