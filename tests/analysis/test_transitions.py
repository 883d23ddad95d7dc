"""The customer-state transitions of analysis.transitions on hand-made utterance verdicts."""

from __future__ import annotations

from analysis.transitions import TransitionTracker, TransitionTurn, candidate_state

ANGRY = {"anger": 0.8, "disgust": 0.1, "neutral": 0.1}
SAD = {"sadness": 0.9, "neutral": 0.1}
FEAR = {"fear": 0.9, "neutral": 0.1}
CALM = {"neutral": 1.0}
JOY = {"joy": 0.9, "neutral": 0.1}


def _turn(
    index: int,
    text: str,
    sentiment: str,
    probability: float,
    emotion: str,
    ekman: dict[str, float],
    arousal: float = 0.0,
) -> TransitionTurn:
    return TransitionTurn(f"u{index}", "customer", text, 5.0 * index, sentiment, probability, emotion, ekman, arousal)


def _agent(index: int, text: str) -> TransitionTurn:
    return TransitionTurn(f"u{index}", "agent", text, 5.0 * index, "neutral", 0.9, "neutral", CALM, 0.0)


def test_candidate_states() -> None:
    assert candidate_state(_turn(0, "That's brilliant, thank you.", "positive", 0.9, "happy", JOY)) == "pleased"
    assert candidate_state(_turn(0, "This is a joke.", "negative", 0.95, "angry", ANGRY, 0.7)) == "angry"
    assert candidate_state(_turn(0, "I'm worried about it.", "negative", 0.9, "anxious", FEAR)) == "anxious"
    assert candidate_state(_turn(0, "So that's it then.", "negative", 0.9, "sad", SAD)) == "sad"
    assert (
        candidate_state(
            _turn(0, "It stopped working on Monday.", "negative", 0.9, "frustrated", {"anger": 0.4, "neutral": 0.6})
        )
        == "frustrated"
    )
    assert candidate_state(_turn(0, "Okay.", "neutral", 0.9, "neutral", CALM)) is None  # too short to show a state
    assert candidate_state(_turn(0, "It's four four one two, seven seven.", "neutral", 0.9, "neutral", CALM)) is None
    assert candidate_state(_turn(0, "Right, that makes sense to me now.", "neutral", 0.9, "neutral", CALM)) == "calm"


def test_a_strong_change_is_reported_at_once_with_its_drivers() -> None:
    tracker = TransitionTracker()
    assert (
        tracker.add(
            _turn(
                1,
                "My broadband keeps dropping, it's really annoying.",
                "negative",
                0.95,
                "frustrated",
                {"anger": 0.4, "neutral": 0.6},
            )
        )
        == []
    )
    assert tracker.state == "frustrated"  # the first state is where the call starts, not a transition
    tracker.add(_agent(2, "I've moved you to a new port and it's fixed now."))
    found = tracker.add(_turn(3, "Oh brilliant, that's working, thank you so much.", "positive", 0.97, "happy", JOY))
    assert [(t.from_state, t.to_state) for t in found] == [("frustrated", "pleased")]
    event = found[0].to_json()
    assert event["at_ms"] == 15000 and event["evidence_utterance_ids"] == ["u3"] and event["stability"] == "final"
    drivers = event["drivers"]
    assert isinstance(drivers, list)
    assert drivers[0]["kind"] == "utterance" and drivers[0]["utterance_id"] == "u2"
    assert {d.get("word") for d in drivers[1:]} >= {"brilliant"}


def test_one_noisy_utterance_is_not_a_transition_but_two_are() -> None:
    tracker = TransitionTracker()
    tracker.add(
        _turn(
            1,
            "My bill has gone up again and I want to know why.",
            "negative",
            0.95,
            "frustrated",
            {"anger": 0.5, "neutral": 0.5},
        )
    )
    calm = "Okay, I understand what you're saying about that."
    assert tracker.add(_turn(3, calm, "neutral", 0.8, "neutral", CALM)) == []  # calm always waits for a second
    assert (
        tracker.add(
            _turn(
                5,
                "Still not sure that's right, it's annoying.",
                "negative",
                0.9,
                "frustrated",
                {"anger": 0.5, "neutral": 0.5},
            )
        )
        == []
    )
    assert tracker.add(_turn(7, calm, "neutral", 0.8, "neutral", CALM)) == []
    found = tracker.add(_turn(9, "Right, that makes sense, I can live with that.", "neutral", 0.8, "neutral", CALM))
    assert [(t.from_state, t.to_state, t.evidence_utterance_ids) for t in found] == [
        ("frustrated", "calm", ("u7", "u9"))
    ]
    assert found[0].at == 35.0  # placed at the first utterance of the new state


def test_between_negative_states_only_anger_is_immediate_and_it_is_an_alert() -> None:
    tracker = TransitionTracker()
    tracker.add(_turn(1, "I'm so worried, what happens to my money?", "negative", 0.95, "anxious", FEAR))
    assert tracker.add(_turn(3, "So that's just gone then, is it.", "negative", 0.95, "sad", SAD)) == []
    found = tracker.add(_turn(5, "This is absolutely ridiculous, I'm furious.", "negative", 0.99, "angry", ANGRY, 0.8))
    assert [(t.from_state, t.to_state) for t in found] == [("anxious", "angry")]
    assert found[0].alert and "anger" in found[0].reason
    tracker.add(_turn(7, "Unbelievable. Absolutely useless.", "negative", 0.99, "angry", ANGRY, 0.8))
    assert tracker.sustained_anger is not None and tracker.sustained_anger.utterance_id == "u7"
    tracker.add(_turn(9, "Useless, the lot of you, honestly.", "negative", 0.99, "angry", ANGRY, 0.8))
    assert tracker.sustained_anger is None  # once per angry stretch


def test_only_the_followed_speaker_moves_the_state() -> None:
    tracker = TransitionTracker()
    tracker.add(_turn(1, "I'd like to check my balance please.", "neutral", 0.9, "neutral", CALM))
    assert (
        tracker.add(
            TransitionTurn("u2", "agent", "Sorry, that's terrible news.", 10.0, "negative", 0.99, "sad", SAD, 0.0)
        )
        == []
    )
    assert tracker.state == "calm"
