"""Emotion as the live-capture clients read it: a 7-way distribution and PAD scores per utterance.

The contact-centre labels of ``analysis.emotion`` (frustrated, anxious, confused ...) are what a QA
reader filters on; the live-capture contract and most emotion tooling speak Ekman's six basic
emotions plus neutral, and the pleasure-arousal-dominance space (Mehrabian & Russell), which
places "angry" (unpleasant, aroused, in control) apart from "afraid" (unpleasant, aroused, helpless)
and lets a supervisor see a customer's arousal climb before the label changes.

**7-way distribution** (``EKMAN_LABELS``, sums to 1): the turn classifier's 8-label distribution is
mapped onto the 7 (``FROM_CONTACT_CENTRE``: frustrated -> mostly anger, some sadness; angry -> anger
and some disgust; confused -> surprise; anxious -> fear; satisfied/happy -> joy), then cue phrases move
mass to the labels the 8 cannot express: ``surprise`` (an echo question "Two hundred pounds?",
"are you serious", "wow", "hang on") and ``disgust`` (contempt and moral disgust: "disgraceful",
"sickening", "you should be ashamed"), and sharpen ``fear`` and ``sadness``. Each cue adds
``CUE_MASS`` to its label before renormalising, so one clear cue outweighs a diffuse model guess but
not a confident one.

**PAD** (each in [-1, 1]):

* valence = the distribution's expected valence, where the labels without a valence of their own
  (surprise, neutral) lean by ``VALENCE_FROM_SENTIMENT`` x the sentiment score (the text model's
  P(pos) - P(neg)): "I'm owed money? Really?" is a pleasant surprise;
* arousal = the distribution's expected arousal and, when voice terms are on, the voice: louder and
  higher-pitched than the speaker's own baseline raises it (``analysis.prosody.ProsodyChange``).
  Text cues for arousal (exclamations, intensifiers, staccato "A month.") were tried and lowered the
  correlation on the development set (0.84 -> 0.80), so there are none;
* dominance = the expected dominance + text cues: demands and ultimatums ("get someone out today",
  "or I'm leaving", "I want") up, pleading and helplessness ("please", "I don't know what to do",
  "will I ...?") down; with voice, loudness up.

The per-emotion PAD anchors (``ANCHORS``) start from Mehrabian's published values for the basic
emotions and are the means of the development set's labels (``benchmarks/analysis_data/live/
utterances.jsonl``, 120 utterances, annotator A), rounded; the cue weights and the sentiment lean
were set on the same set (a sweep of the lean 0-1 gave valence r 0.84-0.76, best near 0-0.3) and
frozen before the held-out round was scored.

**Voice** (``VOICE_WEIGHTS``) is off by default: no recorded emotional speech can be installed on
these machines (no acted-emotion corpus ships on PyPI, Debian or npm), the rendered calls' voices
are synthetic and carry no emotion, and on them the voice terms did not improve the correlation
(``benchmarks/bench_live_analytics.py`` reports both side by side).

Confidence: the top probability of the 7-way distribution. Pure functions, no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from analysis.prosody import ProsodyChange
from analysis.text import compile_phrases

__all__ = [
    "ANCHORS",
    "EKMAN_LABELS",
    "FROM_CONTACT_CENTRE",
    "Pad",
    "PadEmotion",
    "ekman_distribution",
    "pad_emotion",
]

EKMAN_LABELS: Final = ("neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust")

# contact-centre label -> share of its probability given to each Ekman label
FROM_CONTACT_CENTRE: Final[Mapping[str, Mapping[str, float]]] = {
    "neutral": {"neutral": 1.0},
    "satisfied": {"joy": 0.8, "neutral": 0.2},
    "happy": {"joy": 1.0},
    "frustrated": {"anger": 0.75, "sadness": 0.15, "disgust": 0.1},
    "angry": {"anger": 0.7, "disgust": 0.3},
    "anxious": {"fear": 0.9, "sadness": 0.1},
    "confused": {"surprise": 0.6, "neutral": 0.25, "fear": 0.15},
    "sad": {"sadness": 0.9, "fear": 0.1},
}

# label -> (valence, arousal, dominance): Mehrabian's basic-emotion values moved to the development
# labels' means (neutral is the origin by definition)
ANCHORS: Final[Mapping[str, tuple[float, float, float]]] = {
    "neutral": (0.0, 0.05, 0.1),
    "joy": (0.7, 0.35, 0.25),
    "sadness": (-0.65, -0.25, -0.4),
    "anger": (-0.7, 0.55, 0.5),
    "fear": (-0.8, 0.75, -0.35),
    "surprise": (-0.25, 0.6, 0.1),
    "disgust": (-0.85, 0.55, 0.45),
}

CUE_MASS: Final = 0.6  # what one cue phrase adds to its label before renormalising
MAX_CUES_PER_LABEL: Final = 2
VALENCE_FROM_SENTIMENT: Final = 0.3
OPEN_VALENCE: Final = ("surprise", "neutral")
DOMINANCE_CUE: Final = 0.15
MAX_TEXT_SHIFT: Final = 0.35  # the text cues move dominance at most this far
# voice term per z-score of the speaker's own baseline (ProsodyChange), off unless asked for
VOICE_WEIGHTS: Final[Mapping[str, float]] = {
    "arousal_loudness": 0.08,
    "arousal_pitch": 0.06,
    "dominance_loudness": 0.05,
}

_CUES: Final[Mapping[str, re.Pattern[str]]] = {
    "surprise": compile_phrases(
        [
            "wow",
            "are you serious",
            "seriously",
            "really?",
            "no way",
            "oh my word",
            "oh my god",
            "oh my goodness",
            "goodness",
            "gosh",
            "hang on",
            "hold on",
            "wait",
            "what do you mean",
            "you're joking",
            "you are joking",
            "i can't believe",
            "didn't expect",
            "wasn't expecting",
            "unexpected",
            "never seen that before",
            "can't be right",
            "that can't be",
            "since when",
            "i thought i",
            "i was sure",
            "i've never heard",
            "never been to",
        ]
    ),
    "disgust": compile_phrases(
        [
            "disgust*",
            "disgrace*",
            "despicable",
            "sickening",
            "sick just thinking",
            "feel sick",
            "filthy",
            "vile",
            "revolting",
            "shameful",
            "ashamed of yourselves",
            "should be ashamed",
            "appalled",
            "appalling",
            "grubby",
            "insulting",
            "a racket",
            "a scam",
            "rip off",
            "dishonest",
            "pathetic",
            "wouldn't put a dog",
            "should be sacked",
            "shocking",
            "maggots",
            "mould",
        ]
    ),
    "fear": compile_phrases(
        [
            "frightened",
            "scared",
            "terrified",
            "worried",
            "worrying",
            "panicking",
            "what do we do",
            "what do i do",
            "what should i do",
            "don't know what to do",
            "please don't tell me",
            "please hurry",
            "please just tell me",
            "are they going to",
            "are you going to take",
            "will i be",
            "am i covered",
            "is it bad",
            "can't lose",
            "can't go without",
            "nobody will know",
            "haven't slept",
            "get the kids out",
            "right now, please",
        ]
    ),
    "sadness": compile_phrases(
        [
            "passed away",
            "died",
            "bereave*",
            "funeral",
            "i suppose",
            "nothing you can do",
            "that's that",
            "so tired of",
            "on my own",
            "not managing",
            "i'll try",
            "lost my job",
            "made redundant",
            "got on top of me",
            "don't really know where to start",
            "i wish i could",
            "wish i had better news",
            "not what you wanted to hear",
            "savings",
            "no choice",
            "got a choice",
            "somehow",
            "just gone",
            "the money's gone",
            "it's gone",
            "i'll miss",
            "heartbroken",
            "devastated",
            "gutted",
        ]
    ),
}
_DOMINANCE_UP: Final = compile_phrases(
    [
        "i want",
        "i'd like this",
        "i would like this",
        "get someone",
        "fix it",
        "sort it",
        "put me through",
        "find something",
        "i'm not waiting",
        "i'm not paying",
        "i'm not hanging up",
        "or i'm",
        "or i'll",
        "i'm leaving",
        "i'll switch",
        "i expect",
        "you should",
        "you need to",
        "i need you to",
        "keep it",
        "don't bother",
        "obviously",
        "i'm not an idiot",
        "i'm logging",
        "i've asked you",
        "i've explained",
    ]
)
_DOMINANCE_DOWN: Final = compile_phrases(
    [
        "please",
        "i don't know",
        "what do i do",
        "what do we do",
        "can you not",
        "will i",
        "am i",
        "i'm sorry",
        "i'm so sorry",
        "i'm really sorry",
        "i'll try",
        "i suppose",
        "no choice",
        "got a choice",
        "i can't",
        "i haven't got",
        "help me",
        "i'm begging",
    ]
)
# a short echo question opening the utterance: "Two hundred and twelve pounds?", "Twice?", "Lisbon?"
_ECHO_QUESTION: Final = re.compile(r"^[^.?!]{1,60}\?")  # then at most ECHO_MAX_WORDS words (_echo_question)
ECHO_MAX_WORDS: Final = 6


@dataclass(frozen=True, slots=True)
class Pad:
    """Pleasure (valence), arousal and dominance, each in [-1, 1]."""

    valence: float
    arousal: float
    dominance: float

    def to_json(self) -> dict[str, float]:
        return {
            "valence": round(self.valence, 3),
            "arousal": round(self.arousal, 3),
            "dominance": round(self.dominance, 3),
        }


@dataclass(frozen=True, slots=True)
class PadEmotion:
    """One utterance's emotion in the live-capture terms."""

    distribution: dict[str, float]  # EKMAN_LABELS -> probability, sums to 1
    pad: Pad
    confidence: float  # the top probability
    voice: bool = False  # the voice terms were applied

    @property
    def label(self) -> str:
        return max(EKMAN_LABELS, key=lambda name: self.distribution[name])


