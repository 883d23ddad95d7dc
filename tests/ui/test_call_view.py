"""The pages' model of a call (ui.call_view): what is an alert, a moment, and which call needs a human."""

from __future__ import annotations

from typing import Any

from audiohook_server.ui.call_view import CallModel, attention, row_utterance, talk_share


def row(speaker: str, text: str, *, start: float, sentiment: str = "neutral", emotion: str = "neutral",
        categories: str = "", score: object = "") -> dict[str, Any]:  # fmt: skip
    return {"start": start, "end": start + 2, "channel": "mono", "speaker": speaker, "text": text,
            "utterance_sentiment": sentiment, "utterance_sentiment_score": -0.8 if sentiment == "negative" else 0.1,
            "utterance_emotion": emotion, "utterance_categories": categories, "running_sentiment": sentiment,
            "running_agent_score": score}  # fmt: skip


def add(model: CallModel, n: int, values: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return model.add_final(row_utterance(f"0-{n}", values), values)


def test_an_angry_customer_and_a_process_issue_are_alerts_an_offer_is_a_moment() -> None:
    model = CallModel("s")
    alerts, _ = add(model, 1, row("customer", "This is ridiculous!", start=1, sentiment="negative", emotion="angry"))
    assert [a["label"] for a in alerts] == ["customer angry"]
    alerts, moments = add(model, 2, row("agent", "I'll put you on hold", start=4, categories="process_issues/hold"))
    assert [a["label"] for a in alerts] == ["hold"] and [m["category"] for m in moments] == ["process_issues"]
    alerts, moments = add(
        model, 3, row("agent", "We have an upgrade", start=7, categories="marketing_mentions/upgrade")
    )
    assert alerts == [] and moments[0]["label"] == "upgrade"
    assert [a["id"] for a in model.alerts] == ["a1", "a2"]
    # a negative agent line is no customer alert
    alerts, _ = add(model, 4, row("agent", "That's awful", start=9, sentiment="negative", emotion="angry"))
    assert alerts == []


def test_the_live_moments_are_marked_and_the_ones_that_need_a_human_are_alerts() -> None:
    model = CallModel("s")
    values = row("customer", "I want a manager, or I'm leaving.", start=3, sentiment="negative", emotion="angry")
    values["utterance_moments"] = "escalation_request; cancellation_threat; hold"
    alerts, moments = add(model, 1, values)
    assert [a["label"] for a in alerts] == ["customer angry", "escalation request", "cancellation threat"]
    assert [(m["category"], m["label"]) for m in moments] == [
        ("moments", "escalation request"), ("moments", "cancellation threat")
    ]  # fmt: skip
    values = row("customer", "Okay, go on then.", start=9)
    values["utterance_moments"] = "cta_commit"
    alerts, moments = add(model, 2, values)
    assert alerts == [] and [m["label"] for m in moments] == ["cta commit"]


def test_the_score_alerts_once_the_agent_has_spoken_and_the_call_has_begun() -> None:
    model = CallModel("s")
    for n in range(5):
        assert add(model, n, row("agent" if n % 2 else "customer", "words", start=n * 3, score=2))[0] == []
    alerts, _ = add(model, 5, row("agent", "words", start=15, score=2))
    assert [a["kind"] for a in alerts] == ["score"]
    assert add(model, 6, row("agent", "words", start=18, score=1))[0] == []  # once, until it recovers


def test_attention_orders_calls_that_need_a_human_first() -> None:
    calm = attention("positive", "satisfied", 4, [], 100)
    angry = attention("negative", "angry", 3, [{"at": 90.0}], 100)
    stale_alerts = attention("neutral", "neutral", 4, [{"at": 0.0}], 100)
    assert angry >= 1 > calm == stale_alerts == 0


def test_talk_share_and_an_empty_value() -> None:
    utterances = [row_utterance("a", row("agent", "x", start=0)), row_utterance("b", row("customer", "y", start=2))]
    utterances[1]["end"] = 8.0
    assert talk_share(utterances) == {"agent": 0.25, "customer": 0.75}
    assert talk_share([]) == {}
    assert row_utterance("r", {"utterance_sentiment_score": "", "text": "hi"})["valence"] is None
