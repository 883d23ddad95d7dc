"""Call analytics for live transcripts: sentiment, emotion, categories, agent score and summary.

The server loads one ``AnalysisModels`` backend per process (``load_analysis_backend(AnalysisConfig())``:
MiniLM fine-tuned on the packaged examples for sentiment and emotion, trained once and cached, see
``python -m analysis``; the plain MiniLM, VADER and phrase lists for categories), feeds
each final utterance of a call to that call's ``CallAnalyzer(models=...)``, and reports
``CallAnalyzer.analysis().to_event()`` as the protocol's ``analysis`` block and ``to_summary()`` as
the per-session summary file. Without a backend, ``CallAnalyzer()`` uses the rules only (VADER,
cue lexicon, phrase lists). Nothing is downloaded; see docs/analytics.md.
"""

from analysis.call import CallAnalyzer
from analysis.config import AnalysisConfig
from analysis.embeddings import ModelUnavailableError
from analysis.emotion import EMOTION_LABELS
from analysis.models import AnalysisModels, lexicon_backend, load_analysis_backend
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
    "lexicon_backend",
    "load_analysis_backend",
]
