"""The backend registry (analysis.backends): one table per task maps a backend name to what it loads
and how it scores; the settings take their valid names from it."""

from __future__ import annotations

import dataclasses
from typing import cast, get_args

import pytest

from analysis.backends import (
    COMPONENTS,
    EMOTION_BACKENDS,
    SENTIMENT_BACKENDS,
    AnalysisModels,
    Backend,
    Component,
    EmotionBackendName,
    SentimentBackendName,
    SentimentScore,
    _Loader,
    lexicon_backend,
    load_analysis_backend,
    required_components,
)
from analysis.categories import default_matcher
from analysis.config import AnalysisConfig


def test_registry_names_are_the_settings_names() -> None:
    assert (
        tuple(SENTIMENT_BACKENDS)
        == get_args(SentimentBackendName)
        == ("finetuned", "embedding", "vader", "transformers")
    )
    assert tuple(EMOTION_BACKENDS) == get_args(EmotionBackendName) == ("finetuned", "embedding", "lexicon")
    for sentiment in SENTIMENT_BACKENDS:
        for emotion in EMOTION_BACKENDS:
            AnalysisConfig(sentiment_backend=sentiment, emotion_backend=emotion, sentiment_model="a-model")
    with pytest.raises(ValueError, match=r"one of \('finetuned', 'embedding', 'vader', 'transformers'\), not 'magic'"):
        AnalysisConfig(sentiment_backend="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"one of \('finetuned', 'embedding', 'lexicon'\), not 'vader'"):
        AnalysisConfig(emotion_backend="vader")  # type: ignore[arg-type]


def test_every_component_is_a_field_with_a_loader() -> None:
    fields = {field.name for field in dataclasses.fields(AnalysisModels)}
    assert set(COMPONENTS) == set(get_args(Component))
    assert set(COMPONENTS) <= fields
    assert all(hasattr(_Loader, name) for name in COMPONENTS)
    needs = [b.needs for b in SENTIMENT_BACKENDS.values()] + [b.needs for b in EMOTION_BACKENDS.values()]
    for need in needs:
        assert need <= set(COMPONENTS)
        if need & {"sentiment_head", "emotion_head", "semantic"}:
            assert "encoder" in need  # loaded with what it is computed from


def test_required_components() -> None:
    assert required_components(AnalysisConfig()) == {"turn_classifier", "encoder", "semantic"}
    assert required_components(AnalysisConfig.lexicon_only()) == frozenset()
    embedding = AnalysisConfig(sentiment_backend="embedding", emotion_backend="lexicon", semantic_categories=False)
    assert required_components(embedding) == {"encoder", "sentiment_head"}
    transformers = AnalysisConfig(emotion_backend="finetuned", semantic_categories=False).with_sentiment_model("m")
    assert required_components(transformers) == {"transformers_sentiment", "turn_classifier"}


def test_a_new_backend_is_one_table_row(monkeypatch: pytest.MonkeyPatch) -> None:
    def always_positive(models: AnalysisModels, turn: object) -> SentimentScore:
        return SentimentScore("positive", 0.5, {"positive": 0.75, "neutral": 0.0, "negative": 0.25})

    table = cast(dict[str, Backend[SentimentScore]], SENTIMENT_BACKENDS)
    monkeypatch.setitem(table, "constant", Backend(frozenset(), always_positive))
    config = dataclasses.replace(AnalysisConfig.lexicon_only(), sentiment_backend="constant")  # type: ignore[arg-type]
    found = load_analysis_backend(config).analyse("This is terrible.", 0.0, "customer", ["This is terrible."])
    assert (found.result.sentiment, found.result.sentiment_score) == ("positive", 0.5)


def test_a_backend_without_its_model_leaves_it_to_the_rules() -> None:
    hand_built = AnalysisModels(AnalysisConfig(semantic_categories=False), phrases=default_matcher())
    text = "It's still not working, this is ridiculous."
    found = hand_built.analyse(text, 0.0, "customer", [text]).result
    rules = lexicon_backend().analyse(text, 0.0, "customer", [text]).result
    assert (found.emotion, found.emotion_scores) == (rules.emotion, rules.emotion_scores)
    assert found.sentiment_scores == rules.sentiment_scores
    assert found.sentiment == "negative"
    assert found.sentiment_score == round(rules.sentiment_scores["positive"] - rules.sentiment_scores["negative"], 4)
    assert found.hits == rules.hits
