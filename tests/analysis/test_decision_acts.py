"""`analysis.decision_acts`: the decision acts by meaning, from the packaged examples and the real encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis.backends import AnalysisModels
from analysis.decision_acts import ACTS, AGENT_ACTS, DecisionActs, examples
from analysis.summary import utterance_features


def test_the_packaged_examples_cover_every_act_on_its_side() -> None:
    loaded = examples()
    assert len(loaded) >= 900
    for act in ACTS:
        with_act = [e for e in loaded if act in e.acts]
        assert len(with_act) >= 60, act  # 30 from each writer
        assert {e.speaker for e in with_act} == {"agent" if act in AGENT_ACTS else "customer"}
    assert sum(not e.acts for e in loaded) >= 240  # utterances with no act, half of them near misses


def test_an_act_on_the_wrong_side_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "examples.json"
    path.write_text(json.dumps([{"speaker": "customer", "text": "I can offer you ten off.", "acts": ["offer"]}]))
    with pytest.raises(ValueError, match="offer"):
        examples(path)


def test_probabilities_need_an_embedding_of_the_right_size() -> None:
    acts = DecisionActs(np.zeros((len(ACTS), 4)), np.zeros(len(ACTS)))
    assert acts.probabilities(None, "agent") == {}
    assert acts.probabilities(np.zeros(3, dtype=np.float32), "agent") == {}
    found = acts.probabilities(np.zeros(4, dtype=np.float32), "agent")
    assert set(found) == set(AGENT_ACTS) and all(value == 0.5 for value in found.values())
    assert set(acts.probabilities(np.zeros(4, dtype=np.float32), "unknown")) == set(ACTS)  # mono: both sides
    assert acts.found({"offer": 0.9, "accept": 0.2}) == frozenset({"offer"})


# Sentences written for this test, in none of the examples or the labelled calls.
@pytest.mark.parametrize(
    ("speaker", "text", "act"),
    [
        ("agent", "Tell you what, I can take a fiver off every month if you stay with us.", "offer"),
        ("agent", "Right, I've taken the payment and your balance is now clear.", "paid_done"),
        ("customer", "I'd like to close the account, please, I've found it cheaper elsewhere.", "leave"),
        pytest.param(
            "customer",
            "Right, that's it, I'm taking my number to another network.",
            "leave",
            marks=pytest.mark.xfail(strict=True, reason="a known miss: P(leave) 0.33 after 'right, that's it'"),
        ),
        ("customer", "Let me have a chat with my husband tonight and I'll ring you back.", "undecided"),
        ("customer", "Yes, lovely, let's go with that one then.", "accept"),
    ],
)
def test_the_acts_of_new_sentences(models: AnalysisModels, speaker: str, text: str, act: str) -> None:
    findings = models.analyse(text, 0.0, speaker, utterance_features(text).sentences)
    assert act in findings.acts


@pytest.mark.parametrize(
    ("speaker", "text"),
    [
        ("agent", "Can I take the first line of your postcode, please?"),
        ("customer", "No, that's everything, thanks."),
        ("customer", "My bill has gone up by twenty pounds and nobody told me."),
    ],
)
def test_no_act_in_procedure_or_a_plain_complaint(models: AnalysisModels, speaker: str, text: str) -> None:
    assert models.analyse(text, 0.0, speaker, utterance_features(text).sentences).acts == frozenset()
