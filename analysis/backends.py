"""The process-wide analysis backend (models loaded once, shared by every call and thread), and the
registry of sentiment and emotion backends.

Loading MiniLM, training the small heads and embedding the category examples takes a few seconds,
so it happens once, at server start (``load_analysis_backend``, from a worker thread), and the
resulting ``AnalysisModels`` is handed to every ``CallAnalyzer``. Its only mutable parts are behind
locks (the encoder's and the transformers pipeline's forward passes); the heads and example
embeddings are read-only arrays. ``lexicon_backend()`` is the rules-only backend (VADER, cue
lexicon, phrase lists) used when no backend is passed; it imports neither torch nor transformers.

Per utterance (``AnalysisModels.analyse``) the work is: VADER once, one encoder forward pass over
the utterance and its sentences (one batch; at most ``MAX_SENTENCES`` sentences), two small matrix
products for the heads, one for the category examples, and the phrase regexes.

The registry: ``SENTIMENT_BACKENDS`` and ``EMOTION_BACKENDS`` map each backend name (the values of
``AnalysisConfig.sentiment_backend`` and ``emotion_backend``, which takes its valid names from them)
to a ``Backend``: the models it needs (``needs``: ``AnalysisModels`` fields, each loaded once by the
``_Loader`` property of the same name) and the function that scores one utterance with them
(``score``). Adding a backend is one row in a table, its scoring function and its name in
``SentimentBackendName``/``EmotionBackendName``; a new kind of model adds an ``AnalysisModels`` field,
a ``MODELS`` entry and a ``_Loader`` property. All of it is in this module.

Torch threads: ``load_analysis_backend`` sets ``torch.set_num_threads(config.torch_threads)``
(default 1). This is a process-wide torch setting; Whisper runs on CTranslate2, which has its own
thread pool, so the setting only keeps the analysis from competing with it for the cores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from functools import cache, cached_property
from typing import Final, Generic, Literal, TypeVar

import numpy as np

from analysis import emotion, sentiment
from analysis.call_state_model import CallStateModel
from analysis.categories import CategoryMatcher, Table, default_matcher, load_category_tables
from analysis.config import AnalysisConfig
from analysis.decision_acts import DecisionActs, load_decision_acts
from analysis.embeddings import MAX_SENTENCES, Embeddings, SentenceEncoder, _require_transformers, mean_row
from analysis.emotion import EMOTION_LABELS
from analysis.heads import HeadCache, SoftmaxHead, feature_rows, training_examples, training_text
from analysis.hf_sentiment import TransformersSentiment
from analysis.model_cache import default_analysis_cache_dir
from analysis.semantic_categories import SemanticCategoryMatcher
from analysis.sentiment import SENTIMENT_LABELS
from analysis.text import split_sentences
from analysis.turn_classifier import TurnClassifier
from analysis.types import CategoryHit, UtteranceAnalysis

__all__ = [
    "EMOTION_BACKENDS",
    "MAX_SENTENCES",
    "MODELS",
    "SENTIMENT_BACKENDS",
    "AnalysisModels",
    "Backend",
    "EmotionBackendName",
    "EmotionScore",
    "ModelName",
    "SentimentBackendName",
    "SentimentScore",
    "UtteranceFindings",
    "lexicon_backend",
    "load_analysis_backend",
    "prepare_analysis_backend",
    "required_models",
]


SentimentBackendName = Literal["finetuned", "embedding", "vader", "transformers"]
EmotionBackendName = Literal["finetuned", "embedding", "lexicon"]
# The loadable models, in load order: each is an AnalysisModels field and a _Loader property.
ModelName = Literal[
    "turn_classifier",
    "encoder",
    "sentiment_head",
    "emotion_head",
    "transformers_sentiment",
    "semantic",
    "decision_acts",
    "call_state",
]
MODELS: Final[tuple[ModelName, ...]] = (
    "turn_classifier",
    "encoder",
    "sentiment_head",
    "emotion_head",
    "transformers_sentiment",
    "semantic",
    "decision_acts",
    "call_state",
)


@dataclass(frozen=True, slots=True)
class UtteranceFindings:
    """Everything found in one utterance."""

    result: UtteranceAnalysis
    hits: tuple[CategoryHit, ...]
    # the sentence encoder's row for the whole utterance, when a backend computed it anyway (the
    # cognitive signals' focus reads it; None: no encoder ran, the focus falls back to words)
    embedding: Embeddings | None = None
    # the decision acts found by meaning (analysis.decision_acts), for decisions.decision_cues
    acts: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class SentimentScore:
    """A sentiment backend's verdict on one utterance."""

    label: str
    score: float  # -1..1 before clamping
    probabilities: dict[str, float]  # over SENTIMENT_LABELS


