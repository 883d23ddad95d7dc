"""Small classifier heads over frozen sentence embeddings: the ``embedding`` backend, and the packaged
training examples that every trained backend learns from.

No trained sentiment or emotion classifier ships in any package registry, and a hub download is not
an option, so the project ships its own labelled examples (``training_examples.json``: contact-centre
utterances with a sentiment and an emotion label, written for this purpose and disjoint from the
evaluation set in benchmarks/analysis_data). The default backend fine-tunes MiniLM on them
(``analysis.turn_classifier``); this module's alternative keeps MiniLM frozen and fits two multinomial
logistic-regression heads on the examples' features. The fit is deterministic (zero initialisation,
full-batch gradient descent) and keeps the model inspectable: the examples are the model.

Features (``feature_rows``): the utterance's normalised embedding; the embedding of its last sentence
(the labelling guide has mixed turns "take the side the turn ends on": "It took a while, but it's
working now, thank you" is positive); the utterance embedding again, gated to agent turns, so the head
can learn that the same words mean different things from each side (an agent's "I understand how
frustrating that is" is a neutral, professional turn; an agent's refusal is negative); VADER's
compound/positive/negative scores (``HYBRID_LEXICAL_WEIGHT`` scales them), because VADER knows
intensity words and negation; and the speaker (agent, customer, or neither on mono calls,
``SPEAKER_WEIGHT``). Classes are weighted inversely to their frequency, so rare emotions are not
drowned by neutral. The choices (and the L2 strength) were made by 5-fold cross-validation on the
training examples, then checked on the evaluation set's development part.

Training embeds every example and its last sentence (about two thousand short texts: 10-20 s on two
cores), so the fitted heads are cached on disk (``HeadCache``), keyed by everything they depend on:
the training file, the encoder's files, the feature layout and the hyper-parameters. A cache that
cannot be read or written is skipped (the heads are then trained at each start), never fatal.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from analysis.embeddings import encoder_fingerprint
from analysis.model_cache import text_sha256

__all__ = [
    "FEATURE_VERSION",
    "HYBRID_LEXICAL_WEIGHT",
    "TRAINING_RESOURCE",
    "HeadCache",
    "SoftmaxHead",
    "TrainingExample",
    "feature_rows",
    "lexical_features",
    "speaker_features",
    "training_examples",
]

log = logging.getLogger(__name__)

TRAINING_RESOURCE: Final = "training_examples.json"
FEATURE_VERSION: Final = 2  # bump when feature_rows changes: cached heads are then retrained
HYBRID_LEXICAL_WEIGHT: Final = 1.0
SPEAKER_WEIGHT: Final = 0.5
LAST_SENTENCE_WEIGHT: Final = 1.0
AGENT_EMBEDDING_WEIGHT: Final = 1.0
_L2: Final = 3e-4
_STEPS: Final = 800
_LEARNING_RATE: Final = 2.0

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class TrainingExample:
    """One labelled example utterance."""

    text: str
    speaker: str
    sentiment: str
    emotion: str


@cache
def training_text() -> str:
    """The packaged training file's text (``analysis/training_examples.json``)."""
    return resources.files("analysis").joinpath(TRAINING_RESOURCE).read_text(encoding="utf-8")


@cache
def training_examples() -> tuple[TrainingExample, ...]:
    """The packaged training examples (``analysis/training_examples.json``), read once."""
    raw = json.loads(training_text())
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


def feature_rows(
    embeddings: Matrix, last_sentence_embeddings: Matrix, vader: Sequence[Sequence[float]], speakers: Sequence[str]
) -> Matrix:
    """One feature row per utterance: [embedding, last-sentence embedding, embedding if the agent said
    it (else zeros), VADER compound/pos/neg, speaker one-hot]. ``vader`` rows are (compound, pos, neg)."""
    n = len(speakers)
    if not (len(embeddings) == len(last_sentence_embeddings) == len(vader) == n):
        raise ValueError("need one embedding, last-sentence embedding, VADER row and speaker per utterance")
    agent = np.asarray([[speaker == "agent"] for speaker in speakers], dtype=np.float32).reshape(n, 1)
    extra = np.asarray(
        [[*lexical_features(*row), *speaker_features(speaker)] for row, speaker in zip(vader, speakers, strict=True)],
        dtype=np.float32,
    ).reshape(n, 5)
    rows = np.concatenate(
        [
            np.asarray(embeddings, dtype=np.float32),
            LAST_SENTENCE_WEIGHT * np.asarray(last_sentence_embeddings, dtype=np.float32),
            AGENT_EMBEDDING_WEIGHT * agent * np.asarray(embeddings, dtype=np.float32),
            extra,
        ],
        axis=1,
    )
    result: Matrix = rows.astype(np.float32)
    return result


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

    @classmethod
    def restore(cls, labels: Sequence[str], weights: Matrix, bias: Matrix) -> SoftmaxHead:
        """A head with known parameters (from ``HeadCache``), without training."""
        if weights.ndim != 2 or weights.shape[1] != len(labels) or bias.shape != (len(labels),):
            raise ValueError("weights must be (features, labels) and bias (labels,)")
        head = cls.__new__(cls)
        head.labels = tuple(labels)
        head._weights = np.asarray(weights, dtype=np.float32)
        head._bias = np.asarray(bias, dtype=np.float32)
        return head

    @property
    def parameters(self) -> tuple[Matrix, Matrix]:
        """(weights, bias), for ``HeadCache``."""
        return self._weights, self._bias

    def predict(self, features: Matrix) -> Matrix:
        """Class probabilities, one row per feature row, columns in ``labels`` order."""
        return _softmax(np.asarray(features, dtype=np.float32) @ self._weights + self._bias)


class HeadCache:
    """Fitted heads on disk, one ``.npz`` per key; unreadable or unwritable means "no cache"."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory  # None: no cache

    @staticmethod
    def key(encoder_dir: Path, training_text: str, labels: Sequence[Sequence[str]]) -> str:
        """A digest of everything the heads depend on."""
        return text_sha256(
            f"v{FEATURE_VERSION} l2={_L2} steps={_STEPS} lr={_LEARNING_RATE} ",
            f"w={HYBRID_LEXICAL_WEIGHT},{SPEAKER_WEIGHT},{LAST_SENTENCE_WEIGHT},{AGENT_EMBEDDING_WEIGHT} ",
            json.dumps([list(group) for group in labels]),
            training_text,
            encoder_fingerprint(encoder_dir),
        )[:32]

    def load(self, key: str, labels: Sequence[Sequence[str]]) -> list[SoftmaxHead] | None:
        if self.directory is None:
            return None
        path = self.directory / f"{key}.npz"
        try:
            with np.load(path) as data:
                return [SoftmaxHead.restore(group, data[f"w{i}"], data[f"b{i}"]) for i, group in enumerate(labels)]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # truncated, empty, foreign
            log.warning("ignoring the cached analysis heads %s: %s", path, exc)
            return None

    def save(self, key: str, heads: Sequence[SoftmaxHead]) -> None:
        if self.directory is None:
            return
        arrays: dict[str, Matrix] = {}
        for i, head in enumerate(heads):
            arrays[f"w{i}"], arrays[f"b{i}"] = head.parameters
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".npz", dir=self.directory)
        except OSError as exc:
            log.warning("could not cache the analysis heads in %s: %s", self.directory, exc)
            return
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, self.directory / f"{key}.npz")
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            log.warning("could not cache the analysis heads in %s: %s", self.directory, exc)
