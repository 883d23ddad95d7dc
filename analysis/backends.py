"""The process-wide analysis backend: models loaded once, shared by every call and thread.

Loading MiniLM, training the small heads and embedding the category examples takes a few seconds,
so it happens once, at server start (``load_analysis_backend``, from a worker thread), and the
resulting ``AnalysisModels`` is handed to every ``CallAnalyzer``. Its only mutable parts are behind
locks (the encoder's and the transformers pipeline's forward passes); the heads and example
embeddings are read-only arrays. ``lexicon_backend()`` is the rules-only backend (VADER, cue
lexicon, phrase lists) used when no backend is passed; it imports neither torch nor transformers.

Per utterance (``AnalysisModels.analyse``) the work is: VADER once, one encoder forward pass over
the utterance and its sentences (one batch; at most ``MAX_SENTENCES`` sentences), two small matrix
products for the heads, one for the category examples, and the phrase regexes.

Torch threads: ``load_analysis_backend`` sets ``torch.set_num_threads(config.torch_threads)``
(default 1). This is a process-wide torch setting; Whisper runs on CTranslate2, which has its own
thread pool, so the setting only keeps the analysis from competing with it for the cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final

import numpy as np

from analysis import emotion, sentiment
from analysis.categories import CategoryMatcher, default_matcher, load_category_tables
from analysis.config import AnalysisConfig
from analysis.embeddings import Embeddings, SentenceEncoder, _require_transformers
from analysis.emotion import EMOTION_LABELS
from analysis.heads import (
    HeadCache,
    SoftmaxHead,
    feature_rows,
    training_examples,
    training_text,
)
from analysis.hf_sentiment import TransformersSentiment
from analysis.model_cache import default_analysis_cache_dir
from analysis.semantic_categories import SemanticCategoryMatcher
from analysis.text import split_sentences
from analysis.turn_classifier import TurnClassifier
from analysis.types import CategoryHit, UtteranceAnalysis

__all__ = [
    "MAX_SENTENCES",
    "SENTIMENT_ORDER",
    "AnalysisModels",
    "UtteranceFindings",
    "lexicon_backend",
    "lexicon_emotion_distribution",
    "load_analysis_backend",
    "prepare_analysis_backend",
]

MAX_SENTENCES: Final = 16
SENTIMENT_ORDER: Final = ("positive", "neutral", "negative")


@dataclass(frozen=True, slots=True)
class UtteranceFindings:
    """Everything found in one utterance."""

    result: UtteranceAnalysis
    hits: tuple[CategoryHit, ...]


def lexicon_emotion_distribution(text: str, compound: float, label: str) -> dict[str, float]:
    """The cue lexicon's scores as a distribution over EMOTION_LABELS (its label gets at least half)."""
    scores = emotion.emotion_scores(text, compound)
    raw = {name: 0.0 for name in EMOTION_LABELS}
    raw.update({name: max(0.0, value) for name, value in scores.items() if name in raw})
    raw[label] = max(raw[label], sum(raw.values()), 1.0)
    total = sum(raw.values())
    return {name: round(value / total, 4) for name, value in raw.items()}


def _vader_probabilities(compound: float) -> dict[str, float]:
    return {
        "positive": round(max(compound, 0.0), 4),
        "neutral": round(1.0 - abs(compound), 4),
        "negative": round(max(-compound, 0.0), 4),
    }