@dataclass(frozen=True, slots=True)
class EmotionScore:
    """An emotion backend's verdict on one utterance."""

    label: str
    distribution: dict[str, float]  # over EMOTION_LABELS


ScoreT = TypeVar("ScoreT", SentimentScore, EmotionScore)


@dataclass(frozen=True, slots=True)
class Backend(Generic[ScoreT]):
    """One sentiment or emotion backend: the models it needs, and how it scores an utterance with them
    (None when a model it needs is missing from a hand-built ``AnalysisModels``: the rules decide)."""

    needs: frozenset[ModelName]
    score: Callable[[AnalysisModels, _Turn], ScoreT | None]


@dataclass(frozen=True, slots=True)
class _Embedded:
    """The encoder's rows for one utterance: the whole text, its sentences, its last sentence."""

    utterance: Embeddings
    sentences: Embeddings
    last: Embeddings


def _embed(encoder: SentenceEncoder, text: str, sentences: list[str], last_sentence: str) -> _Embedded:
    """One forward pass over the utterance, its sentences (when it has more than itself) and its last
    sentence (when ``MAX_SENTENCES`` cut it off)."""
    extra = sentences if len(sentences) > 1 or (sentences and sentences[0] != text) else []
    texts = [text, *extra]
    if last_sentence not in texts:  # past MAX_SENTENCES
        texts.append(last_sentence)
    batch = encoder.encode(texts)
    return _Embedded(
        utterance=batch[0],
        sentences=batch[1 : 1 + len(extra)] if extra else batch[:1],
        last=batch[len(texts) - 1 - texts[::-1].index(last_sentence)],
    )


class _Turn:
    """One utterance being analysed; what several backends use is computed once, when first needed."""

    def __init__(self, models: AnalysisModels, text: str, speaker: str, sentences: Sequence[str]) -> None:
        self._models = models
        self.text = text
        self.speaker = speaker
        self.compound = sentiment.polarity(text)
        self.last_sentence = sentences[-1] if sentences else text
        self.sentences = list(sentences[:MAX_SENTENCES])

    @cached_property
    def embedded(self) -> _Embedded:
        return _embed(_loaded(self._models.encoder, "encoder"), self.text, self.sentences, self.last_sentence)

    @cached_property
    def sentence_rows(self) -> Embeddings:
        """The encoder's rows for the sentences alone (what matching by meaning compares): the whole
        utterance, the longest text, stays out of the batch unless a head needs it (``embedded``), which
        costs the encoder about half as much on a multi-sentence utterance."""
        if "embedded" in self.__dict__:
            return self.embedded.sentences
        return _loaded(self._models.encoder, "encoder").encode(self.sentences or [self.text])

    def utterance_row(self) -> Embeddings | None:
        """The utterance's embedding if one was computed: its own row, or its sentences' mean (None: no
        encoder ran for it)."""
        if "embedded" in self.__dict__:
            return self.embedded.utterance
        rows = self.__dict__.get("sentence_rows")
        return None if rows is None else mean_row(rows)

    @cached_property
    def head_features(self) -> Embeddings:
        """The feature row of the embedding heads (``analysis.heads.feature_rows``)."""
        lexical = sentiment.vader_scores(self.text)
        embedded = self.embedded
        return feature_rows(embedded.utterance[None, :], embedded.last[None, :], [lexical], [self.speaker])

    @cached_property
    def tuned(self) -> tuple[Embeddings, Embeddings]:
        """The turn classifier's (sentiment, emotion) probabilities: one forward pass for both."""
        classifier = _loaded(self._models.turn_classifier, "turn classifier")
        sentiment_rows, emotion_rows = classifier.predict([self.text], [self.speaker])
        return sentiment_rows[0], emotion_rows[0]


ModelT = TypeVar("ModelT")


