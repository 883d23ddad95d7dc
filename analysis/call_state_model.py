"""The learned running call sentiment: a maximum-entropy Markov model over the call's turns.

Why it exists: the rule of ``analysis.call_state`` (a negative turn pulls the state down, an acceptance
lifts it, neutral turns let it decay) agreed with the annotators' turn-by-turn call state on 70 % of
the 1,473 labelled turns of the 78 calls that carry one (rounds dev-4 and 4-8), 61-75 % on each held-out
round, against a target of 85 %. What the annotators do is not a decay: a state, once reached, holds
through procedural turns (details, "okay") until something changes it (an offer answered, a fix, a
refusal); a positive call almost never turns negative again (once in 1,473 turns); and which neutral
turn ends a complaint (a customer weighing up an offer: "ten quid off is something") depends on what was
said, not on how many turns have passed.

So the state is a belief over ``STATE_LABELS`` updated at every turn of either side (the customer's
turns move it; the agent's good or bad news can too), with a learned transition: ``P(state_t |
state_t-1, turn_t)`` is a multinomial logistic regression over the turn's features (``observation_row``)
and the previous state (one-hot, and crossed with the turn's sentiment and the customer's neutral and
satisfied emotions), and the belief is filtered forward, ``b_t = b_t-1 @ P_t``, so an uncertain turn
does not flip the state on its own. The label is the belief's most likely state. Features of a turn, all
of which the analyzer already computes for it: the turn classifier's P(positive) and P(negative)
(separately for the customer and the agent), the customer's emotion distribution, the decision cues of
``analysis.decisions`` (an offer, an acceptance, a decline, a request to leave, a confirmation), whether
an acceptance or a decline of an offer in reach was found, the rule's state after the turn, the agent
turn before a customer turn (its sentiment, whether it made an offer or applied one), and the customer
turn's MiniLM embedding (the encoder already runs for every utterance, so the model costs a few thousand
multiply-adds per turn).

Left one labelling round out, the learned state agreed on 77.5 % of turns (the rule: 70.3 %): service
76.9 % (74.5), retention 77.7 % (72.6), sales 76.3 % (57.9), collections 79.4 % (77.2);
``benchmarks/bench_call_state.py`` prints it per round and per call type. With the annotators' own
per-turn sentiment in place of the turn classifier's, the same model reaches 86 %: the per-turn
sentiment (79 % right on customer turns) is what holds it back. It is trained on the machine,
once, from ``analysis/call_state_calls.json`` (``scripts/build_call_state_data.py`` copies the labelled
rounds there) and cached beside the turn classifier (``analysis.call_state_training``); a call without
speaker roles (mono, not diarized) keeps the rule, which follows every speaker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from analysis.decisions import DecisionCues
from analysis.emotion import EMOTION_LABELS
from analysis.model_cache import load_arrays, save_arrays

__all__ = [
    "FEATURES_VERSION",
    "NEUTRAL_BELIEF",
    "STATE_LABELS",
    "CallStateModel",
    "StateObservation",
    "observation_row",
    "observation_rows",
    "state_of",
    "transition_features",
]

STATE_LABELS: Final = ("negative", "neutral", "positive")
# Bump when what a row holds changes: the cached model is keyed on it (analysis.call_state_training).
FEATURES_VERSION: Final = 1
CUE_NAMES: Final = tuple(DecisionCues.__slots__)
EMBEDDING_DIMENSION: Final = 384  # all-MiniLM-L6-v2's; a turn without an embedding gets zeros
_SCALARS: Final = 6 + len(EMOTION_LABELS) + len(CUE_NAMES) + 2 + len(STATE_LABELS) + 3
ROW_SIZE: Final = _SCALARS + EMBEDDING_DIMENSION
# crossed with the previous state (row indices): the customer flag (1), the customer's P(positive) and
# P(negative) (2, 3), the agent's (4, 5), and the customer's P(neutral) and P(satisfied) emotions (6, 7)
_CROSSED: Final = (1, 2, 3, 4, 5, 6, 7)
FEATURE_SIZE: Final = ROW_SIZE + len(STATE_LABELS) * (1 + len(_CROSSED))

Vector = npt.NDArray[np.float64]
NEUTRAL_BELIEF: Final[Vector] = np.array([0.0, 1.0, 0.0])  # before the customer has said anything
NEUTRAL_BELIEF.setflags(write=False)


@dataclass(frozen=True, slots=True)
class StateObservation:
    """What the call state reads of one spoken turn (found once, when the turn is added)."""

    customer: bool  # the customer's turn (the agent's otherwise)
    positive: float  # the turn's P(positive) and P(negative)
    negative: float
    emotions: tuple[float, ...]  # the distribution over EMOTION_LABELS
    cues: DecisionCues
    accepted: bool  # an acceptance of an offer in reach
    declined: bool  # a decline of an offer in reach
    embedding: npt.NDArray[np.float32] | None = None  # the utterance's MiniLM embedding, if computed


def observation_row(turn: StateObservation, rule_label: str, agent_before: StateObservation | None) -> Vector:
    """The feature row of one turn: ``rule_label`` is the rule's state after it, ``agent_before`` the last
    agent turn before it (None: none yet)."""
    customer = 1.0 if turn.customer else 0.0
    agent = 1.0 - customer
    scalars = [
        1.0,
        customer,
        customer * turn.positive,
        customer * turn.negative,
        agent * turn.positive,
        agent * turn.negative,
        *(customer * value for value in turn.emotions),
        *(float(getattr(turn.cues, name)) for name in CUE_NAMES),
        float(turn.accepted),
        float(turn.declined),
        *(float(rule_label == label) for label in STATE_LABELS),
        customer * (agent_before.positive if agent_before else 0.0),
        customer * (agent_before.negative if agent_before else 0.0),
        customer * float(bool(agent_before and (agent_before.cues.offer or agent_before.cues.applied))),
    ]
    row = np.zeros(ROW_SIZE)
    row[:_SCALARS] = scalars
    embedding = turn.embedding
    if turn.customer and embedding is not None and embedding.shape == (EMBEDDING_DIMENSION,):
        row[_SCALARS:] = embedding
    return row


def observation_rows(turns: Sequence[StateObservation], rule_labels: Sequence[str]) -> list[Vector]:
    """One feature row per turn, in call order; ``rule_labels``: the rule's state after each turn."""
    if len(turns) != len(rule_labels):
        raise ValueError("one rule label per turn")
    rows = []
    agent_before: StateObservation | None = None
    for turn, rule_label in zip(turns, rule_labels, strict=True):
        rows.append(observation_row(turn, rule_label, agent_before))
        if not turn.customer:
            agent_before = turn
    return rows