class AnalysisModels:
    """Loaded models and matchers; build with ``load_analysis_backend`` or ``lexicon_backend``."""

    def __init__(
        self,
        config: AnalysisConfig,
        *,
        phrases: CategoryMatcher,
        encoder: SentenceEncoder | None = None,
        sentiment_head: SoftmaxHead | None = None,
        emotion_head: SoftmaxHead | None = None,
        transformers_sentiment: TransformersSentiment | None = None,
        semantic: SemanticCategoryMatcher | None = None,
        turn_classifier: TurnClassifier | None = None,
    ) -> None:
        self.config = config
        self.phrases = phrases
        self.encoder = encoder
        self.sentiment_head = sentiment_head
        self.emotion_head = emotion_head
        self.transformers_sentiment = transformers_sentiment
        self.semantic = semantic
        self.turn_classifier = turn_classifier

    def describe(self) -> str:
        """One line for the server log: which backend does what."""
        sentiment_name: str = self.config.sentiment_backend
        if self.transformers_sentiment is not None:
            sentiment_name += f" ({self.transformers_sentiment.model})"
        encoder = f", encoder {self.encoder.path}" if self.encoder is not None else ""
        if self.turn_classifier is not None:
            encoder += f", turn classifier {self.turn_classifier.directory}"
        meaning = f"phrases + meaning >= {self.config.category_similarity}" if self.semantic else "phrases"
        return (
            f"analysis: sentiment {sentiment_name}, emotion {self.config.emotion_backend}, "
            f"categories {meaning}{encoder}"
        )

    def analyse(self, text: str, start: float, speaker: str, sentences: Sequence[str]) -> UtteranceFindings:
        """Sentiment, emotion and category hits of one utterance with at least one word."""
        compound = sentiment.polarity(text)
        last_sentence = sentences[-1] if sentences else text
        sentences = list(sentences[:MAX_SENTENCES])
        utterance_embedding: Embeddings | None = None
        sentence_embeddings: Embeddings | None = None
        last_embedding: Embeddings | None = None
        if self.encoder is not None:
            extra = sentences if len(sentences) > 1 or (sentences and sentences[0] != text) else []
            texts = [text, *extra]
            if last_sentence not in texts:  # past MAX_SENTENCES
                texts.append(last_sentence)
            batch = self.encoder.encode(texts)
            utterance_embedding = batch[0]
            sentence_embeddings = batch[1 : 1 + len(extra)] if extra else batch[:1]
            last_embedding = batch[len(texts) - 1 - texts[::-1].index(last_sentence)]

        def head_features(lexical: tuple[float, float, float]) -> Embeddings:
            assert utterance_embedding is not None and last_embedding is not None
            return feature_rows(utterance_embedding[None, :], last_embedding[None, :], [lexical], [speaker])

        lexical: tuple[float, float, float] | None = None
        tuned: tuple[list[float], list[float]] | None = None
        if self.turn_classifier is not None:
            sentiment_row, emotion_row = self.turn_classifier.predict([text], [speaker])
            tuned = ([float(p) for p in sentiment_row[0]], [float(p) for p in emotion_row[0]])
        if self.transformers_sentiment is not None:
            sentiment_probs = self.transformers_sentiment.predict([text])[0]
        elif tuned is not None and self.config.sentiment_backend == "finetuned":
            sentiment_probs = {label: round(p, 4) for label, p in zip(SENTIMENT_ORDER, tuned[0], strict=True)}
        elif self.sentiment_head is not None and utterance_embedding is not None:
            lexical = sentiment.vader_scores(text)
            row = self.sentiment_head.predict(head_features(lexical))[0]
            sentiment_probs = {label: round(float(p), 4) for label, p in zip(SENTIMENT_ORDER, row, strict=True)}
        else:
            sentiment_probs = _vader_probabilities(compound)
        if self.config.sentiment_backend == "vader":
            sentiment_label = sentiment.label_for(compound)
            score = compound
        else:
            sentiment_label = max(SENTIMENT_ORDER, key=lambda label: sentiment_probs[label])
            score = round(sentiment_probs["positive"] - sentiment_probs["negative"], 4)

        if tuned is not None and self.config.emotion_backend == "finetuned":
            distribution = {label: round(p, 4) for label, p in zip(EMOTION_LABELS, tuned[1], strict=True)}
            emotion_label = max(EMOTION_LABELS, key=lambda label: distribution[label])
        elif self.emotion_head is not None and utterance_embedding is not None:
            lexical = lexical or sentiment.vader_scores(text)
            row = self.emotion_head.predict(head_features(lexical))[0]
            distribution = {label: round(float(p), 4) for label, p in zip(EMOTION_LABELS, row, strict=True)}
            emotion_label = max(EMOTION_LABELS, key=lambda label: distribution[label])
        else:
            emotion_label = emotion.classify(text, compound)
            distribution = lexicon_emotion_distribution(text, compound, emotion_label)

        hits = self.phrases.match(text, start, speaker)
        if self.semantic is not None and sentence_embeddings is not None:
            already = {(hit.category, hit.label) for hit in hits}
            hits += self.semantic.match(sentences, sentence_embeddings, start, speaker, text, already)
        result = UtteranceAnalysis(
            sentiment=sentiment_label,
            sentiment_score=max(-1.0, min(1.0, score)),
            emotion=emotion_label,
            emotion_scores=distribution,
            sentiment_scores=sentiment_probs,
            hits=tuple(hits),
        )
        return UtteranceFindings(result, tuple(hits))