def _loaded(model: ModelT | None, name: str) -> ModelT:
    if model is None:  # a scorer asked for a model its Backend.needs does not name
        raise RuntimeError(f"this analysis backend has no {name} loaded")
    return model


def _rounded(labels: Sequence[str], row: Iterable[float]) -> dict[str, float]:
    return {label: round(float(p), 4) for label, p in zip(labels, row, strict=True)}


def _by_probability(probabilities: dict[str, float]) -> SentimentScore:
    label = max(SENTIMENT_LABELS, key=lambda name: probabilities[name])
    return SentimentScore(label, round(probabilities["positive"] - probabilities["negative"], 4), probabilities)


def _top_emotion(distribution: dict[str, float]) -> EmotionScore:
    return EmotionScore(max(EMOTION_LABELS, key=lambda name: distribution[name]), distribution)


def _finetuned_sentiment(models: AnalysisModels, turn: _Turn) -> SentimentScore | None:
    if models.turn_classifier is None:
        return None
    return _by_probability(_rounded(SENTIMENT_LABELS, turn.tuned[0]))


def _embedding_sentiment(models: AnalysisModels, turn: _Turn) -> SentimentScore | None:
    if models.sentiment_head is None or models.encoder is None:
        return None
    return _by_probability(_rounded(SENTIMENT_LABELS, models.sentiment_head.predict(turn.head_features)[0]))


def _transformers_sentiment(models: AnalysisModels, turn: _Turn) -> SentimentScore | None:
    if models.transformers_sentiment is None:
        return None
    return _by_probability(models.transformers_sentiment.predict([turn.text])[0])


def _vader_sentiment(models: AnalysisModels, turn: _Turn) -> SentimentScore:
    return SentimentScore(sentiment.label_for(turn.compound), turn.compound, sentiment.probabilities(turn.compound))


def _finetuned_emotion(models: AnalysisModels, turn: _Turn) -> EmotionScore | None:
    if models.turn_classifier is None:
        return None
    return _top_emotion(_rounded(EMOTION_LABELS, turn.tuned[1]))


def _embedding_emotion(models: AnalysisModels, turn: _Turn) -> EmotionScore | None:
    if models.emotion_head is None or models.encoder is None:
        return None
    return _top_emotion(_rounded(EMOTION_LABELS, models.emotion_head.predict(turn.head_features)[0]))


def _lexicon_emotion(models: AnalysisModels, turn: _Turn) -> EmotionScore:
    label = emotion.classify(turn.text, turn.compound)
    return EmotionScore(label, emotion.lexicon_distribution(turn.text, turn.compound, label))


SENTIMENT_BACKENDS: Final[Mapping[SentimentBackendName, Backend[SentimentScore]]] = {
    # MiniLM fine-tuned on the packaged examples (analysis.turn_classifier): the default
    "finetuned": Backend(frozenset({"turn_classifier"}), _finetuned_sentiment),
    # frozen MiniLM + VADER + speaker features, logistic head (analysis.heads)
    "embedding": Backend(frozenset({"encoder", "sentiment_head"}), _embedding_sentiment),
    # tuned VADER alone (analysis.sentiment)
    "vader": Backend(frozenset(), _vader_sentiment),
    # any text-classification model (analysis.hf_sentiment)
    "transformers": Backend(frozenset({"transformers_sentiment"}), _transformers_sentiment),
}
EMOTION_BACKENDS: Final[Mapping[EmotionBackendName, Backend[EmotionScore]]] = {
    "finetuned": Backend(frozenset({"turn_classifier"}), _finetuned_emotion),
    "embedding": Backend(frozenset({"encoder", "emotion_head"}), _embedding_emotion),
    # cue lexicon + VADER (analysis.emotion)
    "lexicon": Backend(frozenset(), _lexicon_emotion),
}
# Matching by meaning: the categories' examples and the decision acts (analysis.decision_acts).
_SEMANTIC_CATEGORIES: Final[frozenset[ModelName]] = frozenset({"encoder", "semantic", "decision_acts"})


# The learned call state (analysis.call_state_model) reads the turn classifier's outputs, the encoder's
# embedding of each turn and the decision cues (with the acts found by meaning): it was trained on those,
# so it runs only with both backends "finetuned", and loads the acts too.
_LEARNED_CALL_STATE: Final[frozenset[ModelName]] = frozenset(
    {"turn_classifier", "encoder", "decision_acts", "call_state"}
)


