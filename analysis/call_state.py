"""The running call sentiment: how the customer feels about the call now, as a supervisor would say it.

The call-level sentiment used to be a word- and recency-weighted mean of the customer's utterances.
A thirty-word complaint then outweighed every short reply after it ("okay", "yes please, put me on
that one"), and neutral turns, which carry no sentiment, never moved it: a customer who had accepted
an offer eight turns ago was still "negative" on every row. What a supervisor (or a QA reader
filtering the column) needs is the state of the call, which follows the customer turn by turn:

* a **negative** utterance (a complaint, a threat, sarcasm) pulls the state down at once:
  ``state = min(score, (state + score) / 2)``; from a positive state, halfway: ``(state + score) / 2``
  (one grumble after an accepted offer does not make an angry call);
* a **decline** of an offer in reach is a decision, not a complaint: it counts as a neutral turn
  unless it is strongly negative (``score <= -STRONG_NEGATIVE``);
* a **positive** utterance, an **acceptance** of an offer, or relief moves it up at once:
  ``state = max(score, ACCEPTANCE_LEVEL)`` for an acceptance (``decisions.is_acceptance``) or a clear
  positive (``score >= CLEAR_POSITIVE``); any other positive utterance (a polite "thanks" in the
  middle of a complaint) moves it halfway: ``state = max(state, (state + score) / 2)``;
* a **neutral** utterance (details, "okay", questions) lets it decay toward neutral:
  ``state *= NEUTRAL_DECAY``, slowly: annotators keep a complaint's state through the calm
  procedural turns that follow it until something changes (a fix, an offer accepted), so about a
  dozen of the customer's neutral turns bring a strong complaint back to neutral;
* the agent's utterances do not move it: it is the customer's state.

The label uses ``STATE_THRESHOLD`` either side of 0. A call with speakers is neutral until the customer
speaks (the agent's greeting is not the customer's mood); a mono call follows every speaker.
The same rule gives the live events, the SSE stream and the CSV's ``running_sentiment``: they all read
the analyzer's ``sentiment``. The constants were chosen on the 12 development calls of those types
(``benchmarks/analysis_data/calls/call_s*``; a sweep of the decay 0.6-0.95 and the threshold 0.1-0.3
gave 81-86 % turn agreement, best at 0.85-0.95 / 0.1) and frozen before the held-out round 4.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ACCEPTANCE_LEVEL",
    "CLEAR_POSITIVE",
    "NEUTRAL_DECAY",
    "STATE_THRESHOLD",
    "StateTurn",
    "running_states",
    "state_label",
    "step",
]

NEUTRAL_DECAY: Final = 0.85
ACCEPTANCE_LEVEL: Final = 0.5
CLEAR_POSITIVE: Final = 0.5
STATE_THRESHOLD: Final = 0.1
STRONG_NEGATIVE: Final = 0.6  # a "no" this negative is a complaint, not just a decision


@dataclass(frozen=True, slots=True)
class StateTurn:
    """One utterance of the followed speaker, in call order."""

    sentiment: str  # the utterance's label
    score: float  # -1 .. 1
    acceptance: bool = False  # an acceptance of an offer (decisions.is_acceptance)
    declined: bool = False  # a "no" to an offer in reach: a decision, not a complaint (read as neutral)


def _clamp(value: float) -> float:
    return max(-1.0, min(1.0, value))


def step(state: float, turn: StateTurn) -> float:
    """The state after one more utterance of the followed speaker."""
    score = _clamp(turn.score)
    if turn.acceptance:
        return max(score, ACCEPTANCE_LEVEL)
    if turn.declined and score > -STRONG_NEGATIVE:
        return state * NEUTRAL_DECAY
    if turn.sentiment == "negative":
        if state > 0:
            return (state + score) / 2  # from a good place, one grumble takes it only halfway
        return min(score, (state + score) / 2)
    if turn.sentiment == "positive":
        if score >= CLEAR_POSITIVE:
            return score
        return max(state, (state + score) / 2)
    return state * NEUTRAL_DECAY


def running_states(turns: Sequence[StateTurn]) -> list[float]:
    """The state after each turn, from 0 (neutral) before the first."""
    states: list[float] = []
    state = 0.0
    for turn in turns:
        state = step(state, turn)
        states.append(state)
    return states


def state_label(state: float) -> str:
    """positive, neutral or negative."""
    if state >= STATE_THRESHOLD:
        return "positive"
    if state <= -STATE_THRESHOLD:
        return "negative"
    return "neutral"
