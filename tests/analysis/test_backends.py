"""The analysis backends (analysis.backends): the registry (one table per task maps a backend name
to what it loads and how it scores; the settings take their valid names from it), and the loaded
backends: the fine-tuned default and the frozen-encoder alternative on their training examples and
on new phrasings, one encoder pass per utterance, one backend shared by threads."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import cast, get_args

import pytest

from analysis import CallAnalyzer, Utterance
from analysis.backends import (
    EMOTION_BACKENDS,
    MODELS,
    SENTIMENT_BACKENDS,
    AnalysisModels,
    Backend,
    EmotionBackendName,
    ModelName,
    SentimentBackendName,
    SentimentScore,
    _Loader,
    lexicon_backend,
    load_analysis_backend,
    required_models,
)
from analysis.categories import default_matcher
from analysis.config import AnalysisConfig
from analysis.embeddings import SentenceEncoder
from analysis.heads import training_examples
from tests.analysis.scripted_calls import HELD_OUT_CALL


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


def test_every_model_is_a_field_with_a_loader() -> None:
    fields = {field.name for field in dataclasses.fields(AnalysisModels)}
    assert set(MODELS) == set(get_args(ModelName))
    assert set(MODELS) <= fields
    assert all(hasattr(_Loader, name) for name in MODELS)
    needs = [b.needs for b in SENTIMENT_BACKENDS.values()] + [b.needs for b in EMOTION_BACKENDS.values()]
    for need in needs:
        assert need <= set(MODELS)
        if need & {"sentiment_head", "emotion_head", "semantic", "decision_acts"}:
            assert "encoder" in need  # loaded with what it is computed from


def test_required_models() -> None:
    default = {"turn_classifier", "encoder", "semantic", "decision_acts", "call_state"}
    assert required_models(AnalysisConfig()) == default
    assert required_models(AnalysisConfig(call_state="rules")) == default - {"call_state"}
    # the learned call state reads the acts by meaning, with or without the categories by meaning
    assert required_models(AnalysisConfig(semantic_categories=False)) == default - {"semantic"}
    assert required_models(AnalysisConfig.lexicon_only()) == frozenset()
    embedding = AnalysisConfig(sentiment_backend="embedding", emotion_backend="lexicon", semantic_categories=False)
    assert required_models(embedding) == {"encoder", "sentiment_head"}
    transformers = AnalysisConfig(emotion_backend="finetuned", semantic_categories=False).with_sentiment_model("m")
    assert required_models(transformers) == {"transformers_sentiment", "turn_classifier"}


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


def _stereo(turn: dict[str, object]) -> Utterance:
    speaker = str(turn["speaker"])
    return Utterance(str(turn["text"]), float(turn["start"]), float(turn["end"]), int(speaker == "agent"), speaker)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["models", "embedding_models"], ids=["finetuned", "embedding"])
def test_default_and_embedding_backends_fit_their_training_examples(
    backend: str, request: pytest.FixtureRequest
) -> None:
    chosen: AnalysisModels = request.getfixturevalue(backend)
    assert (chosen.turn_classifier is not None) == (backend == "models")
    assert (chosen.sentiment_head is not None) == (backend == "embedding_models")
    examples = training_examples()
    assert len(examples) >= 150
    sentiment_right = emotion_right = 0
    for example in examples:
        found = chosen.analyse(example.text, 0.0, example.speaker, [example.text])
        sentiment_right += found.result.sentiment == example.sentiment
        emotion_right += found.result.emotion == example.emotion
    # the fine-tuned model fits them closely; the frozen encoder's linear heads less so
    assert sentiment_right / len(examples) >= (0.9 if backend == "models" else 0.85)
    assert emotion_right / len(examples) >= (0.8 if backend == "models" else 0.7)


@pytest.mark.parametrize(
    ("text", "speaker", "sentiment", "emotions"),
    [
        ("My parcel never arrived and nobody has replied to my emails.", "customer", "negative", None),
        ("I'd be grateful if someone could look at why I was billed twice.", "customer", "negative", None),
        ("This is a disgrace, I want my money back right now!", "customer", "negative", {"angry", "frustrated"}),
        ("Thank you so much, that's sorted it perfectly.", "customer", "positive", {"satisfied", "happy"}),
        ("Can I take the postcode on the account, please?", "agent", "neutral", {"neutral"}),
    ],
)
def test_sentiment_and_emotion_on_unseen_phrasings(
    models: AnalysisModels, text: str, speaker: str, sentiment: str, emotions: set[str] | None
) -> None:
    found = models.analyse(text, 0.0, speaker, [text]).result
    assert found.sentiment == sentiment
    assert set(found.sentiment_scores) == {"positive", "neutral", "negative"}
    assert found.sentiment_score == pytest.approx(
        found.sentiment_scores["positive"] - found.sentiment_scores["negative"]
    )
    if emotions is not None:
        assert found.emotion in emotions


def test_add_runs_one_encoder_pass_per_utterance(models: AnalysisModels, monkeypatch: pytest.MonkeyPatch) -> None:
    assert models.encoder is not None
    calls: list[int] = []
    original = SentenceEncoder.encode

    def counting(self: SentenceEncoder, texts: list[str]) -> object:
        calls.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(SentenceEncoder, "encode", counting)
    analyzer = CallAnalyzer(models=models)
    analyzer.add(Utterance("Hello. My bill is wrong again. I was charged twice this month.", 0.0, 5.0, 0, "customer"))
    assert calls == [3]  # its three sentences in one batch (the whole utterance only when a head needs it)
    analyzer.add(Utterance("I can fix that for you.", 6.0, 8.0, 1, "agent"))
    analyzer.analysis()
    analyzer.analysis()
    assert calls == [3, 1]


def test_shared_backend_is_thread_safe(models: AnalysisModels) -> None:
    call = json.loads(HELD_OUT_CALL.read_text(encoding="utf-8"))

    def run() -> dict[str, object]:
        analyzer = CallAnalyzer(models=models)
        for turn in call["turns"]:
            analyzer.add(_stereo(turn))
        result = analyzer.analysis()
        assert result is not None
        return result.to_summary()

    expected = run()
    results: list[dict[str, object]] = []
    threads = [threading.Thread(target=lambda: results.append(run())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


def test_lexicon_only_backend_loads_without_an_encoder() -> None:
    backend = load_analysis_backend(AnalysisConfig.lexicon_only())
    assert backend.encoder is None and backend.semantic is None
    found = backend.analyse("It's still not working, this is ridiculous.", 0.0, "customer", ["x"])
    assert found.result.sentiment == "negative"
    assert sum(found.result.emotion_scores.values()) == pytest.approx(1.0, abs=1e-3)
