"""Call analytics for live transcripts: sentiment, emotion, categories, agent score and summary.

The server feeds each final transcript utterance to a ``CallAnalyzer`` and reports
``CallAnalyzer.analysis().to_event()`` as the protocol's ``analysis`` block. Everything here is pure,
offline and deterministic (VADER plus curated phrase lists), cheap enough to run per utterance.
"""

from analysis.call import CallAnalyzer
from analysis.emotion import EMOTION_LABELS
from analysis.types import CallAnalysis, CategoryHit, Utterance, UtteranceAnalysis

__all__ = [
    "EMOTION_LABELS",
    "CallAnalysis",
    "CallAnalyzer",
    "CategoryHit",
    "Utterance",
    "UtteranceAnalysis",
]
