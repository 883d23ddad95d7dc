"""Call analytics for live transcripts: sentiment, emotion, categories, agent score and summary.

The server loads one ``AnalysisModels`` backend per process (``load_analysis_backend(AnalysisConfig())``:
MiniLM fine-tuned on the packaged examples for sentiment and emotion, trained once and cached, see
``python -m analysis``; the plain MiniLM, VADER and phrase lists for categories), feeds
each final utterance of a call to that call's ``CallAnalyzer(models=...)``, and reports
``CallAnalyzer.analysis().to_event()`` as the protocol's ``analysis`` block and ``to_summary()`` as
the per-session summary file. Without a backend, ``CallAnalyzer()`` uses the rules only (VADER,
cue lexicon, phrase lists). Nothing is downloaded; see docs/analytics.md.

Everything the server needs is importable from here: the analyzer (``analysis.analyzer``), the
backends and their registry (``analysis.backends``), the settings (``analysis.config``), the value
types (``analysis.types``) and the model cache helpers (``analysis.model_cache``).
"""

from analysis.analyzer import CallAnalyzer
from analysis.backends import AnalysisModels, lexicon_backend, load_analysis_backend, prepare_analysis_backend
from analysis.config import AnalysisConfig
from analysis.embeddings import ModelUnavailableError
from analysis.emotion import EMOTION_LABELS
from analysis.model_cache import default_cache_root, file_sha256
from analysis.types import CallAnalysis, CategoryHit, Utterance, UtteranceAnalysis

__all__ = [
    "EMOTION_LABELS",
    "AnalysisConfig",
    "AnalysisModels",
    "CallAnalysis",
    "CallAnalyzer",
    "CategoryHit",
    "ModelUnavailableError",
    "Utterance",
    "UtteranceAnalysis",
    "default_cache_root",
    "file_sha256",
    "lexicon_backend",
    "load_analysis_backend",
    "prepare_analysis_backend",
]
