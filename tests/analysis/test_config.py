"""The analysis settings (analysis.config)."""

from __future__ import annotations

import pytest

from analysis.backends import required_models
from analysis.config import AnalysisConfig


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="sentiment_model"):
        AnalysisConfig(sentiment_backend="transformers")
    with pytest.raises(ValueError):
        AnalysisConfig(category_similarity=0.0)
    with pytest.raises(ValueError):
        AnalysisConfig(emotion_backend="magic")  # type: ignore[arg-type]
    assert not required_models(AnalysisConfig.lexicon_only())
    assert AnalysisConfig().with_sentiment_model("x").sentiment_backend == "transformers"
    assert AnalysisConfig().with_sentiment_model(None) == AnalysisConfig()