def _clamp(value: float, low: float = -1.0, high: float = 1.0) -> float:
    if value != value:  # NaN
        return 0.0
    return max(low, min(high, value))


def _count(pattern: re.Pattern[str], text: str) -> int:
    return sum(1 for _ in pattern.finditer(text))


def ekman_distribution(text: str, contact_centre: Mapping[str, float]) -> dict[str, float]:
    """The 7-way distribution of one utterance from its contact-centre distribution and its cues."""
    mass = dict.fromkeys(EKMAN_LABELS, 0.0)
    for label, probability in contact_centre.items():
        for target, share in FROM_CONTACT_CENTRE.get(label, {"neutral": 1.0}).items():
            mass[target] += max(0.0, float(probability)) * share
    total = sum(mass.values())
    if total <= 0:
        mass["neutral"], total = 1.0, 1.0
    mass = {label: value / total for label, value in mass.items()}
    cues = {label: min(MAX_CUES_PER_LABEL, _count(pattern, text)) for label, pattern in _CUES.items()}
    if _echo_question(text):
        cues["surprise"] = min(MAX_CUES_PER_LABEL, cues["surprise"] + 1)
    if any(cues.values()):
        for label, found in cues.items():
            mass[label] += CUE_MASS * found
        total = sum(mass.values())
        mass = {label: value / total for label, value in mass.items()}
    return {label: round(mass[label], 4) for label in EKMAN_LABELS}


