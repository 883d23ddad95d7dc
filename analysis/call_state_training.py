"""Training the learned call state (``analysis.call_state_model``) on this machine, once, and caching it.

Why it exists: the model's features are what the analyzer finds in each turn with the loaded models (the
turn classifier's probabilities, the encoder's embedding, the decision cues, the rule's state), so it has
to be fitted on exactly those, on the machine that serves: the labelled calls of
``analysis/call_state_calls.json`` (78 calls, 1,473 turns, each with the annotator's ``call_state``;
``scripts/build_call_state_data.py``) are fed turn by turn to a ``CallAnalyzer`` without the model, and
the transition model is fitted on the rows it reads. That takes about a minute on two cores, so the
weights are cached in the analysis cache (``call-state-<key>.npz``, a few tens of kB) under a key of
everything they depend on: the training file, the turn classifier and encoder, the source of the modules
that compute the features, and ``FEATURES_VERSION``. ``scripts/setup.sh`` and ``--check-config`` train it
ahead of serving (``analysis.backends.prepare_analysis_backend``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from analysis import analyzer, backends, call_state, call_state_model, decision_acts, decisions
from analysis.analyzer import CallAnalyzer
from analysis.backends import AnalysisModels
from analysis.call_state_model import STATE_LABELS, CallStateModel, Vector, observation_rows
from analysis.categories import default_matcher
from analysis.config import AnalysisConfig
from analysis.decision_acts import DecisionActs
from analysis.embeddings import SentenceEncoder, encoder_fingerprint
from analysis.model_cache import default_analysis_cache_dir, text_sha256
from analysis.text import count_words
from analysis.turn_classifier import TurnClassifier
from analysis.types import Utterance

__all__ = [
    "REGULARIZATION",
    "TRAINING_FILE",
    "CallRows",
    "LabelledCall",
    "LabelledTurn",
    "call_sequences",
    "labelled_calls",
    "load_call_state_model",
]

TRAINING_FILE: Final = Path(__file__).with_name("call_state_calls.json")
REGULARIZATION: Final = 1.0  # the logistic regression's C, chosen left one labelling round out (bench_call_state.py)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LabelledTurn:
    speaker: str
    start: float
    end: float
    text: str
    call_state: str  # the annotator's state of the call after this turn


@dataclass(frozen=True, slots=True)
class LabelledCall:
    call_id: str
    round: str  # the labelling round (benchmarks leave one out)
    call_type: str  # service, retention, sales or collections
    turns: tuple[LabelledTurn, ...]


def labelled_calls(path: Path = TRAINING_FILE) -> list[LabelledCall]:
    """The calls of a training file (``scripts/build_call_state_data.py`` writes the packaged one)."""
    calls = []
    for raw in json.loads(path.read_text(encoding="utf-8")):
        turns = tuple(
            LabelledTurn(str(t["speaker"]), float(t["start"]), float(t["end"]), str(t["text"]), str(t["call_state"]))
            for t in raw["turns"]
        )
        if any(turn.call_state not in STATE_LABELS for turn in turns):
            raise ValueError(f"{path}: call {raw['id']}: a call_state outside {STATE_LABELS}")
        calls.append(LabelledCall(str(raw["id"]), str(raw["round"]), str(raw.get("call_type") or "service"), turns))
    return calls


def spoken_order(call: LabelledCall) -> list[LabelledTurn]:
    """The turns the analyzer keeps for the call state, in its order: those with words, by start time."""
    indexed = sorted(enumerate(call.turns), key=lambda pair: (pair[1].start, pair[0]))
    return [turn for _, turn in indexed if count_words(turn.text)]


@dataclass(frozen=True, slots=True)
class CallRows:
    """One labelled call as the model sees it: a feature row per spoken turn, the annotator's state after
    each, and the rule's (analysis.call_state), to compare with."""

    call: LabelledCall
    rows: list[Vector]
    labels: list[str]
    rule_labels: list[str]


def call_sequences(models: AnalysisModels, calls: Sequence[LabelledCall]) -> list[CallRows]:
    """Each call's feature rows (what the analyzer reads with ``models``) and the annotator's state per row."""
    if models.encoder is None or models.turn_classifier is None or models.decision_acts is None:
        raise ValueError("the call state's features need the encoder, the turn classifier and the decision acts")
    without_model = AnalysisModels(
        models.config,
        phrases=default_matcher(),
        encoder=models.encoder,
        turn_classifier=models.turn_classifier,
        decision_acts=models.decision_acts,
    )
    sequences = []
    for call in calls:
        call_analyzer = CallAnalyzer(models=without_model)
        for turn in call.turns:
            channel = 0 if turn.speaker == "customer" else 1
            call_analyzer.add(Utterance(turn.text, turn.start, turn.end, channel, turn.speaker))
        observations, rule_labels = call_analyzer.state_inputs()
        labels = [turn.call_state for turn in spoken_order(call)]
        if len(labels) != len(observations):
            raise ValueError(f"call {call.call_id}: {len(observations)} spoken turns analysed, {len(labels)} labelled")
        sequences.append(CallRows(call, observation_rows(observations, rule_labels), labels, rule_labels))
    return sequences


def cache_key(
    turn_classifier: TurnClassifier, encoder: SentenceEncoder, acts: DecisionActs, training: Path = TRAINING_FILE
) -> str:
    """What the weights depend on: the data, the models that compute the features, and the feature code."""
    sources = "".join(Path(module.__file__ or "").read_text(encoding="utf-8") for module in _FEATURE_MODULES)
    return text_sha256(
        f"features {call_state_model.FEATURES_VERSION}; C {REGULARIZATION};",
        training.read_text(encoding="utf-8"),
        turn_classifier.directory.name,
        encoder_fingerprint(encoder.path),
        np.concatenate([acts.weights.ravel(), acts.bias]).tobytes().hex(),
        sources,
    )[:24]


# the modules whose code turns an utterance into the model's features (the analyzer builds the observations,
# the backends choose the embedding)
_FEATURE_MODULES: Final = (analyzer, backends, call_state, call_state_model, decisions, decision_acts)


def load_call_state_model(
    config: AnalysisConfig, turn_classifier: TurnClassifier, encoder: SentenceEncoder, acts: DecisionActs
) -> CallStateModel:
    """The cached model for these models, or one trained now (about a minute) and cached."""
    cache_dir = config.cache_dir or default_analysis_cache_dir()
    path = cache_dir / f"call-state-{cache_key(turn_classifier, encoder, acts)}.npz"
    cached = CallStateModel.load(path)
    if cached is not None:
        return cached
    calls = labelled_calls()
    log.info("training the learned call state on %d labelled calls (once; cached in %s)", len(calls), path)
    began = time.monotonic()
    models = AnalysisModels(
        config, phrases=default_matcher(), encoder=encoder, turn_classifier=turn_classifier, decision_acts=acts
    )
    model = CallStateModel.fit([(c.rows, c.labels) for c in call_sequences(models, calls)], REGULARIZATION)
    model.save(path)
    log.info("learned call state trained in %.0f s", time.monotonic() - began)
    return model
