"""Transitions: the customer's state changes and the change holds (not one noisy utterance).

A supervisor wants to hear "the customer went from frustrated to calm after the fix" or "from calm to
angry after the refusal", not a label that flickers with every reply. Each customer utterance gives a
candidate state (``STATES``):

* ``pleased``: a positive utterance (or an acceptance of an offer);
* a negative utterance: ``angry`` (anger or disgust with high arousal, or the contact-centre label
  angry), ``anxious`` (fear), ``sad`` (sadness), else ``frustrated``;
* ``calm``: a neutral utterance of at least ``CALM_MIN_WORDS`` words, ``CALM_MIN_TALK_WORDS`` of them
  talk (not numbers or spelled letters); shorter neutral turns ("yes", "okay") and data (an account
  number, a name and a date of birth) carry no state and leave the current one standing.

The first state of the call is where it starts, not a transition. A candidate different from the
current state becomes a transition when it is *strong* (P(label) of the sentiment model at least
``STRONG_PROBABILITY``, or an acceptance of an offer, for a change of polarity to pleased or to a
negative state, or for anger; never for calm, nor between two negative states such as anxious to
sad), or when the customer's next utterance that carries a state agrees with it (the change held).
Either way the transition is placed at the first utterance of the new state (``at_ms``;
``evidence_utterance_ids`` lists the utterances that showed it); a change confirmed by the next
utterance is therefore reported one customer utterance late.

``drivers``: the agent utterance just before the change (what the customer reacted to: the fix, the
refusal, the offer) and the words of the customer's utterance that carry valence in VADER's lexicon.
A transition to ``angry`` is an alert; so is sustained anger, a second angry utterance in a row
(``TransitionTracker.sustained_anger``, which the caller reports as a moment).
Confidence: the mean probability of the evidence utterances' sentiment labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from analysis.sentiment import valenced_words
from analysis.text import count_words, truncate, words

__all__ = ["CALM_MIN_WORDS", "STATES", "STRONG_PROBABILITY", "Transition", "TransitionTracker", "TransitionTurn"]

STATES: Final = ("calm", "pleased", "frustrated", "angry", "anxious", "sad")
NEGATIVE_STATES: Final = frozenset({"frustrated", "angry", "anxious", "sad"})
CALM_MIN_WORDS: Final = 5
CALM_MIN_TALK_WORDS: Final = 4  # words that are not numbers or spelled letters
STRONG_PROBABILITY: Final = 0.75
ANGRY_AROUSAL: Final = 0.6
ANGER_ALERT: Final = "sustained anger: the customer is angry"


@dataclass(frozen=True, slots=True)
class TransitionTurn:
    """What the transition rule needs of one utterance (any speaker), in call order."""

    utterance_id: str
    speaker: str
    text: str
    start: float
    sentiment: str
    sentiment_probability: float  # the model's probability of ``sentiment``
    emotion: str  # the contact-centre label (analysis.emotion)
    ekman: Mapping[str, float]  # the 7-way distribution (analysis.emotion_pad)
    arousal: float
    accepted: bool = False


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of the customer's state, as the SSE ``transition`` event carries it."""

    transition_id: str
    at: float  # seconds: the first utterance of the new state
    from_state: str
    to_state: str
    evidence_utterance_ids: tuple[str, ...]
    drivers: tuple[dict[str, object], ...]
    confidence: float
    alert: bool = False
    reason: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "transition_id": self.transition_id,
            "at_ms": round(self.at * 1000),
            "from_state": self.from_state,
            "to_state": self.to_state,
            "evidence_utterance_ids": list(self.evidence_utterance_ids),
            "drivers": [dict(driver) for driver in self.drivers],
            "confidence": round(self.confidence, 3),
            "stability": "final",
            "alert": self.alert,
            "reason": self.reason,
        }


def candidate_state(turn: TransitionTurn) -> str | None:
    """The state one customer utterance shows, or None when it shows none."""
    if turn.accepted or turn.sentiment == "positive":
        return "pleased"
    if turn.sentiment == "negative":
        ekman = turn.ekman
        hostile = ekman.get("anger", 0.0) + ekman.get("disgust", 0.0)
        if turn.emotion == "angry" or (hostile >= 0.5 and turn.arousal >= ANGRY_AROUSAL):
            return "angry"
        top = max(ekman, key=lambda label: ekman[label]) if ekman else ""
        if top == "fear" or turn.emotion == "anxious":
            return "anxious"
        if top == "sadness" or turn.emotion == "sad":
            return "sad"
        return "frustrated"
    if count_words(turn.text) < CALM_MIN_WORDS or len(_talk_words(turn.text)) < CALM_MIN_TALK_WORDS:
        return None  # "yes", "okay", an account number, a name and a date of birth: no state
    return "calm"