def transition_features(row: Vector, previous: int) -> Vector:
    """The features of one transition: the turn's row, the previous state and their crossings."""
    prior = np.zeros(len(STATE_LABELS) * (1 + len(_CROSSED)))
    prior[previous] = 1.0
    start = len(STATE_LABELS) + previous * len(_CROSSED)
    prior[start : start + len(_CROSSED)] = row[list(_CROSSED)]
    return np.concatenate([row, prior])


def _softmax(logits: Vector) -> Vector:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    result: Vector = shifted / shifted.sum(axis=-1, keepdims=True)
    return result


@dataclass(frozen=True)
class CallStateModel:
    """The fitted transition model: ``weights`` (states x FEATURE_SIZE) and ``bias`` (states)."""

    weights: Vector
    bias: Vector

    def __post_init__(self) -> None:
        if self.weights.shape != (len(STATE_LABELS), FEATURE_SIZE) or self.bias.shape != (len(STATE_LABELS),):
            raise ValueError(f"a call-state model has {len(STATE_LABELS)} x {FEATURE_SIZE} weights")

    def transition(self, row: Vector) -> Vector:
        """P(state | previous state, turn): one row per previous state."""
        features = np.stack([transition_features(row, previous) for previous in range(len(STATE_LABELS))])
        return _softmax(features @ self.weights.T + self.bias)

    def step(self, belief: Vector, row: Vector) -> Vector:
        """The belief after one more turn: ``belief @ P(state | previous, turn)``."""
        result: Vector = belief @ self.transition(row)
        return result

    def beliefs(self, rows: Sequence[Vector]) -> list[Vector]:
        """The belief over ``STATE_LABELS`` after each turn, from ``NEUTRAL_BELIEF`` before the first."""
        belief = NEUTRAL_BELIEF
        out = []
        for row in rows:
            belief = self.step(belief, row)
            out.append(belief)
        return out

    def save(self, path: Path) -> bool:
        """Cache the weights at ``path`` (.npz, written atomically); False when that failed (logged)."""
        return save_arrays(path, {"weights": self.weights, "bias": self.bias})

    @classmethod
    def load(cls, path: Path) -> CallStateModel | None:
        """The model saved at ``path``, or None when it is missing or not a model of this shape."""
        arrays = load_arrays(path, ("weights", "bias"))
        if arrays is None:
            return None
        try:
            return cls(arrays["weights"].astype(np.float64), arrays["bias"].astype(np.float64))
        except ValueError:
            return None

    @classmethod
    def fit(
        cls, sequences: Sequence[tuple[Sequence[Vector], Sequence[str]]], regularization: float = 1.0
    ) -> CallStateModel:
        """Fit on labelled calls: each a list of rows and the annotator's state after each turn. The
        previous state of a transition is the annotator's (teacher forcing); decoding filters beliefs."""
        from sklearn.linear_model import LogisticRegression

        features, targets = [], []
        for rows, labels in sequences:
            previous = STATE_LABELS.index("neutral")
            for row, label in zip(rows, labels, strict=True):
                features.append(transition_features(row, previous))
                previous = STATE_LABELS.index(label)
                targets.append(previous)
        if set(targets) != set(range(len(STATE_LABELS))):
            raise ValueError("training needs turns of every state")
        fitted = LogisticRegression(C=regularization, max_iter=5000).fit(np.stack(features), np.array(targets))
        return cls(np.asarray(fitted.coef_, dtype=np.float64), np.asarray(fitted.intercept_, dtype=np.float64))


def state_of(belief: Vector) -> tuple[str, float]:
    """The belief's label and its score, P(positive) - P(negative), in -1..1."""
    return STATE_LABELS[int(np.argmax(belief))], float(belief[2] - belief[0])
