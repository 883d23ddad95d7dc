"""Incremental call analysis: feed final utterances one at a time, ask for the call's analytics any time.

The server receives final transcript segments over the length of a call and reports analytics while
the call is live, so the expensive per-utterance work (VADER, emotion cues, category phrases, rubric
phrases, sentence splitting) runs exactly once, in ``CallAnalyzer.add``, and its results are kept.
``CallAnalyzer.analysis`` only aggregates those stored results (weighted means, counts, choosing
summary sentences); the result is cached until the next ``add``.

Call-level sentiment: the word-weighted mean of the VADER compound of the customer's utterances
(all utterances when the call has no customer text), where each utterance also gets the recency
weight ``RECENCY_DECAY ** age`` (age 0 = the latest utterance of those speakers), so the label reflects
where the call is now rather than how it started. Each utterance's word weight is capped at
``MAX_WORD_WEIGHT`` so one long monologue cannot outweigh the rest of the call. The label uses the
same thresholds as per-utterance sentiment.

Speakers other than "customer" and "agent" are treated as "unknown". Utterances are ordered by
start time (then arrival) for everything that depends on order.

The analyzer is pure: no I/O, no threads; it is not safe to share one instance between threads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Final

from analysis import agent_score, emotion, sentiment, summary
from analysis.categories import CATEGORY_NAMES, CategoryMatcher, default_matcher, describe
from analysis.text import count_words
from analysis.types import CallAnalysis, CategoryHit, Utterance, UtteranceAnalysis

__all__ = ["MAX_WORD_WEIGHT", "RECENCY_DECAY", "CallAnalyzer"]

RECENCY_DECAY: Final = 0.7
MAX_WORD_WEIGHT: Final = 30
_KNOWN_SPEAKERS: Final = frozenset({"customer", "agent"})


@dataclass(frozen=True, slots=True)
class _Record:
    sequence: int
    start: float
    speaker: str
    words: int
    result: UtteranceAnalysis
    hits: tuple[CategoryHit, ...]
    signals: agent_score.AgentSignals
    features: summary.SummaryFeatures


def _normal_speaker(speaker: object) -> str:
    value = speaker.strip().lower() if isinstance(speaker, str) else ""
    return value if value in _KNOWN_SPEAKERS else "unknown"


def _as_float(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return number if number == number else 0.0  # NaN -> 0.0


def _weighted_compound(records: list[_Record]) -> float:
    total = 0.0
    weight_sum = 0.0
    for age, record in enumerate(reversed(records)):
        weight = min(record.words, MAX_WORD_WEIGHT) * RECENCY_DECAY**age
        total += weight * record.result.sentiment_score
        weight_sum += weight
    return total / weight_sum if weight_sum > 0 else 0.0


class CallAnalyzer:
    """Accumulates the final utterances of one call and produces its ``CallAnalysis``."""

    def __init__(self, min_words: int = 5, *, categories: CategoryMatcher | None = None) -> None:
        self._min_words = max(0, min_words)
        self._matcher = categories if categories is not None else default_matcher()
        self._records: list[_Record] = []
        self._word_count = 0
        self._content_counts: Counter[str] = Counter()
        self._has_repeated_problems = False
        self._cached: CallAnalysis | None = None

    @property
    def min_words(self) -> int:
        return self._min_words

    @property
    def word_count(self) -> int:
        """Words of final text seen so far."""
        return self._word_count

    def __len__(self) -> int:
        return len(self._records)

    def add(self, utterance: Utterance) -> UtteranceAnalysis:
        """Analyse one final utterance (and only it) and keep the result for the call-level view."""
        text = utterance.text if isinstance(utterance.text, str) else ""
        speaker = _normal_speaker(utterance.speaker)
        start = _as_float(utterance.start)
        words = count_words(text)
        if words:
            compound = sentiment.polarity(text)
            result = UtteranceAnalysis(
                sentiment=sentiment.label_for(compound),
                sentiment_score=compound,
                emotion=emotion.classify(text, compound),
            )
            hits = self._matcher.match(text, start, speaker)
            signals = agent_score.utterance_signals(text)
            features = summary.utterance_features(text)
        else:
            result = UtteranceAnalysis(sentiment="neutral", sentiment_score=0.0, emotion="neutral")
            hits = ()
            signals = agent_score.AgentSignals()
            features = summary.SummaryFeatures()
        self._records.append(_Record(len(self._records), start, speaker, words, result, hits, signals, features))
        self._word_count += words
        for content in features.content:
            self._content_counts.update(content)
        if any(hit.category == "repeated_problems" for hit in hits):
            self._has_repeated_problems = True
        self._cached = None
        return result

    def analysis(self) -> CallAnalysis | None:
        """The call's analytics so far, or None until at least ``min_words`` words of final text exist."""
        if self._word_count < self._min_words or self._word_count == 0:
            return None
        if self._cached is None:
            self._cached = self._compute()
        return self._cached

    def _compute(self) -> CallAnalysis:
        ordered = sorted(self._records, key=lambda r: (r.start, r.sequence))
        spoken = [r for r in ordered if r.words > 0]
        customer = [r for r in spoken if r.speaker == "customer"]
        focus = customer or spoken

        compound = _weighted_compound(focus)
        call_emotion = emotion.call_emotion([r.result.emotion for r in focus])

        score, breakdown = agent_score.score(
            [agent_score.ScoredUtterance(r.speaker, r.result.sentiment_score, r.words, r.signals) for r in ordered],
            self._has_repeated_problems,
        )
        text_summary = summary.summarise(
            [
                summary.SummaryUtterance(
                    r.speaker, r.result.sentiment_score, r.words, r.features, r.signals.resolution_sentence
                )
                for r in ordered
            ],
            self._content_counts,
        )
        hits = tuple(hit for r in ordered for hit in r.hits)
        process, repeated, marketing = (describe(hits, name) for name in CATEGORY_NAMES)
        return CallAnalysis(
            summary=text_summary,
            sentiment=sentiment.label_for(compound),
            sentiment_score=round(compound, 4),
            emotion=call_emotion,
            agent_score=score,
            agent_score_breakdown=breakdown,
            process_issues=process,
            repeated_problems=repeated,
            marketing_mentions=marketing,
            hits=hits,
            word_count=self._word_count,
        )
