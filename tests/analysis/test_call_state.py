"""`analysis.call_state`: the running call sentiment follows the customer, turn by turn."""

from __future__ import annotations

import itertools

from analysis.call_state import NEUTRAL_DECAY, StateTurn, running_states, state_label


def _labels(turns: list[StateTurn]) -> list[str]:
    return [state_label(state) for state in running_states(turns)]


def test_a_complaint_then_calm_turns_then_an_acceptance() -> None:
    turns = [
        StateTurn("negative", -0.9),  # "I want to cancel, the bill's jumped"
        StateTurn("neutral", 0.0),  # details
        StateTurn("negative", -0.6),  # "unless you can get near that, I'm off"
        StateTurn("neutral", 0.0),
        StateTurn("neutral", 0.0),
        StateTurn("neutral", 0.1, acceptance=True),  # "Go on then, put me on that one" (read as neutral)
        StateTurn("neutral", 0.0),  # small talk after the decision
    ]
    labels = _labels(turns)
    assert labels[:3] == ["negative", "negative", "negative"]
    assert labels[5:] == ["positive", "positive"]  # at once, and it stays


def test_neutral_turns_decay_toward_neutral() -> None:
    states = running_states([StateTurn("negative", -0.8)] + [StateTurn("neutral", 0.0)] * 14)
    assert states[1] == -0.8 * NEUTRAL_DECAY
    assert state_label(states[3]) == "negative"  # the calm procedural turns right after a complaint keep it
    assert state_label(states[-1]) == "neutral"  # a complaint dealt with calmly stops reading as angry
    assert all(abs(b) < abs(a) for a, b in itertools.pairwise(states[1:]))


def test_a_polite_thanks_mid_complaint_moves_it_only_halfway() -> None:
    states = running_states([StateTurn("negative", -0.9), StateTurn("positive", 0.2)])
    assert states[1] == (-0.9 + 0.2) / 2 and state_label(states[1]) == "negative"
    grumble = running_states([StateTurn("neutral", 0.1, acceptance=True), StateTurn("negative", -0.3)])
    assert state_label(grumble[1]) == "positive"  # one grumble after an accepted offer: halfway down


def test_a_decline_is_a_decision_not_a_complaint() -> None:
    polite = running_states([StateTurn("neutral", 0.0), StateTurn("negative", -0.4, declined=True)])
    assert state_label(polite[1]) == "neutral"
    angry = running_states([StateTurn("neutral", 0.0), StateTurn("negative", -0.9, declined=True)])
    assert state_label(angry[1]) == "negative"
    relieved = running_states([StateTurn("negative", -0.9), StateTurn("positive", 0.8)])
    assert state_label(relieved[1]) == "positive"  # clear relief moves it at once


def test_sarcasm_read_as_negative_pulls_it_down() -> None:
    # "Oh great, another price rise", read as negative by the sentiment model: the state follows it
    assert _labels([StateTurn("neutral", 0.0), StateTurn("negative", -0.4)]) == ["neutral", "negative"]