def required_models(config: AnalysisConfig) -> frozenset[ModelName]:
    """The models ``config`` needs loaded; none for the rules alone (then torch is never imported)."""
    needs = SENTIMENT_BACKENDS[config.sentiment_backend].needs | EMOTION_BACKENDS[config.emotion_backend].needs
    if config.semantic_categories:
        needs |= _SEMANTIC_CATEGORIES
    if config.call_state == "learned" and config.sentiment_backend == config.emotion_backend == "finetuned":
        needs |= _LEARNED_CALL_STATE
    return needs


@dataclass(frozen=True, slots=True, eq=False)
class AnalysisModels:
    """Loaded models and matchers; build with ``load_analysis_backend`` or ``lexicon_backend``."""

    config: AnalysisConfig
    _: KW_ONLY
    phrases: CategoryMatcher
    encoder: SentenceEncoder | None = None
    sentiment_head: SoftmaxHead | None = None
    emotion_head: SoftmaxHead | None = None
    transformers_sentiment: TransformersSentiment | None = None
    semantic: SemanticCategoryMatcher | None = None
    turn_classifier: TurnClassifier | None = None
    decision_acts: DecisionActs | None = None  # offers and decisions by meaning; None: the phrases alone
    call_state: CallStateModel | None = None  # the learned running call sentiment; None: the rule

    def describe(self) -> str:
        """One line for the server log: which backend does what."""
        sentiment_name: str = self.config.sentiment_backend
        if self.transformers_sentiment is not None:
            sentiment_name += f" ({self.transformers_sentiment.model})"
        encoder = f", encoder {self.encoder.path}" if self.encoder is not None else ""
        if self.turn_classifier is not None:
            encoder += f", turn classifier {self.turn_classifier.directory}"
        meaning = f"phrases + meaning >= {self.config.category_similarity}" if self.semantic else "phrases"
        state = "learned" if self.call_state is not None else "rules"
        return (
            f"analysis: sentiment {sentiment_name}, emotion {self.config.emotion_backend}, "
            f"categories {meaning}, call state {state}{encoder}"
        )

    def analyse(
        self, text: str, start: float, speaker: str, sentences: Sequence[str], original: str = ""
    ) -> UtteranceFindings:
        """Sentiment, emotion and category hits of one utterance with at least one word. `original`: what
        was said when `text` is its English translation; the categories' phrases are looked for in it
        too (a categories file may list phrases in the caller's language)."""
        turn = _Turn(self, text, speaker, sentences)
        # a backend whose model is missing (a hand-built AnalysisModels) leaves it to the rules
        found = SENTIMENT_BACKENDS[self.config.sentiment_backend].score(self, turn) or _by_probability(
            sentiment.probabilities(turn.compound)
        )
        feeling = EMOTION_BACKENDS[self.config.emotion_backend].score(self, turn) or _lexicon_emotion(self, turn)
        hits = self._category_hits(turn, start)
        if original:
            seen = {(hit.category, hit.label) for hit in hits}
            hits += tuple(h for h in self.phrases.match(original, start, speaker) if (h.category, h.label) not in seen)
        result = UtteranceAnalysis(
            sentiment=found.label,
            sentiment_score=max(-1.0, min(1.0, found.score)),
            emotion=feeling.label,
            emotion_scores=feeling.distribution,
            sentiment_scores=found.probabilities,
            hits=hits,
        )
        if self.encoder is not None and (self.decision_acts is not None or self.config.call_state == "learned"):
            turn.sentence_rows  # noqa: B018  # the acts and the learned call state read the embedding (cached)
        embedding = turn.utterance_row()
        acts = (
            self.decision_acts.found(self.decision_acts.probabilities(embedding, speaker))
            if self.decision_acts
            else None
        )
        return UtteranceFindings(result, hits, embedding, acts or frozenset())

    def _category_hits(self, turn: _Turn, start: float) -> tuple[CategoryHit, ...]:
        hits = self.phrases.match(turn.text, start, turn.speaker)
        if self.semantic is None or self.encoder is None:
            return hits
        already = {(hit.category, hit.label) for hit in hits}
        embedded = turn.sentence_rows
        return hits + self.semantic.match(turn.sentences, embedded, start, turn.speaker, turn.text, already)