def _echo_question(text: str) -> bool:
    found = _ECHO_QUESTION.match(text.strip())
    return found is not None and len(found.group(0).split()) <= ECHO_MAX_WORDS


def _text_shift(text: str, up: re.Pattern[str], down: re.Pattern[str], weight: float) -> float:
    shift = weight * (_count(up, text) - _count(down, text))
    return max(-MAX_TEXT_SHIFT, min(MAX_TEXT_SHIFT, shift))


def pad_emotion(
    text: str,
    contact_centre: Mapping[str, float],
    sentiment_score: float,
    voice: ProsodyChange | None = None,
) -> PadEmotion:
    """The 7-way distribution, PAD and confidence of one utterance. ``voice``: the speaker's prosody
    against their own baseline, used only when given (the caller decides whether voice terms are on)."""
    distribution = ekman_distribution(text, contact_centre)
    expected = [sum(distribution[label] * ANCHORS[label][axis] for label in EKMAN_LABELS) for axis in range(3)]
    score = _clamp(float(sentiment_score))
    # surprise and neutral have no valence of their own: the sentiment model says which way they lean
    open_mass = sum(distribution[label] for label in OPEN_VALENCE)
    valence = expected[0] - sum(distribution[label] * ANCHORS[label][0] for label in OPEN_VALENCE)
    valence += open_mass * VALENCE_FROM_SENTIMENT * score
    arousal = expected[1]
    dominance = expected[2] + _text_shift(text, _DOMINANCE_UP, _DOMINANCE_DOWN, DOMINANCE_CUE)
    used_voice = voice is not None and voice.measured
    if voice is not None and used_voice:
        arousal += VOICE_WEIGHTS["arousal_loudness"] * voice.loudness + VOICE_WEIGHTS["arousal_pitch"] * voice.pitch
        dominance += VOICE_WEIGHTS["dominance_loudness"] * voice.loudness
    pad = Pad(_clamp(valence), _clamp(arousal), _clamp(dominance))
    confidence = max(distribution.values())
    return PadEmotion(distribution, pad, round(confidence if math.isfinite(confidence) else 0.0, 4), used_voice)