_NUMBER_WORDS: Final = frozenset(
    [
        "zero",
        "oh",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "sixty",
        "seventy",
        "eighty",
        "ninety",
        "hundred",
        "thousand",
        "double",
        "treble",
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
        "sixth",
        "seventh",
        "eighth",
        "ninth",
        "tenth",
    ]
)


def _talk_words(text: str) -> list[str]:
    """The words of ``text`` that are talk, not data: no numbers, no spelled letters."""
    return [w for w in words(text) if len(w) > 1 and not w.isdigit() and w not in _NUMBER_WORDS]


def _strong(state: str, current: str, turn: TransitionTurn) -> bool:
    """A change this clear needs no second utterance: pleased or negative from calm (or the reverse
    polarity) said with confidence, or anger. A move between two negative states (anxious to sad) or
    to calm always waits for the next utterance."""
    if state == "calm" or (state in NEGATIVE_STATES and current in NEGATIVE_STATES and state != "angry"):
        return False
    return turn.accepted or turn.sentiment_probability >= STRONG_PROBABILITY


@dataclass
class TransitionTracker:
    """The customer's state through one call; ``add`` gives the transitions each utterance confirms."""

    followed: str = "customer"  # whose state (a mono call without roles: "unknown")
    state: str | None = None
    transitions: list[Transition] = field(default_factory=list)
    _pending: tuple[str, TransitionTurn, TransitionTurn | None] | None = None  # state, first turn, agent before
    _last_other: TransitionTurn | None = None
    _previous_candidate: str | None = None
    _anger_reported: bool = False
    # set by ``add`` to the utterance that made the anger sustained (a second angry utterance in a row),
    # once per angry stretch; None otherwise
    sustained_anger: TransitionTurn | None = None

    def add(self, turn: TransitionTurn) -> list[Transition]:
        if turn.speaker != self.followed:
            self._last_other = turn
            return []
        candidate = candidate_state(turn)
        if candidate is None:
            return []
        found: list[Transition] = []
        self.sustained_anger = None
        if candidate == "angry" and self._previous_candidate == "angry" and not self._anger_reported:
            self.sustained_anger = turn
            self._anger_reported = True
        elif candidate != "angry":
            self._anger_reported = False
        self._previous_candidate = candidate
        if self.state is None:
            self.state = candidate
        elif candidate == self.state:
            self._pending = None
        elif self._pending is not None and self._pending[0] == candidate:
            _, first, before = self._pending
            found.append(self._record(self.state, candidate, first, turn, before))
        elif _strong(candidate, self.state, turn):
            found.append(self._record(self.state, candidate, turn, None, self._last_other))
        else:
            self._pending = (candidate, turn, self._last_other)
        return found

    def _record(
        self,
        from_state: str,
        to_state: str,
        first: TransitionTurn,
        second: TransitionTurn | None,
        before: TransitionTurn | None,
    ) -> Transition:
        self._pending = None
        self.state = to_state
        evidence = (first, second) if second is not None else (first,)
        drivers: list[dict[str, object]] = []
        if before is not None:
            drivers.append(
                {
                    "kind": "utterance",
                    "utterance_id": before.utterance_id,
                    "speaker_id": before.speaker,
                    "text": truncate(" ".join(before.text.split()), 120),
                }
            )
        for turn in evidence:
            for word, valence in valenced_words(turn.text, 3):
                drivers.append({"kind": "word", "utterance_id": turn.utterance_id, "word": word, "valence": valence})
        confidence = sum(t.sentiment_probability for t in evidence) / len(evidence)
        angry = to_state == "angry"
        transition = Transition(
            f"t{len(self.transitions) + 1}",
            first.start,
            from_state,
            to_state,
            tuple(t.utterance_id for t in evidence),
            tuple(drivers),
            max(0.0, min(1.0, confidence)),
            angry,
            ANGER_ALERT if angry else "",
        )
        self.transitions.append(transition)
        return transition