def _train_heads(encoder: SentenceEncoder, cache: HeadCache) -> tuple[SoftmaxHead, SoftmaxHead]:
    """The sentiment and emotion heads: from the cache when their key matches, else trained (and cached)."""
    labels = (SENTIMENT_ORDER, EMOTION_LABELS)
    key = HeadCache.key(encoder.path, training_text(), labels)
    cached = cache.load(key, labels)
    if cached is not None:
        return cached[0], cached[1]
    examples = training_examples()
    lasts = [(split_sentences(e.text) or [e.text])[-1] for e in examples]
    unique = list(dict.fromkeys([*(e.text for e in examples), *lasts]))
    embedded = dict(zip(unique, encoder.encode_many(unique), strict=True))
    features = feature_rows(
        np.stack([embedded[e.text] for e in examples]),
        np.stack([embedded[last] for last in lasts]),
        [sentiment.vader_scores(e.text) for e in examples],
        [e.speaker for e in examples],
    )
    sentiment_head = SoftmaxHead(SENTIMENT_ORDER, features, [e.sentiment for e in examples])
    emotion_head = SoftmaxHead(EMOTION_LABELS, features, [e.emotion for e in examples])
    cache.save(key, (sentiment_head, emotion_head))
    return sentiment_head, emotion_head


def load_analysis_backend(config: AnalysisConfig | None = None) -> AnalysisModels:
    """Load everything ``config`` asks for (default: ``AnalysisConfig()``); call once per process.

    Raises ``ModelUnavailableError`` naming the package to install when a model is missing, and
    ``ValueError`` for a malformed categories file.
    """
    config = config if config is not None else AnalysisConfig()
    tables = load_category_tables(config.categories_file)
    phrases = CategoryMatcher(tables.phrases) if config.categories_file is not None else default_matcher()
    if not (config.needs_encoder or config.needs_turn_classifier or config.sentiment_backend == "transformers"):
        return AnalysisModels(config, phrases=phrases)
    torch, _ = _require_transformers()
    cache_dir = config.cache_dir or default_analysis_cache_dir()
    turn_classifier = (
        TurnClassifier.load(cache_dir, config.embedding_model) if config.needs_turn_classifier else None
    )  # trains once (all cores, before serving), then loads from the cache
    torch.set_num_threads(config.torch_threads)
    encoder = SentenceEncoder(config.embedding_model) if config.needs_encoder else None
    sentiment_head: SoftmaxHead | None = None
    emotion_head: SoftmaxHead | None = None
    if encoder is not None and (config.sentiment_backend == "embedding" or config.emotion_backend == "embedding"):
        sentiment_head, emotion_head = _train_heads(encoder, HeadCache(cache_dir))
    transformers_sentiment = (
        TransformersSentiment(config.sentiment_model)
        if config.sentiment_backend == "transformers" and config.sentiment_model
        else None
    )
    semantic = (
        SemanticCategoryMatcher(encoder, tables.examples, config.category_similarity)
        if encoder is not None and config.semantic_categories
        else None
    )
    return AnalysisModels(
        config,
        phrases=phrases,
        encoder=encoder,
        sentiment_head=sentiment_head if config.sentiment_backend == "embedding" else None,
        emotion_head=emotion_head if config.emotion_backend == "embedding" else None,
        transformers_sentiment=transformers_sentiment,
        semantic=semantic,
        turn_classifier=turn_classifier,
    )


def prepare_analysis_backend(config: AnalysisConfig | None = None) -> str:
    """Train and cache, ahead of serving, whatever ``config`` needs trained (the turn classifier);
    returns a line saying what is ready. Used by ``audiohook-server --check-config`` (the Docker build)
    and ``python -m analysis`` (``scripts/setup.sh``)."""
    config = config if config is not None else AnalysisConfig()
    if not config.needs_turn_classifier:
        return "nothing to train"
    path = TurnClassifier.prepare(config.cache_dir, config.embedding_model)
    return f"turn classifier {path}"


@cache
def lexicon_backend() -> AnalysisModels:
    """The shared rules-only backend (no torch): VADER, the emotion cue lexicon, the phrase lists."""
    return AnalysisModels(AnalysisConfig.lexicon_only(), phrases=default_matcher())
