"""The 7-way emotion and PAD scores of analysis.emotion_pad, from hand-made contact-centre distributions."""

from __future__ import annotations

import math

import pytest

from analysis.emotion import EMOTION_LABELS
from analysis.emotion_pad import EKMAN_LABELS, FROM_CONTACT_CENTRE, ekman_distribution, pad_emotion
from analysis.prosody import ProsodyChange


def _only(label: str) -> dict[str, float]:
    return {name: float(name == label) for name in EMOTION_LABELS}


def test_every_contact_centre_label_maps_onto_the_seven_and_sums_to_one() -> None:
    assert set(FROM_CONTACT_CENTRE) == set(EMOTION_LABELS)
    for label in EMOTION_LABELS:
        distribution = ekman_distribution("Okay.", _only(label))
        assert list(distribution) == list(EKMAN_LABELS)
        assert math.isclose(sum(distribution.values()), 1.0, abs_tol=1e-3)


@pytest.mark.parametrize(
    ("label", "expected"),
    [("happy", "joy"), ("frustrated", "anger"), ("anxious", "fear"), ("sad", "sadness"), ("neutral", "neutral")],
)
def test_the_top_label_follows_the_contact_centre_label_without_cues(label: str, expected: str) -> None:
    assert pad_emotion("I see.", _only(label), 0.0).label == expected


def test_cues_move_mass_to_the_labels_the_eight_cannot_express() -> None:
    angry = _only("angry")
    assert pad_emotion("That's disgraceful, frankly. Pathetic.", angry, -0.8).label == "disgust"
    assert pad_emotion("It's late again.", angry, -0.8).label == "anger"
    # an echo question ("Two hundred pounds?") and "are you serious" are surprise
    assert pad_emotion("Two hundred pounds? Are you serious?", _only("confused"), -0.3).label == "surprise"
    long_question = "Could you tell me when the engineer is coming to look at the router please?"
    assert pad_emotion(long_question, _only("neutral"), 0.0).label == "neutral"


def test_pad_places_anger_and_fear_apart_on_dominance() -> None:
    anger = pad_emotion("Fix it today or I'm leaving.", _only("angry"), -0.8).pad
    fear = pad_emotion("Please, I don't know what to do.", _only("anxious"), -0.8).pad
    joy = pad_emotion("That's brilliant, thank you.", _only("happy"), 0.9).pad
    assert anger.valence < 0 and fear.valence < 0 < joy.valence
    assert anger.arousal > 0 and fear.arousal > 0
    assert anger.dominance > 0.3 > -0.2 > fear.dominance


def test_a_surprise_leans_the_way_the_sentiment_says() -> None:
    confused = _only("confused")
    pleasant = pad_emotion("I'm owed money? Really?", confused, 0.8).pad.valence
    unpleasant = pad_emotion("Nine hundred pounds? Really?", confused, -0.8).pad.valence
    assert pleasant > unpleasant


def test_voice_terms_are_used_only_when_measured() -> None:
    text, distribution = "I want this sorted.", _only("frustrated")
    plain = pad_emotion(text, distribution, -0.5)
    louder = pad_emotion(text, distribution, -0.5, ProsodyChange(loudness=2.5, pitch=2.0, measured=True))
    unmeasured = pad_emotion(text, distribution, -0.5, ProsodyChange(loudness=2.5, measured=False))
    assert louder.voice and not unmeasured.voice
    assert louder.pad.arousal > plain.pad.arousal and louder.pad.dominance > plain.pad.dominance
    assert unmeasured.pad == plain.pad


def test_bad_input_stays_in_range() -> None:
    found = pad_emotion("", {"angry": float("nan"), "nonsense": 5.0, "happy": -1.0}, float("nan"))
    assert math.isclose(sum(found.distribution.values()), 1.0, abs_tol=1e-3)
    for value in found.pad.to_json().values():
        assert -1.0 <= value <= 1.0
    assert 0.0 <= found.confidence <= 1.0
    # a pathological text costs no backtracking
    assert pad_emotion("a " * 5000 + "?", _only("neutral"), 0.0).label in EKMAN_LABELS