def _train_heads(encoder: SentenceEncoder, cache: HeadCache) -> tuple[SoftmaxHead, SoftmaxHead]:
    """The sentiment and emotion heads: from the cache when their key matches, else trained (and cached)."""
    labels = (SENTIMENT_LABELS, EMOTION_LABELS)
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
    sentiment_head = SoftmaxHead(SENTIMENT_LABELS, features, [e.sentiment for e in examples])
    emotion_head = SoftmaxHead(EMOTION_LABELS, features, [e.emotion for e in examples])
    cache.save(key, (sentiment_head, emotion_head))
    return sentiment_head, emotion_head


class _Loader:
    """Loads, once each, the models of one ``AnalysisConfig``: a property per ``ModelName``."""

    def __init__(self, config: AnalysisConfig, examples: Table) -> None:
        self.config = config
        self.examples = examples
        self.cache_dir = config.cache_dir or default_analysis_cache_dir()

    @cached_property
    def turn_classifier(self) -> TurnClassifier:
        return TurnClassifier.load(self.cache_dir, self.config.embedding_model)  # trains once, then from the cache

    @cached_property
    def encoder(self) -> SentenceEncoder:
        return SentenceEncoder(self.config.embedding_model)

    @cached_property
    def heads(self) -> tuple[SoftmaxHead, SoftmaxHead]:
        return _train_heads(self.encoder, HeadCache(self.cache_dir))  # both from one fit

    @property
    def sentiment_head(self) -> SoftmaxHead:
        return self.heads[0]

    @property
    def emotion_head(self) -> SoftmaxHead:
        return self.heads[1]

    @cached_property
    def transformers_sentiment(self) -> TransformersSentiment:
        return TransformersSentiment(_loaded(self.config.sentiment_model, "sentiment_model"))

    @cached_property
    def semantic(self) -> SemanticCategoryMatcher:
        return SemanticCategoryMatcher(self.encoder, self.examples, self.config.category_similarity)

    @cached_property
    def decision_acts(self) -> DecisionActs:
        return load_decision_acts(self.encoder, self.cache_dir)  # fitted once, then from the cache

    @cached_property
    def call_state(self) -> CallStateModel:
        from analysis.call_state_training import load_call_state_model  # it runs the analyzer, which imports this

        # trained once, then from the cache
        return load_call_state_model(self.config, self.turn_classifier, self.encoder, self.decision_acts)


def load_analysis_backend(config: AnalysisConfig | None = None) -> AnalysisModels:
    """Load everything ``config`` asks for (default: ``AnalysisConfig()``); call once per process.

    Raises ``ModelUnavailableError`` naming the package to install when a model is missing, and
    ``ValueError`` for a malformed categories file.
    """
    config = config if config is not None else AnalysisConfig()
    tables = load_category_tables(config.categories_file)
    phrases = CategoryMatcher(tables.phrases) if config.categories_file is not None else default_matcher()
    needed = required_models(config)
    if not needed:
        return AnalysisModels(config, phrases=phrases)
    torch, _ = _require_transformers()
    torch.set_num_threads(config.torch_threads)  # the turn classifier's one-off training sets its own
    loader = _Loader(config, tables.examples)
    loaded = {name: getattr(loader, name) for name in MODELS if name in needed}
    return AnalysisModels(config, phrases=phrases, **loaded)


def prepare_analysis_backend(config: AnalysisConfig | None = None) -> str:
    """Train and cache, ahead of serving, whatever ``config`` needs trained (the turn classifier);
    returns a line saying what is ready. Used by ``audiohook-server --check-config`` (the Docker build)
    and ``python -m analysis`` (``scripts/setup.sh``)."""
    config = config if config is not None else AnalysisConfig()
    needed = required_models(config)
    if "turn_classifier" not in needed:
        return "nothing to train"
    path = TurnClassifier.prepare(config.cache_dir, config.embedding_model)
    if "call_state" not in needed:
        return f"turn classifier {path}"
    load_analysis_backend(config)  # the learned call state is trained with the loaded models, then cached
    return f"turn classifier {path}, learned call state"


@cache
def lexicon_backend() -> AnalysisModels:
    """The shared rules-only backend (no torch): VADER, the emotion cue lexicon, the phrase lists."""
    return AnalysisModels(AnalysisConfig.lexicon_only(), phrases=default_matcher())
