"""`analysis.call_state_model` and its training: the learned running call sentiment.

The unit tests fit the model on rows made here (the logic above the features); the others load the real
model, trained once on the packaged labelled calls with the real turn classifier and encoder."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from analysis import CallAnalysis, CallAnalyzer
from analysis.backends import AnalysisModels, required_models
from analysis.call_state_model import (
    FEATURE_SIZE,
    NEUTRAL_BELIEF,
    ROW_SIZE,
    STATE_LABELS,
    CallStateModel,
    StateObservation,
    observation_rows,
    state_of,
    transition_features,
)
from analysis.call_state_training import TRAINING_FILE, labelled_calls, spoken_order
from analysis.config import AnalysisConfig
from analysis.decisions import DecisionCues
from analysis.emotion import EMOTION_LABELS
from tests.analysis.scripted_calls import utterance
from tests.analysis.test_call_outcomes import RETENTION_CALL

ROOT = Path(__file__).resolve().parents[2]


def _turn(customer: bool, positive: float, negative: float, **cues: bool) -> StateObservation:
    emotions = tuple(1.0 if label == "neutral" else 0.0 for label in EMOTION_LABELS)
    return StateObservation(customer, positive, negative, emotions, DecisionCues(**cues), False, False)


def test_rows_and_transition_features_have_their_sizes() -> None:
    turns = [_turn(False, 0.1, 0.0, offer=True), _turn(True, 0.0, 0.9)]
    rows = observation_rows(turns, ["neutral", "negative"])
    assert [row.shape for row in rows] == [(ROW_SIZE,), (ROW_SIZE,)]
    assert rows[1][1] == 1.0 and rows[0][1] == 0.0  # the customer flag
    assert transition_features(rows[1], 0).shape == (FEATURE_SIZE,)
    with pytest.raises(ValueError, match="one rule label per turn"):
        observation_rows(turns, ["neutral"])


def _toy_calls() -> list[tuple[list[np.ndarray], list[str]]]:
    """A negative customer turn makes the call negative, a positive one positive, and either state holds
    through the customer's neutral turns (what the annotators do, and a decay does not)."""
    calls = []
    for first, state in ((_turn(True, 0.0, 0.9), "negative"), (_turn(True, 0.9, 0.0), "positive")):
        turns = [_turn(False, 0.2, 0.0), _turn(True, 0.05, 0.05), first, *[_turn(True, 0.05, 0.05)] * 6]
        labels = ["neutral", "neutral", state, *[state] * 6]
        calls.append((observation_rows(turns, ["neutral"] * len(turns)), labels))
    calm, negative, positive = _turn(True, 0.05, 0.05), _turn(True, 0.0, 0.9), _turn(True, 0.9, 0.0)
    turns = [calm, negative, calm, calm, calm, positive, calm, calm]  # a complaint, then relief
    labels = ["neutral", "negative", "negative", "negative", "negative", "positive", "positive", "positive"]
    calls.append((observation_rows(turns, ["neutral"] * len(turns)), labels))
    return calls * 5


def test_a_fitted_model_follows_and_holds_the_state() -> None:
    model = CallStateModel.fit(_toy_calls())
    turns = [_turn(True, 0.05, 0.05), _turn(True, 0.0, 0.95), *[_turn(True, 0.05, 0.05)] * 8, _turn(True, 0.95, 0.0)]
    beliefs = model.beliefs(observation_rows(turns, ["neutral"] * len(turns)))
    labels = [state_of(belief)[0] for belief in beliefs]
    assert labels[0] == "neutral"
    assert labels[1:10] == ["negative"] * 9  # held through eight neutral turns
    assert labels[10] == "positive"
    assert all(abs(belief.sum() - 1.0) < 1e-9 for belief in beliefs)
    assert state_of(NEUTRAL_BELIEF) == ("neutral", 0.0)


def test_fitting_needs_every_state() -> None:
    turns = [_turn(True, 0.0, 0.9)]
    with pytest.raises(ValueError, match="every state"):
        CallStateModel.fit([(observation_rows(turns, ["neutral"]), ["negative"])])


