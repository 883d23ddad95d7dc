"""The model-backed analysis backends, loaded once for every test of this package that asks for one."""

from __future__ import annotations

import pytest

from analysis.backends import AnalysisModels, load_analysis_backend
from analysis.config import AnalysisConfig


@pytest.fixture(scope="package")
def models() -> AnalysisModels:
    return load_analysis_backend(AnalysisConfig())


@pytest.fixture(scope="package")
def embedding_models() -> AnalysisModels:
    """The frozen-encoder alternative: MiniLM embeddings with logistic heads trained at load."""
    return load_analysis_backend(AnalysisConfig(sentiment_backend="embedding", emotion_backend="embedding"))
