"""Small classifier heads over sentence embeddings, trained at load time on the packaged examples.

No trained sentiment or emotion classifier ships in any package registry, and a hub download is not
an option, so the project ships its own labelled examples (``training_examples.json``: contact-centre
utterances with a sentiment and an emotion label, written for this purpose and disjoint from the
evaluation set in benchmarks/analysis_data) and fits two multinomial logistic-regression heads on
their MiniLM embeddings when the backend loads. With about two hundred examples and 384 features that
takes well under a second, is deterministic (zero initialisation, full-batch gradient descent) and
keeps the model inspectable: the examples are the model.

Features: the normalised embedding, plus VADER's compound/positive/negative scores
(``HYBRID_LEXICAL_WEIGHT`` scales them), because VADER knows intensity words and negation that a
hundred examples cannot teach, while the embedding knows what a complaint means even without them
(polite complaints, "still not fixed"); and the speaker (agent, customer, or neither on mono
calls, ``SPEAKER_WEIGHT``), because the same words mean different things from each side: an
agent's "I understand how frustrating that is" is a neutral, professional turn. Classes are
weighted inversely to their frequency, so rare emotions are not drowned by neutral.

``PrototypeClassifier`` is the simpler alternative that the benchmark compares against: the cosine
similarity to each label's mean example embedding, through a softmax.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "HYBRID_LEXICAL_WEIGHT",
    "TRAINING_RESOURCE",
    "PrototypeClassifier",
    "SoftmaxHead",
    "TrainingExample",
    "lexical_features",
    "speaker_features",
    "training_examples",
]

TRAINING_RESOURCE: Final = "training_examples.json"
HYBRID_LEXICAL_WEIGHT: Final = 1.0
SPEAKER_WEIGHT: Final = 0.5
_L2: Final = 1e-3
_STEPS: Final = 400
_LEARNING_RATE: Final = 2.0
_PROTOTYPE_TEMPERATURE: Final = 0.05

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class TrainingExample:
    """One labelled example utterance."""

    text: str
    speaker: str
    sentiment: str
    emotion: str


@cache
def training_examples() -> tuple[TrainingExample, ...]:
    """The packaged training examples (``analysis/training_examples.json``), read once."""
    raw = json.loads(resources.files("analysis").joinpath(TRAINING_RESOURCE).read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ValueError(f"{TRAINING_RESOURCE} must hold a list of examples")
    return tuple(
        TrainingExample(str(item["text"]), str(item["speaker"]), str(item["sentiment"]), str(item["emotion"]))
        for item in raw
    )


def lexical_features(compound: float, positive: float, negative: float) -> list[float]:
    """The VADER part of a hybrid feature row."""
    return [HYBRID_LEXICAL_WEIGHT * v for v in (compound, positive, negative)]


def speaker_features(speaker: str) -> list[float]:
    """The speaker part of a feature row: (agent, customer), both 0 for an unknown speaker."""
    return [SPEAKER_WEIGHT * (speaker == "agent"), SPEAKER_WEIGHT * (speaker == "customer")]


def _softmax(logits: Matrix) -> Matrix:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: Matrix = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    return result


class SoftmaxHead:
    """Multinomial logistic regression, trained by full-batch gradient descent with L2 and class weights."""

    def __init__(self, labels: Sequence[str], features: Matrix, targets: Sequence[str]) -> None:
        if len(features) != len(targets) or not len(targets):
            raise ValueError("need one target per feature row, and at least one row")
        unknown = set(targets) - set(labels)
        if unknown:
            raise ValueError(f"targets {sorted(unknown)} are not in the label set")
        self.labels = tuple(labels)
        x = np.asarray(features, dtype=np.float64)
        index = np.array([self.labels.index(t) for t in targets])
        onehot = np.zeros((len(index), len(self.labels)))
        onehot[np.arange(len(index)), index] = 1.0
        counts = onehot.sum(axis=0)
        class_weight = np.where(counts > 0, len(index) / (len(self.labels) * np.maximum(counts, 1)), 0.0)
        sample_weight = (onehot @ class_weight)[:, None] / len(index)
        weights = np.zeros((x.shape[1], len(self.labels)))
        bias = np.zeros(len(self.labels))
        for _ in range(_STEPS):
            logits = x @ weights + bias
            logits -= logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            probs /= probs.sum(axis=1, keepdims=True)
            error = (probs - onehot) * sample_weight
            weights -= _LEARNING_RATE * (x.T @ error + _L2 * weights)
            bias -= _LEARNING_RATE * error.sum(axis=0)
        self._weights = weights.astype(np.float32)
        self._bias = bias.astype(np.float32)

    def predict(self, features: Matrix) -> Matrix:
        """Class probabilities, one row per feature row, columns in ``labels`` order."""
        return _softmax(np.asarray(features, dtype=np.float32) @ self._weights + self._bias)


class PrototypeClassifier:
    """Softmax over the cosine similarity to each label's mean example embedding."""

    def __init__(self, labels: Sequence[str], embeddings: Matrix, targets: Sequence[str]) -> None:
        self.labels = tuple(labels)
        rows = []
        for label in self.labels:
            members = embeddings[[i for i, t in enumerate(targets) if t == label]]
            centre = members.mean(axis=0) if len(members) else np.zeros(embeddings.shape[1], dtype=np.float32)
            norm = float(np.linalg.norm(centre))
            rows.append(centre / norm if norm > 0 else centre)
        self._centres = np.stack(rows).astype(np.float32)

    def predict(self, embeddings: Matrix) -> Matrix:
        """Class probabilities, one row per embedding."""
        return _softmax((embeddings @ self._centres.T) / _PROTOTYPE_TEMPERATURE)