def test_save_and_load(tmp_path: Path) -> None:
    model = CallStateModel.fit(_toy_calls())
    path = tmp_path / "cache" / "call-state.npz"
    assert model.save(path)
    loaded = CallStateModel.load(path)
    assert loaded is not None and np.array_equal(loaded.weights, model.weights)
    assert CallStateModel.load(tmp_path / "missing.npz") is None
    (tmp_path / "broken.npz").write_bytes(b"not a zip file")
    assert CallStateModel.load(tmp_path / "broken.npz") is None
    np.savez(tmp_path / "small.npz", weights=np.zeros((3, 4)), bias=np.zeros(3))
    assert CallStateModel.load(tmp_path / "small.npz") is None  # another feature layout: trained again


def test_an_unwritable_cache_is_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert not CallStateModel.fit(_toy_calls()).save(blocker / "call-state.npz")


def test_the_learned_model_needs_the_finetuned_backends() -> None:
    assert "call_state" in required_models(AnalysisConfig())
    assert "call_state" not in required_models(AnalysisConfig(call_state="rules"))
    assert "call_state" not in required_models(AnalysisConfig(sentiment_backend="embedding"))
    assert "call_state" not in required_models(AnalysisConfig.lexicon_only())
    with pytest.raises(ValueError, match="call_state"):
        AnalysisConfig(call_state="decay")  # type: ignore[arg-type]


def test_the_training_file_is_the_labelled_rounds_and_up_to_date() -> None:
    """The packaged file is what scripts/build_call_state_data.py writes, and holds no held-out round."""
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_call_state_data.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    calls = labelled_calls(TRAINING_FILE)
    assert len(calls) >= 78
    assert {call.round for call in calls} == {"dev-4", "4", "5", "6", "7", "8"}
    assert all(turn.call_state in STATE_LABELS for call in calls for turn in call.turns)
    assert all(spoken_order(call) for call in calls)


def _fed(analyzer: CallAnalyzer, turns: list[tuple[float, str, str]]) -> list[CallAnalysis | None]:
    """The call's analysis after each of ``turns`` is added."""
    seen = []
    for start, speaker, text in turns:
        analyzer.add(utterance(start, speaker, text))
        seen.append(analyzer.analysis())
    return seen


def test_the_learned_state_on_a_retention_call(models: AnalysisModels) -> None:
    assert models.call_state is not None
    states = [a.sentiment if a is not None else None for a in _fed(CallAnalyzer(models=models), RETENTION_CALL)]
    assert states[1] == "negative"  # "I want to cancel ... I'm furious"
    assert states[5:] == ["positive"] * 5  # "Go on then, put me on that one." and it holds to the farewell
    assert "call state learned" in models.describe()


def test_an_utterance_out_of_order_is_filtered_in_its_place(models: AnalysisModels) -> None:
    """Finals of the two channels can arrive out of order: the state is the one of the call in time order."""
    calls = list(RETENTION_CALL)
    calls[2], calls[3] = calls[3], calls[2]  # neither has a cue whose reading depends on what came before
    in_order = CallAnalyzer(models=models)
    for start, speaker, text in RETENTION_CALL:
        in_order.add(utterance(start, speaker, text))
    first = in_order.analysis()  # filtered once, in time order
    second = _fed(CallAnalyzer(models=models), calls)[-1]  # after every turn: revised when an earlier one arrives
    assert first is not None and second is not None
    assert (first.sentiment, first.sentiment_score) == (second.sentiment, second.sentiment_score)


def test_a_mono_call_without_roles_keeps_the_rule(models: AnalysisModels) -> None:
    rules = replace(models, call_state=None)
    learned, ruled = CallAnalyzer(models=models), CallAnalyzer(models=rules)
    for start, _, text in RETENTION_CALL:
        learned.add(utterance(start, "unknown", text))
        ruled.add(utterance(start, "unknown", text))
    first, second = learned.analysis(), ruled.analysis()
    assert first is not None and second is not None
    assert (first.sentiment, first.sentiment_score) == (second.sentiment, second.sentiment_score)


def test_the_analyzers_incremental_filter_is_the_models_filter(models: AnalysisModels) -> None:
    """The analyzer steps the belief one new turn at a time; it must equal filtering the whole call."""
    assert models.call_state is not None
    analyzer = CallAnalyzer(models=models)
    scores = [a.sentiment_score if a is not None else None for a in _fed(analyzer, RETENTION_CALL)]
    observations, rule_labels = analyzer.state_inputs()
    beliefs = models.call_state.beliefs(observation_rows(observations, rule_labels))
    assert scores == [round(state_of(belief)[1], 4) for belief in beliefs]  # the greeting has five words
