"""Per-utterance sentiment with tuned VADER (analysis.sentiment)."""

from __future__ import annotations

import pytest

from analysis import CallAnalyzer
from analysis import sentiment as sentiment_module
from tests.analysis.scripted_calls import utterance


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Thank you so much, that works perfectly and I really appreciate your help!", "positive"),
        ("This is great news, wonderful.", "positive"),
        ("This is terrible, my internet is broken and nobody helps.", "negative"),
        ("My internet is not working.", "negative"),  # "working" is in the domain lexicon
        ("It still hasn't been fixed and I'm furious.", "negative"),
        ("The modem is in the living room.", "neutral"),
        ("I'm calling about the bill for March.", "neutral"),
        ("I would like to check the balance on my account.", "neutral"),  # the request verb "like"
    ],
)
def test_sentiment_labels(text: str, label: str) -> None:
    analyzer = CallAnalyzer()
    result = analyzer.add(utterance(0.0, "customer", text))
    assert result.sentiment == label
    assert -1.0 <= result.sentiment_score <= 1.0
    assert result.sentiment_score == sentiment_module.polarity(text)


def test_sentiment_thresholds() -> None:
    assert sentiment_module.label_for(0.05) == "positive"
    assert sentiment_module.label_for(0.0499) == "neutral"
    assert sentiment_module.label_for(-0.0499) == "neutral"
    assert sentiment_module.label_for(-0.05) == "negative"
    assert sentiment_module.polarity("") == 0.0


def test_long_text_sentiment_is_chunked() -> None:
    # Speed is measured in benchmarks; here: long text is scored (in chunks) and keeps its polarity.
    short = "It is still not working and I am really annoyed."
    assert sentiment_module.polarity(short) == sentiment_module._compound(short)
    long_text = "still not working, this is terrible. " * 2_000 + "thank you, great. " * 500
    score = sentiment_module.polarity(long_text)
    assert -1.0 <= score < 0.0
