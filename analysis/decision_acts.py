"""Offers and decisions by meaning: one small classifier per decision act over the MiniLM embedding.

Why it exists: the phrase lists of ``analysis.decisions`` find the acts they were written from ("I can
offer you", "go on then", "I want to cancel") and miss the ways the next caller says them ("I could go
to twenty-six a month", "then I'll take the PAC code", "I just need to run it past my partner"): on the
48 labelled retention, sales and collections calls of rounds 4-8 the call's outcome was right on 24
(half). Each act (``ACTS``: the agent's offer and confirmations, the customer's request to leave,
acceptance, grudging yes, decline, deferral and paying now) gets a logistic regression over the
utterance's embedding (the encoder already embeds every utterance's sentences for the categories; their
mean is the row), trained on ``analysis/decision_examples.json``: 900 utterances written for it by two
writers who saw neither the code nor the evaluation calls (30 per act each, and 120 each with no act,
half of them near misses such as a question about an offer's terms or "no, that's everything"). An act
counts when its probability is at least ``ACT_THRESHOLD``, on its speaker's side only, in addition to
the phrases (``decisions.decision_cues``). With them the outcome was right on 30 of the 48 calls (the
summary's outcome quoted the decision on 29, was 26); the threshold (0.85, against 0.5 and 0.7) and the
regularisation (C = 4, against 1 and 16) were chosen there, so those rounds are development data for it
now.

The fit takes a few seconds (embedding the 900 examples), so the weights are cached in the analysis
cache (``decision-acts-<key>.npz``), keyed by the examples, the encoder and the settings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from analysis.embeddings import MAX_SENTENCES, SentenceEncoder, encoder_fingerprint, mean_row
from analysis.model_cache import load_arrays, save_arrays, text_sha256
from analysis.text import split_sentences

__all__ = ["ACTS", "ACT_THRESHOLD", "AGENT_ACTS", "EXAMPLES_FILE", "DecisionActs", "load_decision_acts"]

AGENT_ACTS: Final = ("offer", "cancel_done", "arrangement_done", "paid_done", "applied")
CUSTOMER_ACTS: Final = ("leave", "accept", "reluctant", "decline", "undecided", "pay_now")
ACTS: Final = (*AGENT_ACTS, *CUSTOMER_ACTS)  # each a field of decisions.DecisionCues
ACT_THRESHOLD: Final = 0.85
REGULARIZATION: Final = 4.0
EXAMPLES_FILE: Final = Path(__file__).with_name("decision_examples.json")

log = logging.getLogger(__name__)

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ActExample:
    speaker: str
    text: str
    acts: frozenset[str]


def examples(path: Path = EXAMPLES_FILE) -> list[ActExample]:
    """The packaged act examples; a label outside ``ACTS``, or on the wrong side, is an error."""
    loaded = []
    for raw in json.loads(path.read_text(encoding="utf-8")):
        speaker, acts = str(raw["speaker"]), frozenset(str(a) for a in raw["acts"])
        side = AGENT_ACTS if speaker == "agent" else CUSTOMER_ACTS
        if not acts <= set(side):
            raise ValueError(f"{path}: {sorted(acts - set(side))} on a {speaker} utterance: {raw['text'][:60]!r}")
        loaded.append(ActExample(speaker, str(raw["text"]), acts))
    return loaded


def utterance_row(encoder: SentenceEncoder, text: str) -> npt.NDArray[np.float32]:
    """What the analyzer's utterance embedding is: the normalised mean of its sentences' rows."""
    row = mean_row(encoder.encode((split_sentences(text) or [text])[:MAX_SENTENCES]))
    return row if row is not None else np.zeros(encoder.dimension, dtype=np.float32)


@dataclass(frozen=True)
class DecisionActs:
    """One binary logistic regression per act of ``ACTS``: ``weights`` (acts x dimension), ``bias`` (acts)."""

    weights: Matrix
    bias: Matrix

    def probabilities(self, embedding: npt.NDArray[np.float32] | None, speaker: str) -> dict[str, float]:
        """P(act) for the acts of the speaker's side ("unknown": both); empty without an embedding."""
        if embedding is None or embedding.shape != (self.weights.shape[1],):
            return {}
        sides = {"agent": AGENT_ACTS, "customer": CUSTOMER_ACTS}.get(speaker, ACTS)
        logits = self.weights @ embedding.astype(np.float64) + self.bias
        values = 1.0 / (1.0 + np.exp(-logits))
        return {act: float(value) for act, value in zip(ACTS, values, strict=True) if act in sides}

    @classmethod
    def fit(cls, rows: Matrix, speakers: list[str], acts: list[frozenset[str]]) -> DecisionActs:
        """Fit each act on its side's examples (balanced classes: 30 of an act against the rest)."""
        from sklearn.linear_model import LogisticRegression

        weights, bias = [], []
        for act in ACTS:
            side = "agent" if act in AGENT_ACTS else "customer"
            index = [i for i, speaker in enumerate(speakers) if speaker == side]
            targets = np.array([act in acts[i] for i in index])
            fitted = LogisticRegression(C=REGULARIZATION, max_iter=3000, class_weight="balanced")
            fitted.fit(rows[index], targets)
            weights.append(fitted.coef_[0])
            bias.append(float(fitted.intercept_[0]))
        return cls(np.stack(weights).astype(np.float64), np.array(bias))

    def found(self, probabilities: Mapping[str, float]) -> frozenset[str]:
        """The acts at or above ``ACT_THRESHOLD``."""
        return frozenset(act for act, value in probabilities.items() if value >= ACT_THRESHOLD)


def load_decision_acts(encoder: SentenceEncoder, cache_dir: Path) -> DecisionActs:
    """The act classifiers for this encoder: from the cache, or fitted now (a few seconds) and cached."""
    key = text_sha256(
        f"acts {','.join(ACTS)}; C {REGULARIZATION}; sentences {MAX_SENTENCES};",
        EXAMPLES_FILE.read_text(encoding="utf-8"),
        encoder_fingerprint(encoder.path),
    )[:24]
    path = cache_dir / f"decision-acts-{key}.npz"
    arrays = load_arrays(path, ("weights", "bias"))
    if arrays is not None and arrays["weights"].shape[0] == len(ACTS):
        return DecisionActs(arrays["weights"].astype(np.float64), arrays["bias"].astype(np.float64))
    loaded = examples()
    log.info("fitting the decision acts on %d examples (once; cached in %s)", len(loaded), path)
    rows = np.stack([utterance_row(encoder, e.text) for e in loaded]).astype(np.float64)
    acts = DecisionActs.fit(rows, [e.speaker for e in loaded], [e.acts for e in loaded])
    save_arrays(path, {"weights": acts.weights, "bias": acts.bias})
    return acts
