"""Sentiment from any ``transformers`` text-classification model the user configures.

Teams that have a sentiment model (a fine-tuned checkpoint on disk, or a hub id they have cached)
can use it instead of the built-in heads: ``pipeline("text-classification", model=PATH_OR_ID)``,
loaded once, called under a lock (the pipeline is not documented as thread-safe), with every
class's probability (``top_k=None``).

The model's labels are mapped to positive / neutral / negative (``map_label``):

* names, case-insensitive: ``positive``/``pos``, ``neutral``/``neu``, ``negative``/``neg``
  (also ``joy``/``anger``-style names are *not* guessed: unknown names raise at load);
* star ratings ``1 star`` .. ``5 stars``: 1-2 negative, 3 neutral, 4-5 positive;
* ``LABEL_<n>`` (a checkpoint saved without names): with 3 classes 0 negative, 1 neutral,
  2 positive (the cardiffnlp/twitter-roberta convention); with 2 classes 0 negative, 1 positive
  (the SST-2 convention).

The three probabilities are the sums over the model's labels that map to them; the utterance's
score is P(positive) - P(negative). The model is loaded with the hub switched off unless the
environment says otherwise, so an id that is not in the local cache fails at start, not mid-call.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any, Final

from analysis.embeddings import MODEL_LOAD_LOCK, ModelUnavailableError, _require_transformers

__all__ = ["TransformersSentiment", "map_label"]

_NAMES: Final = {
    "positive": "positive",
    "pos": "positive",
    "neutral": "neutral",
    "neu": "neutral",
    "negative": "negative",
    "neg": "negative",
}
_STARS_RE: Final = re.compile(r"^([1-5])\s*stars?$")
_INDEX_RE: Final = re.compile(r"^label_(\d+)$")


def map_label(label: str, num_labels: int) -> str:
    """The sentiment ("positive", "neutral", "negative") of one model label; ValueError if unknown."""
    name = label.strip().lower()
    if name in _NAMES:
        return _NAMES[name]
    stars = _STARS_RE.match(name)
    if stars:
        value = int(stars.group(1))
        return "negative" if value <= 2 else "neutral" if value == 3 else "positive"
    index = _INDEX_RE.match(name)
    if index:
        position = int(index.group(1))
        if num_labels == 3 and position < 3:
            return ("negative", "neutral", "positive")[position]
        if num_labels == 2 and position < 2:
            return ("negative", "positive")[position]
    raise ValueError(f"cannot map model label {label!r} ({num_labels} labels) to positive/neutral/negative")


class TransformersSentiment:
    """A text-classification pipeline whose outputs are mapped to sentiment probabilities."""

    def __init__(self, model: str) -> None:
        _, transformers = _require_transformers()
        try:
            with MODEL_LOAD_LOCK:
                self._pipeline: Any = transformers.pipeline(
                    "text-classification", model=model, top_k=None, device="cpu"
                )
        except (OSError, ValueError) as error:
            raise ModelUnavailableError(f"cannot load sentiment model {model!r}: {error}") from error
        id2label: dict[int, str] = dict(self._pipeline.model.config.id2label)
        self._mapping = {label: map_label(label, len(id2label)) for label in id2label.values()}
        self._lock = threading.Lock()
        self.model = model

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Probabilities of positive/neutral/negative for each text (one batch)."""
        if not texts:
            return []
        with self._lock:
            outputs: list[list[dict[str, Any]]] = self._pipeline(
                [t if t.strip() else "." for t in texts], truncation=True, max_length=256
            )
        results = []
        for output in outputs:
            probabilities = dict.fromkeys(("positive", "neutral", "negative"), 0.0)
            for item in output:
                probabilities[self._mapping[str(item["label"])]] += float(item["score"])
            results.append(probabilities)
        return results
