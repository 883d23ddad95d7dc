"""The agent score rubric (analysis.agent_score)."""

from __future__ import annotations

import math

from analysis import agent_score as agent_score_module
from analysis.agent_score import AgentSignals, ScoredUtterance, evaluate
from tests.analysis.scripted_calls import BREAKDOWN_KEYS, RUDE_CALL, SUPPORT_CALL, run_call


def test_agent_score_polite_resolving_agent_beats_rude_unhelpful_one() -> None:
    _, polite = run_call(SUPPORT_CALL)
    _, rude = run_call(RUDE_CALL)
    for result in (polite, rude):
        assert 1 <= result.agent_score <= 5
        assert set(result.agent_score_breakdown) == BREAKDOWN_KEYS
        total = agent_score_module.BASE_SCORE + sum(result.agent_score_breakdown.values())
        assert result.agent_score == max(1, min(5, math.floor(total + 0.5)))
    assert polite.agent_score > rude.agent_score
    assert polite.agent_score >= 4
    assert rude.agent_score <= 2
    assert rude.agent_score_breakdown["politeness"] < 0
    assert rude.agent_score_breakdown["resolution"] == -0.5  # no fix, no next step, not even a closing
    assert rude.agent_score_breakdown["customer_trajectory"] < 0
    assert rude.agent_score_breakdown["unresolved_repeats"] < 0  # repeated problem, never resolved
    assert "Agent: no resolution stated" in rude.summary
    assert rude.sentiment == "negative"
    assert rude.emotion == "angry"
    assert rude.marketing_mentions == 'competitor (1): "Verizon" @23.0s'


def test_agent_score_ignores_rude_words_from_the_customer() -> None:
    turns = [
        (0.0, "agent", "Thank you for calling, my name is Ann, how can I help?"),
        (3.0, "customer", "Whatever, just fix it, it's not my problem that your network is down."),
        (8.0, "agent", "I'm sorry about that. I have restored your service, please try now."),
        (12.0, "customer", "Yes, it works now, thanks."),
    ]
    _, result = run_call(turns)
    assert result.agent_score_breakdown["politeness"] == 0.25
    # The same words on a mono call cannot be attributed, so they count against the call.
    _, mono = run_call(turns, mono=True)
    assert mono.agent_score_breakdown["politeness"] == -0.75


def test_agent_score_on_mono_call_uses_all_text() -> None:
    _, mono = run_call(SUPPORT_CALL, mono=True)
    assert set(mono.agent_score_breakdown) == BREAKDOWN_KEYS
    assert mono.agent_score_breakdown["greeting"] > 0
    assert mono.agent_score_breakdown["resolution"] == 0.75
    assert mono.agent_score_breakdown["customer_trajectory"] > 0
    assert 1 <= mono.agent_score <= 5


def test_agent_score_is_clamped() -> None:
    signals = agent_score_module.AgentSignals(greeting=1, empathy=3, resolution=2, polite=4)
    best = [agent_score_module.ScoredUtterance("agent", 0.5, 10, signals)] + [
        agent_score_module.ScoredUtterance("customer", c, 10, agent_score_module.AgentSignals())
        for c in (-0.8, -0.5, 0.2, 0.9)
    ]
    scored = agent_score_module.evaluate(best, has_repeated_problems=False)
    assert scored.score == 5 and agent_score_module.BASE_SCORE + sum(scored.breakdown.values()) > 5
    rude = agent_score_module.AgentSignals(rude=2)
    worst = [agent_score_module.ScoredUtterance("agent", -0.5, 10, rude)] + [
        agent_score_module.ScoredUtterance("customer", c, 10, agent_score_module.AgentSignals())
        for c in (0.5, -0.2, -0.9)
    ]
    scored = agent_score_module.evaluate(worst, has_repeated_problems=True)
    assert scored.score == 1 and agent_score_module.BASE_SCORE + sum(scored.breakdown.values()) < 1


def _scored(
    speaker: str,
    sentiment: str,
    *,
    greeting: int = 0,
    empathy: int = 0,
    resolution: int = 0,
    polite: int = 0,
    rude: int = 0,
) -> agent_score_module.ScoredUtterance:
    score = {"positive": 0.8, "neutral": 0.0, "negative": -0.8}[sentiment]
    signals = agent_score_module.AgentSignals(
        greeting=greeting, empathy=empathy, resolution=resolution, polite=polite, rude=rude
    )
    return agent_score_module.ScoredUtterance(speaker, score, 12, signals, sentiment=sentiment)


def test_agent_score_limits_follow_the_human_scale() -> None:
    evaluate = agent_score_module.evaluate
    upset, pleased = _scored("customer", "negative"), _scored("customer", "positive")
    greeted, fixed = _scored("agent", "positive", greeting=1, polite=1), _scored("agent", "positive", resolution=1)
    caring = _scored("agent", "neutral", empathy=2)
    full = evaluate([greeted, upset, caring, fixed, pleased, pleased], has_repeated_problems=False)
    assert full.score == 5 and full.limit == ""
    # the same call without a greeting still has the points of a 5; a 5 needs every part
    ungreeted = _scored("agent", "positive", polite=1)
    capped = evaluate([ungreeted, upset, caring, fixed, pleased, pleased], has_repeated_problems=False)
    assert 3 + sum(capped.breakdown.values()) >= 4.5
    assert capped.score == 4 and capped.limit.endswith("capped at 4: no greeting")
    # unhelpful and negative but never rude: 2, not 1 (1 is for rude or hostile agents)
    refusing = _scored("agent", "negative")
    unhelpful = evaluate([refusing, upset, refusing, upset, refusing, upset], has_repeated_problems=True)
    assert 3 + sum(unhelpful.breakdown.values()) < 1.5
    assert unhelpful.score == 2 and "raised to 2" in unhelpful.limit
    rude = _scored("agent", "negative", rude=1)
    hostile = evaluate([rude, upset, refusing, upset, rude, upset], has_repeated_problems=True)
    assert hostile.score == 1 and hostile.limit == ""


def _turn(speaker: str, start: float, end: float, words: int = 10, hold: bool = False) -> ScoredUtterance:
    return ScoredUtterance(speaker, 0.0, words, AgentSignals(), start, end, hold)


def test_talk_ratio_and_long_silences() -> None:
    balanced = [_turn("agent", 0, 4), _turn("customer", 5, 9, 15), _turn("agent", 10, 14), _turn("customer", 15, 19)]
    result = evaluate(balanced, has_repeated_problems=False)
    assert result.breakdown["talk_ratio"] == 0.0 and result.breakdown["long_silences"] == 0.0
    dominated = [_turn("agent", 0, 20, 90), _turn("customer", 21, 25, 25)]
    result = evaluate(dominated, has_repeated_problems=False)
    assert result.breakdown["talk_ratio"] == -0.5 and "78%" in result.evidence["talk_ratio"]
    silent = [_turn("agent", 0, 4), _turn("customer", 5, 9), _turn("agent", 40, 44), _turn("customer", 45, 49)]
    result = evaluate(silent, has_repeated_problems=False)
    assert result.breakdown["long_silences"] == -0.5 and "31 s" in result.evidence["long_silences"]
    held = [_turn("agent", 0, 4, hold=True), _turn("customer", 5, 9), _turn("agent", 40, 44), _turn("customer", 45, 49)]
    result = evaluate(held, has_repeated_problems=False)
    assert result.breakdown["long_silences"] == 0.0 and "announced hold" in result.evidence["long_silences"]
