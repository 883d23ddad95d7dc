"""Per-utterance sentiment with VADER, tuned lightly for contact-centre speech.

VADER is rule-based, fast (well under a millisecond per utterance), deterministic and needs no model
download, which is what a live, per-utterance signal needs. One analyzer instance is shared by the
whole process because building it parses the lexicon files.

The score is VADER's ``compound`` (-1.0 .. 1.0); the label uses VADER's recommended thresholds:
``compound >= 0.05`` is "positive", ``compound <= -0.05`` is "negative", anything between is "neutral".

Before use, the shared analyzer's lexicon gets a handful of contact-centre adjustments
(``DOMAIN_LEXICON``), through VADER's own lexicon table: transcribed speech is full of the filler and
request verb "like" ("I'd like to cancel", "it's like, broken"), which stock VADER scores as praise,
and service-failure words such as "working" (so that "not working" is negative through VADER's
negation rule), "outage" or "overcharged" are missing from the stock lexicon.

VADER's cost grows with the square of the text length (each sentiment word re-lowercases the whole
text), and its compound saturates at +-1 on long texts anyway. Texts longer than ``CHUNK_WORDS``
whitespace-separated words are therefore scored in consecutive chunks of that size, and the score is
the word-weighted mean of the chunks' compounds. Ordinary utterances are far shorter and get VADER's
compound exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

__all__ = [
    "CHUNK_WORDS",
    "DOMAIN_LEXICON",
    "NEGATIVE_THRESHOLD",
    "POSITIVE_THRESHOLD",
    "SENTIMENT_LABELS",
    "label_for",
    "polarity",
    "probabilities",
    "thirds",
    "vader_scores",
    "valenced_words",
]

POSITIVE_THRESHOLD: Final = 0.05
NEGATIVE_THRESHOLD: Final = -0.05
SENTIMENT_LABELS: Final = ("positive", "neutral", "negative")
CHUNK_WORDS: Final = 120

# word -> VADER valence (-4 .. 4); None removes the word from the lexicon.
DOMAIN_LEXICON: Final[dict[str, float | None]] = {
    "like": None,
    "working": 1.2,
    "works": 1.2,
    "fixed": 1.5,
    "outage": -1.6,
    "outages": -1.6,
    "overcharged": -1.8,
    "disconnected": -1.2,
    "glitch": -1.2,
    "glitchy": -1.2,
    "issue": -0.8,
    "issues": -0.8,
    "unresolved": -1.5,
}


def _build_analyzer() -> SentimentIntensityAnalyzer:
    analyzer = SentimentIntensityAnalyzer()
    lexicon: dict[str, float] = analyzer.lexicon
    for word, valence in DOMAIN_LEXICON.items():
        if valence is None:
            lexicon.pop(word, None)
        else:
            lexicon[word] = valence
    return analyzer


_ANALYZER: Final = _build_analyzer()


def polarity(text: str) -> float:
    """VADER compound score of ``text`` in -1.0 .. 1.0; 0.0 for empty or word-less text."""
    if not text or not text.strip():
        return 0.0
    tokens = text.split()
    if len(tokens) <= CHUNK_WORDS:
        return _compound(text)
    total = 0.0
    for begin in range(0, len(tokens), CHUNK_WORDS):
        chunk = tokens[begin : begin + CHUNK_WORDS]
        total += len(chunk) * _compound(" ".join(chunk))
    return max(-1.0, min(1.0, round(total / len(tokens), 4)))


def valenced_words(text: str, limit: int = 4) -> list[tuple[str, float]]:
    """The words of ``text`` VADER's (tuned) lexicon gives a valence, strongest first, each once: what
    moved the score (a transition's drivers quote them)."""
    found: dict[str, float] = {}
    lexicon: dict[str, float] = _ANALYZER.lexicon
    for word in re.findall(r"[a-z']+", text.lower()):
        valence = lexicon.get(word)
        if valence is not None and word not in found:
            found[word] = float(valence)
    return sorted(found.items(), key=lambda item: -abs(item[1]))[: max(0, limit)]


def vader_scores(text: str) -> tuple[float, float, float]:
    """VADER's (compound, positive, negative) for ``text``; the proportions come from its first
    ``CHUNK_WORDS`` words, the compound from ``polarity``."""
    if not text or not text.strip():
        return 0.0, 0.0, 0.0
    head = " ".join(text.split()[:CHUNK_WORDS])
    scores: dict[str, float] = _ANALYZER.polarity_scores(head)
    return polarity(text), float(scores["pos"]), float(scores["neg"])


def _compound(text: str) -> float:
    scores: dict[str, float] = _ANALYZER.polarity_scores(text)
    return max(-1.0, min(1.0, float(scores["compound"])))


def label_for(compound: float) -> str:
    """Map a compound score to "positive", "neutral" or "negative"."""
    if compound >= POSITIVE_THRESHOLD:
        return "positive"
    if compound <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


def probabilities(compound: float) -> dict[str, float]:
    """A compound score as positive/neutral/negative "probabilities" (the rules' sentiment_scores)."""
    return {
        "positive": round(max(compound, 0.0), 4),
        "neutral": round(1.0 - abs(compound), 4),
        "negative": round(max(-compound, 0.0), 4),
    }


def thirds(scores: Sequence[float]) -> tuple[float, float]:
    """The mean score of the first third and of the last third (at least one each; 0.0 for no scores):
    where a speaker's sentiment started and where it ended."""
    if not scores:
        return 0.0, 0.0
    third = max(1, len(scores) // 3)
    return sum(scores[:third]) / third, sum(scores[-third:]) / third
