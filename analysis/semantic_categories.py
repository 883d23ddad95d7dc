"""Category matching by meaning: a sentence close to a labelled example sentence is a hit.

Phrase lists miss paraphrases ("I rang you last week about exactly this" is a repeat call without
any of the phrases), so each category label also has a few example sentences
(``category_examples.json``, extendable by the user's categories file). Their embeddings are
computed once, when the backend loads. Each sentence of a new utterance (already embedded in the
utterance's single encoder pass) is compared with every example; the best example per label is a
hit when its cosine similarity reaches the threshold (``AnalysisConfig.category_similarity``) and
the same label did not already match by phrase in that utterance. Sentences shorter than
``MIN_SENTENCE_WORDS`` words ("Okay, sure.") are never matched by meaning: they carry too little
content for a reliable similarity.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Final

import numpy as np

from analysis.embeddings import Embeddings, SentenceEncoder
from analysis.text import count_words, truncate
from analysis.types import CategoryHit

__all__ = ["MIN_SENTENCE_WORDS", "SemanticCategoryMatcher"]

MIN_SENTENCE_WORDS: Final = 4
_MAX_CHARS: Final = 300
_MAX_PHRASE_CHARS: Final = 120


class SemanticCategoryMatcher:
    """Example-sentence embeddings per (category, label), compared with utterance sentences."""

    def __init__(
        self, encoder: SentenceEncoder, examples: Mapping[str, Mapping[str, Sequence[str]]], threshold: float
    ) -> None:
        self.threshold = threshold
        self._keys: list[tuple[str, str, str]] = [
            (category, label, example)
            for category, labels in examples.items()
            for label, sentences in labels.items()
            for example in sentences
        ]
        self._embeddings: Embeddings = encoder.encode_many([example for _, _, example in self._keys])

    def __len__(self) -> int:
        return len(self._keys)

    def match(
        self,
        sentences: Sequence[str],
        embeddings: Embeddings,
        start: float,
        speaker: str,
        text: str,
        already: Collection[tuple[str, str]] = (),
    ) -> tuple[CategoryHit, ...]:
        """Hits by meaning for one utterance's ``sentences`` (rows of ``embeddings``), skipping the
        (category, label) pairs in ``already``; at most one hit per label, the most similar sentence."""
        if not self._keys or not len(sentences):
            return ()
        usable = [i for i, s in enumerate(sentences) if count_words(s) >= MIN_SENTENCE_WORDS]
        if not usable:
            return ()
        similarity = embeddings[usable] @ self._embeddings.T  # (sentences, examples)
        best: dict[tuple[str, str], tuple[float, int, int]] = {}
        rows, columns = np.nonzero(similarity >= self.threshold)
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
            category, label, _ = self._keys[column]
            if (category, label) in already:
                continue
            value = float(similarity[row, column])
            if value > best.get((category, label), (-1.0, 0, 0))[0]:
                best[(category, label)] = (value, usable[row], column)
        utterance_text = truncate(text, _MAX_CHARS)
        return tuple(
            CategoryHit(
                category,
                label,
                truncate(sentences[sentence], _MAX_PHRASE_CHARS),
                start,
                speaker,
                match="meaning",
                similarity=round(value, 4),
                example=self._keys[column][2],
                text=utterance_text,
            )
            for (category, label), (value, sentence, column) in sorted(best.items())
        )
