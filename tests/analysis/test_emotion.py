"""Per-utterance and call-level emotion from the cue lexicon (analysis.emotion)."""

from __future__ import annotations

import pytest

from analysis import CallAnalyzer
from analysis import emotion as emotion_module
from analysis import sentiment as sentiment_module
from tests.analysis.scripted_calls import run_call, utterance


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This is ridiculous and completely unacceptable!", "angry"),
        ("I'm sick of this, I am furious.", "angry"),
        ("It is still not working, this keeps happening and it's a waste of time.", "frustrated"),
        ("This is urgent, I'm worried, I need it fixed as soon as possible.", "anxious"),
        ("I don't understand, what do you mean by that fee?", "confused"),
        ("My father passed away last month.", "sad"),
        ("This is wonderful, I love it!", "happy"),
        ("Thank you, that works perfectly.", "satisfied"),
        ("No thank you, that's all I needed.", "satisfied"),
        ("The modem is in the living room.", "neutral"),
        ("Can you read me the account number?", "neutral"),
    ],
)
def test_emotion_labels(text: str, expected: str) -> None:
    result = CallAnalyzer().add(utterance(0.0, "customer", text))
    assert result.emotion == expected


def test_emotion_negation() -> None:
    not_happy = CallAnalyzer().add(utterance(0.0, "customer", "I am not happy with this at all."))
    assert not_happy.emotion != "happy"
    assert not_happy.emotion == "frustrated"
    assert emotion_module.classify("I am happy with this.", sentiment_module.polarity("I am happy with this.")) in {
        "happy",
        "satisfied",
    }
    not_worried = CallAnalyzer().add(utterance(0.0, "customer", "I'm not worried about it."))
    assert not_worried.emotion != "anxious"
    worried = CallAnalyzer().add(utterance(0.0, "customer", "I'm worried about it."))
    assert worried.emotion == "anxious"
    # A cue after a clause break is not negated by an earlier "no".
    assert emotion_module.classify("No, I'm happy now.", 0.3) == "happy"


def test_emotion_without_cues_uses_vader() -> None:
    assert emotion_module.classify("xyz", -0.7) == "frustrated"
    assert emotion_module.classify("xyz", 0.8) == "happy"
    assert emotion_module.classify("xyz", 0.55) == "satisfied"
    assert emotion_module.classify("xyz", 0.1) == "neutral"
    assert emotion_module.classify("", 0.0) == "neutral"


def test_call_emotion_is_the_customers_recent_dominant_emotion() -> None:
    _, result = run_call(
        [
            (0.0, "customer", "This is ridiculous, it's the third outage this week!"),
            (4.0, "agent", "I'm so sorry, that's frustrating, unacceptable on our side."),
            (8.0, "customer", "Okay."),
            (10.0, "customer", "Thank you, that works."),
            (13.0, "customer", "Perfect, thanks for sorting it."),
        ]
    )
    assert result.emotion == "satisfied"
    assert emotion_module.call_emotion(["neutral", "neutral"]) == "neutral"
    assert emotion_module.call_emotion([]) == "neutral"
    assert emotion_module.call_emotion(["angry", "neutral", "neutral"]) == "angry"
    # Recent utterances weigh more: two early frustrated turns lose to the latest satisfied one ...
    assert emotion_module.call_emotion(["frustrated", "frustrated", "neutral", "satisfied"]) == "satisfied"
    # ... and only the last five utterances count at all.
    assert emotion_module.call_emotion(["angry"] + ["neutral"] * 5) == "neutral"
    assert emotion_module.call_emotion(["angry"] + ["neutral"] * 4) == "angry"
