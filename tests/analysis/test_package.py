"""The public names of the analysis package (analysis/__init__.py)."""

from __future__ import annotations

import pytest

import analysis
from analysis import EMOTION_LABELS, Utterance

# everything the server uses comes from the package itself
SERVER_NAMES = (
    *("AnalysisConfig", "AnalysisModels", "CallAnalyzer", "CallAnalysis", "CategoryHit", "Utterance"),
    *("UtteranceAnalysis", "EMOTION_LABELS", "load_analysis_backend", "lexicon_backend"),
    *("prepare_analysis_backend", "ModelUnavailableError", "default_cache_root", "file_sha256"),
)


def test_public_names_and_emotion_labels() -> None:
    assert sorted(analysis.__all__) == sorted(SERVER_NAMES)
    for name in SERVER_NAMES:
        assert hasattr(analysis, name)
    assert EMOTION_LABELS == ("neutral", "satisfied", "happy", "frustrated", "angry", "anxious", "confused", "sad")
    u = Utterance("hello", 0.0, 1.0, 0, "agent")
    assert u.confidence == 1.0
    with pytest.raises(AttributeError):
        u.text = "changed"  # type: ignore[misc]
