"""The live analytics of one call through CallAnalyzer (rules-only backend: a logic test above the models)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

from analysis import CallAnalyzer, Utterance
from analysis.backends import lexicon_backend
from analysis.emotion_pad import EKMAN_LABELS
from analysis.live import EDGE_S, live_fields, talk_spans
from analysis.live_summary import goal_kind
from analysis.prosody import Prosody

SUMMARY_FIELDS = {
    "overview",
    "key_insights",
    "notable_patterns",
    "recommendations",
    "what_went_well",
    "what_went_wrong",
    "speaker_dynamics",
    "conversation_quality",
}
CALL = [
    ("agent", 0.0, 4.0, "Thanks for calling Volt Mobile, how can I help?"),
    ("customer", 4.6, 9.0, "I want my PAC code. My bill has gone up again and it's ridiculous."),
    (
        "agent",
        8.5,
        14.0,
        "I'm sorry about that. I can offer you unlimited data for twenty pounds a month. Shall I put that through?",
    ),
    ("customer", 14.5, 16.0, "Yes please, put me on that one."),
    ("agent", 28.0, 32.0, "That's booked. Your next bill will be twenty pounds."),
    ("customer", 32.5, 35.0, "Brilliant, thank you so much, that's great."),
]


def _run(goal: str = "") -> tuple[CallAnalyzer, list[object]]:
    analyzer = CallAnalyzer(goal=goal)
    results: list[object] = []
    for index, (speaker, start, end, text) in enumerate(CALL):
        channel = 0 if speaker == "customer" else 1
        results.append(analyzer.add(Utterance(text, start, end, channel, speaker, utterance_id=f"u{index}")))
    return analyzer, results


def test_each_utterance_gets_a_seven_way_emotion_and_pad() -> None:
    _, results = _run()
    for result in results:
        emotion7 = result.emotion7  # type: ignore[attr-defined]
        assert list(emotion7) == list(EKMAN_LABELS)
        assert math.isclose(sum(emotion7.values()), 1.0, abs_tol=1e-3)
        assert set(result.pad) == {"valence", "arousal", "dominance"}  # type: ignore[attr-defined]
        assert 0.0 < result.emotion_confidence <= 1.0  # type: ignore[attr-defined]
    assert results[5].pad["valence"] > 0 > results[1].pad["valence"]  # type: ignore[attr-defined]


def test_the_call_view_has_moments_transitions_dynamics_and_the_rolling_summary() -> None:
    analyzer, results = _run(goal="Retain the customer without a discount over 20 %.")
    categories = [m.category for r in results for m in r.moments]  # type: ignore[attr-defined]
    assert {"cancellation_threat", "cta_commit", "resolution"} <= set(categories)
    analysis = analyzer.analysis()
    assert analysis is not None
    live = analysis.live
    dynamics = live["dynamics"]
    assert isinstance(dynamics, dict) and dynamics["basis"] == "channels"
    assert dynamics["overtalk_s"] > 0  # the agent started at 8.5 s, before the customer's 9.0 s end
    assert dynamics["longest_silence_s"] == round(28.0 - 16.0 + 2 * EDGE_S, 3)  # the spans lose their edges
    assert live["customer_state"] == "pleased"
    alerts = live["alerts"]
    assert isinstance(alerts, list) and any(alert["category"] == "cancellation_threat" for alert in alerts)
    rolling = live["rolling_summary"]
    assert isinstance(rolling, dict) and set(rolling) >= SUMMARY_FIELDS
    assert any("Goal: Retain the customer" in line for line in rolling["recommendations"])
    cognitive = live["cognitive"]
    assert isinstance(cognitive, dict) and set(cognitive) == {"agent", "customer"}
    summary = analysis.to_summary()
    assert {"dynamics", "cognitive", "transitions", "moments", "alerts", "rolling_summary"} <= set(summary)
    assert "summary_key" not in summary
    json.dumps(summary)  # the summary file is JSON


def test_the_summary_key_changes_only_when_something_material_does() -> None:
    analyzer = CallAnalyzer()
    analyzer.add(Utterance("Hello, thanks for calling, how can I help you today?", 0.0, 3.0, 1, "agent"))
    analyzer.add(Utterance("Hi, I'm calling about my account balance please.", 3.5, 6.0, 0, "customer"))
    first = analyzer.analysis()
    analyzer.add(Utterance("Of course, one moment while I look.", 6.5, 8.0, 1, "agent"))
    second = analyzer.analysis()
    assert first is not None and second is not None
    assert first.live["summary_key"] == second.live["summary_key"]
    analyzer.add(Utterance("This is ridiculous, I want to speak to your manager.", 9.0, 12.0, 0, "customer"))
    third = analyzer.analysis()
    assert third is not None and third.live["summary_key"] != second.live["summary_key"]


def test_the_opt_in_fields_for_the_websocket_doors() -> None:
    analyzer, results = _run()
    analysis = analyzer.analysis()
    assert analysis is not None
    fields = live_fields(results[-1], analysis)  # type: ignore[arg-type]
    assert set(fields) == {
        "customer_state",
        "dynamics",
        "alerts",
        "emotion",
        "scores",
        "confidence",
        "moments",
        "transitions",
    }
    assert set(live_fields(None, analysis)) == {"customer_state", "dynamics", "alerts"}
    json.dumps(fields)


def test_a_final_is_split_for_the_dynamics_where_its_words_pause() -> None:
    words = ((10.0, 10.3), (11.5, 11.8), (11.9, 12.4), (12.5, 13.0))  # "right ... [1.2 s] ... so as I said"
    spans = talk_spans("customer", 10.0, 13.0, 4, words, "right so as I said")
    assert [(round(s.start, 2), round(s.end, 2), s.words) for s in spans] == [(10.04, 10.26, 1), (11.54, 12.96, 3)]
    assert len(talk_spans("customer", 10.0, 13.0, 4, ())) == 1
    assert talk_spans("customer", 5.0, 5.05, 1, ())[0].end == 5.05  # too short to trim
    # the VAD's voiced runs say where the pause is when Whisper stretched "right" into it
    stretched = ((10.0, 11.4), (11.5, 11.8), (11.9, 12.4), (12.5, 13.0))
    voiced = ((10.0, 10.3), (11.5, 12.4), (12.45, 13.0))
    pieces = talk_spans("customer", 10.0, 13.0, 4, stretched, "right so as I said", voiced=voiced)
    assert [(round(s.start, 2), round(s.end, 2), s.words) for s in pieces] == [(10.04, 10.26, 1), (11.54, 12.96, 3)]


def test_goal_kinds() -> None:
    assert goal_kind("Stop the customer leaving, offering no more than a credit") == "retention"
    assert goal_kind("Upgrade the customer to full fibre") == "sales"
    assert goal_kind("Agree a payment plan for the arrears") == "collections"
    assert goal_kind("Fix the fault on the call") == "service"
    assert goal_kind("") == ""


def test_mono_calls_report_speakers_basis() -> None:
    analyzer = CallAnalyzer()
    analyzer.add(Utterance("Hello, how can I help you with your account today?", 0.0, 3.0, 0, "unknown"))
    analyzer.add(Utterance("My internet keeps dropping out every evening.", 3.5, 6.0, 0, "unknown"))
    analysis = analyzer.analysis()
    assert analysis is not None
    dynamics = analysis.live["dynamics"]
    assert isinstance(dynamics, dict) and dynamics["basis"] == "speakers" and dynamics["overtalk_measured"] is False


def test_voice_terms_only_with_voice_emotion_on() -> None:
    models = lexicon_backend()
    voiced = replace(models, config=replace(models.config, voice_emotion=True))
    calm, loud = Prosody(-30.0, 2.0, 3.0, 1.5, 2.0), Prosody(-12.0, 9.0, 8.0, 1.5, 2.0)
    arousal = {}
    for name, backend in (("off", models), ("on", voiced)):
        analyzer = CallAnalyzer(models=backend)
        assert analyzer.wants_prosody is (name == "on")
        for index in range(3):
            analyzer.add(
                Utterance("I am calling about my bill.", 3.0 * index, 3.0 * index + 2, 0, "customer", prosody=calm)
            )
        result = analyzer.add(Utterance("I am calling about my bill.", 9.0, 11.0, 0, "customer", prosody=loud))
        arousal[name] = result.pad["arousal"]
    assert arousal["on"] > arousal["off"]
