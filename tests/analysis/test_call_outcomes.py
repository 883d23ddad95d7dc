"""The analyzer on a retention call: the acceptance read as positive, the running sentiment following the
customer, `offer_accepted` in the categories, the outcome and the summary quoting the decision. Over the
rules-only backend (fast); the labelled calls are scored with the trained models by
benchmarks/bench_call_outcomes.py."""

from __future__ import annotations

from analysis import CallAnalyzer
from tests.analysis.scripted_calls import run_call, utterance

RETENTION_CALL = [
    (0.0, "agent", "Good afternoon, Northlink Broadband, how can I help?"),
    (3.0, "customer", "I want to cancel my broadband. The bill's jumped again, it's ridiculous and I'm furious."),
    (9.0, "agent", "I'm sorry to hear that. Can I take your postcode?"),
    (12.0, "customer", "C F fourteen, three R T."),
    (15.0, "agent", "What I can do is put you on a new contract at twenty seven pounds a month."),
    (21.0, "customer", "Go on then, put me on that one."),
    (24.0, "agent", "Lovely, that starts from your next bill."),
    (27.0, "customer", "Okay."),
    (29.0, "agent", "Is there anything else I can help with?"),
    (31.0, "customer", "No, that's it. Bye."),
]


def test_a_retention_save() -> None:
    analyzer = CallAnalyzer()
    results = [analyzer.add(utterance(start, speaker, text)) for start, speaker, text in RETENTION_CALL]
    final = analyzer.analysis()
    assert final is not None
    acceptance = results[5]
    assert (acceptance.sentiment, acceptance.emotion) == ("positive", "satisfied")
    assert [(hit.category, hit.label) for hit in acceptance.hits][-1] == ("marketing_mentions", "offer_accepted")
    assert final.outcome == "retention_saved"
    assert final.sentiment == "positive"  # the farewell after the decision does not undo it
    assert final.summary_parts["outcome"] == 'retention saved: "Go on then, put me on that one."'
    assert final.summary_parts["action"].startswith("What I can do is put you on a new contract")
    assert "offer_accepted (1)" in final.marketing_mentions
    assert final.to_summary()["outcome"] == "retention_saved"


def test_the_running_sentiment_follows_the_customer_turn_by_turn() -> None:
    analyzer = CallAnalyzer()
    states = []
    for start, speaker, text in RETENTION_CALL:
        analyzer.add(utterance(start, speaker, text))
        analysis = analyzer.analysis()
        states.append(analysis.sentiment if analysis is not None else None)
    assert states[0] is None or states[0] == "neutral"  # the agent's greeting is not the customer's mood
    assert states[1:5] == ["negative"] * 4  # the complaint holds through the calm turns after it
    assert states[5:] == ["positive"] * 5  # the acceptance moves it at once, and it stays


def test_a_service_call_keeps_its_outcome() -> None:
    _, final = run_call(
        [
            (0.0, "customer", "My internet keeps dropping out every evening."),
            (4.0, "agent", "I've reset your line and the connection is stable now."),
            (9.0, "customer", "That works, thanks."),
        ]
    )
    assert final.outcome == ""
    assert not final.summary_parts["outcome"].startswith(("sale", "retention"))
