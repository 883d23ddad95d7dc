"""Per-utterance emotion from a curated cue lexicon combined with the VADER score.

QA teams want more than positive/negative: an angry customer needs different handling from a
confused or anxious one. Until a trained model replaces it, this module gives a transparent,
deterministic label computed from the words themselves.

Label set (``EMOTION_LABELS``): neutral, satisfied, happy, frustrated, angry, anxious, confused, sad.

Per-utterance rule (``classify``):

1. Every cue of ``CUES`` (words and multi-word phrases per emotion, in the phrase syntax of
   ``analysis.text``) found in the text adds its weight to its emotion: 1.0 for a clear cue, 0.5 for
   an ambiguous one such as "again" or "lost".
2. Negation: a cue preceded, within three words of the same clause, by a negation ("not happy",
   "never worried") does not count. A negated positive cue ("not happy", "not satisfied") counts 0.5
   towards frustrated when VADER also finds the text negative. Cues that carry their own negation
   ("still not", "don't understand") are never negated again, nor are "thank you" and "thanks"
   ("no thank you" is a polite decline).
3. When any cue matched, VADER strengthens the side it agrees with: matched negative emotions gain
   ``-compound`` (if negative), matched happy/satisfied gain ``compound`` (if positive). The best
   total wins; exact ties go to the first of angry, frustrated, anxious, confused, sad, happy,
   satisfied. A frustrated utterance with ``compound <= -0.8`` is labelled angry.
4. Without cues, VADER alone decides: ``compound <= -0.5`` is frustrated, ``>= 0.7`` happy,
   ``>= 0.5`` satisfied, anything else neutral.

Call-level rule (``call_emotion``): over the last ``RECENT_UTTERANCES`` utterances of the customer
(all speakers when there is no customer), each non-neutral label scores ``RECENCY_DECAY ** age``
(age 0 = the latest); the best-scoring label wins, ties to the more recent one. Neutral only when
all those utterances are neutral.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from analysis.text import compile_indexed, is_negated, phrase_index

__all__ = [
    "CUES",
    "EMOTION_LABELS",
    "RECENCY_DECAY",
    "RECENT_UTTERANCES",
    "call_emotion",
    "classify",
    "emotion_scores",
    "lexicon_distribution",
]

EMOTION_LABELS: Final = ("neutral", "satisfied", "happy", "frustrated", "angry", "anxious", "confused", "sad")

_NEGATIVE_EMOTIONS: Final = frozenset({"frustrated", "angry", "anxious", "confused", "sad"})
_POSITIVE_EMOTIONS: Final = frozenset({"satisfied", "happy"})
_PRIORITY: Final = ("angry", "frustrated", "anxious", "confused", "sad", "happy", "satisfied")

STRONG: Final = 1.0
WEAK: Final = 0.5

# emotion -> cue phrase -> weight
CUES: Final[dict[str, dict[str, float]]] = {
    "angry": {
        "ridiculous": STRONG,
        "unacceptable": STRONG,
        "furious": STRONG,
        "sick of": STRONG,
        "sick and tired": STRONG,
        "outrageous": STRONG,
        "absurd": STRONG,
        "angry": STRONG,
        "livid": STRONG,
        "pissed": STRONG,
        "disgusting": STRONG,
        "disgraceful": STRONG,
        "worst": STRONG,
        "terrible service": STRONG,
        "pathetic": STRONG,
        "incompetent": STRONG,
        "joke": WEAK,
        "how dare": STRONG,
    },
    "frustrated": {
        "still {neg}": STRONG,
        "again": WEAK,
        "keeps happening": STRONG,
        "keeps dropping": STRONG,
        "waste of time": STRONG,
        "wasting my time": STRONG,
        "frustrat*": STRONG,
        "annoying": STRONG,
        "annoyed": STRONG,
        "fed up": STRONG,
        "every time": WEAK,
        "how many times": STRONG,
        "over and over": STRONG,
        "useless": STRONG,
        "been waiting": WEAK,
        "forever": WEAK,
        "nothing works": STRONG,
        "doesn't work": WEAK,
        "not working": WEAK,
        "for ages": WEAK,
        "hassle": WEAK,
    },
    "anxious": {
        "worried": STRONG,
        "worry": WEAK,
        "urgent*": STRONG,
        "as soon as possible": STRONG,
        "asap": STRONG,
        "nervous": STRONG,
        "scared": STRONG,
        "afraid": STRONG,
        "concerned": STRONG,
        "emergency": STRONG,
        "anxious": STRONG,
        "panic*": STRONG,
        "desperate*": STRONG,
        "right away": WEAK,
        "what if": WEAK,
    },
    "confused": {
        "don't understand": STRONG,
        "do not understand": STRONG,
        "what do you mean": STRONG,
        "not sure": STRONG,
        "confus*": STRONG,
        "doesn't make sense": STRONG,
        "makes no sense": STRONG,
        "don't get it": STRONG,
        "unclear": STRONG,
        "i'm lost": STRONG,
        "which one": WEAK,
        "how does that work": STRONG,
        "no idea": WEAK,
    },
    "sad": {
        "unfortunately": STRONG,
        "passed away": STRONG,
        "lost": WEAK,
        "sad": STRONG,
        "upset": STRONG,
        "heartbroken": STRONG,
        "devastated": STRONG,
        "died": STRONG,
        "funeral": STRONG,
        "depressed": STRONG,
        "lonely": STRONG,
        "hard time": STRONG,
        "struggling": STRONG,
        "can't afford": STRONG,
        "disappoint*": STRONG,
    },
    "happy": {
        "great": STRONG,
        "wonderful": STRONG,
        "love": STRONG,
        "happy": STRONG,
        "glad": STRONG,
        "awesome": STRONG,
        "fantastic": STRONG,
        "excellent": STRONG,
        "amazing": STRONG,
        "delighted": STRONG,
        "brilliant": STRONG,
        "excited": STRONG,
    },
    "satisfied": {
        "thank you": STRONG,
        "thanks": STRONG,
        "that works": STRONG,
        "perfect": STRONG,
        "solved": STRONG,
        "resolved": STRONG,
        "fixed": STRONG,
        "sorted": WEAK,
        "appreciate*": STRONG,
        "that helps": STRONG,
        "helpful": STRONG,
        "working now": STRONG,
        "sounds good": STRONG,
        "satisfied": STRONG,
        "all good": STRONG,
    },
}

_SELF_NEGATING_RE: Final = re.compile(r"\{neg\}|\bnot\b|\bno\b|\bnever\b|n't\b|\bcan't\b")
# Politeness formulae: "no thank you" is a polite decline, not a negated thanks.
_NEVER_NEGATED: Final = frozenset({"thank you", "thanks"})

RECENT_UTTERANCES: Final = 5
RECENCY_DECAY: Final = 0.7

_ANGRY_ESCALATION: Final = -0.8
_NO_CUE_FRUSTRATED: Final = -0.5
_NO_CUE_HAPPY: Final = 0.7
_NO_CUE_SATISFIED: Final = 0.5


@dataclass(frozen=True, slots=True)
class _Cue:
    phrase: str
    weight: float
    negatable: bool


@dataclass(frozen=True, slots=True)
class _EmotionCues:
    emotion: str
    cues: tuple[_Cue, ...]
    pattern: re.Pattern[str]  # one alternation over all cues; phrase_index(match) -> cues[index]


def _compile_cues() -> tuple[_EmotionCues, ...]:
    compiled: list[_EmotionCues] = []
    for emotion, table in CUES.items():
        if emotion not in EMOTION_LABELS:
            raise ValueError(f"unknown emotion {emotion!r} in CUES")
        cues = tuple(
            _Cue(phrase, weight, phrase not in _NEVER_NEGATED and _SELF_NEGATING_RE.search(phrase) is None)
            for phrase, weight in table.items()
        )
        compiled.append(_EmotionCues(emotion, cues, compile_indexed([c.phrase for c in cues])))
    return tuple(compiled)


_COMPILED_CUES: Final = _compile_cues()


def emotion_scores(text: str, compound: float) -> dict[str, float]:
    """Score of every non-neutral emotion for ``text`` (steps 1-3 of the rule, before the decision)."""
    scores = dict.fromkeys(_PRIORITY, 0.0)
    if not text or not text.strip():
        return scores
    matched = False
    for group in _COMPILED_CUES:
        for match in group.pattern.finditer(text):
            cue = group.cues[phrase_index(match)]
            if cue.negatable and is_negated(text, match.start()):
                if group.emotion in _POSITIVE_EMOTIONS and compound <= -0.05:
                    scores["frustrated"] += WEAK
                    matched = True
                continue
            scores[group.emotion] += cue.weight
            matched = True
    if matched:
        for emotion in _NEGATIVE_EMOTIONS:
            if scores[emotion] > 0 and compound < 0:
                scores[emotion] += -compound
        for emotion in _POSITIVE_EMOTIONS:
            if scores[emotion] > 0 and compound > 0:
                scores[emotion] += compound
    return scores


def classify(text: str, compound: float) -> str:
    """The emotion label of one utterance, given its text and VADER compound score."""
    scores = emotion_scores(text, compound)
    best = max(_PRIORITY, key=lambda label: (scores[label], -_PRIORITY.index(label)))
    if scores[best] > 0:
        if best == "frustrated" and compound <= _ANGRY_ESCALATION:
            return "angry"
        return best
    if compound <= _NO_CUE_FRUSTRATED:
        return "frustrated"
    if compound >= _NO_CUE_HAPPY:
        return "happy"
    if compound >= _NO_CUE_SATISFIED:
        return "satisfied"
    return "neutral"


def lexicon_distribution(text: str, compound: float, label: str) -> dict[str, float]:
    """The cue lexicon's scores as a distribution over EMOTION_LABELS (``label``, the one ``classify``
    chose, gets at least half)."""
    scores = emotion_scores(text, compound)
    raw = {name: 0.0 for name in EMOTION_LABELS}
    raw.update({name: max(0.0, value) for name, value in scores.items() if name in raw})
    raw[label] = max(raw[label], sum(raw.values()), 1.0)
    total = sum(raw.values())
    return {name: round(value / total, 4) for name, value in raw.items()}


def call_emotion(labels: Sequence[str]) -> str:
    """Call-level emotion from the chronological per-utterance labels of the relevant speaker."""
    recent = list(labels)[-RECENT_UTTERANCES:]
    totals: dict[str, float] = {}
    latest: dict[str, int] = {}
    for position, label in enumerate(recent):
        if label == "neutral" or label not in EMOTION_LABELS:
            continue
        age = len(recent) - 1 - position
        totals[label] = totals.get(label, 0.0) + RECENCY_DECAY**age
        latest[label] = position
    if not totals:
        return "neutral"
    return max(totals, key=lambda label: (totals[label], latest[label]))
