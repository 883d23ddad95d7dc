"""The fine-tuned turn classifier (analysis.turn_classifier): trained for real on a small slice of the
packaged examples (a few seconds), cached once, found again, and loaded into the analysis backend.
The model the server uses, trained on all examples, is tested in test_backends.py."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from analysis.emotion import EMOTION_LABELS
from analysis.heads import TrainingExample, training_examples
from analysis.sentiment import SENTIMENT_LABELS
from analysis.turn_classifier import TurnClassifier, model_input


def small_set() -> list[TrainingExample]:
    """A few examples of every sentiment, speaker and emotion, so the class weights are all defined."""
    chosen: dict[tuple[str, str, str], TrainingExample] = {}
    for example in training_examples():
        chosen.setdefault((example.speaker, example.sentiment, example.emotion), example)
    return list(chosen.values())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    cache = tmp_path_factory.mktemp("analysis-cache")
    return cache, TurnClassifier.prepare(cache, threads=1, examples=small_set())


def test_training_writes_a_complete_model_once(trained: tuple[Path, Path]) -> None:
    cache, directory = trained
    assert directory.parent == cache and directory.name.startswith("turn-classifier-")
    assert (directory / "turn_classifier.json").is_file() and (directory / "heads.pt").is_file()
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no half-written model left
    stamp = (directory / "heads.pt").stat().st_mtime_ns
    assert TurnClassifier.prepare(cache, threads=1, examples=small_set()) == directory  # found, not retrained
    assert (directory / "heads.pt").stat().st_mtime_ns == stamp


def test_other_examples_train_another_model(trained: tuple[Path, Path]) -> None:
    cache, directory = trained
    fewer = small_set()[:-1]
    other = TurnClassifier.prepare(cache, threads=1, examples=fewer)
    assert other != directory and (other / "heads.pt").is_file()


def test_two_preparing_at_once_both_get_the_model(tmp_path: Path) -> None:
    # Two threads race for the same directory (as two processes sharing a cache would) and load at the
    # same time: without analysis.embeddings.MODEL_LOAD_LOCK, transformers' meta-device initialisation
    # leaks from one thread's load into the other's heads ("Tensor ... not on the expected device meta").
    examples = small_set()[:12]
    found: list[Path] = []
    errors: list[BaseException] = []

    def prepare() -> None:
        try:
            found.append(TurnClassifier.prepare(tmp_path, threads=1, examples=examples))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=prepare) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == [] and len(set(found)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [found[0].name]


def test_predictions_are_distributions_over_the_label_sets(trained: tuple[Path, Path]) -> None:
    classifier = TurnClassifier(trained[1])
    sentiment, emotion = classifier.predict(
        ["Thank you so much, that's perfect.", "Can I take your postcode?"], ["customer", "agent"]
    )
    assert sentiment.shape == (2, len(SENTIMENT_LABELS)) and emotion.shape == (2, len(EMOTION_LABELS))
    assert np.allclose(sentiment.sum(axis=1), 1.0, atol=1e-5) and np.allclose(emotion.sum(axis=1), 1.0, atol=1e-5)
    empty_sentiment, empty_emotion = classifier.predict([], [])
    assert empty_sentiment.shape == (0, 3) and empty_emotion.shape == (0, len(EMOTION_LABELS))
    with pytest.raises(ValueError, match="one speaker per text"):
        classifier.predict(["a"], [])


def test_the_model_reads_who_spoke() -> None:
    assert model_input("I understand.", "agent") == "agent: I understand."
    assert model_input("   ", "customer") == "customer: ."
