"""The extractive call summary (analysis.summary)."""

from __future__ import annotations

from analysis import CallAnalyzer
from analysis.text import truncate
from tests.analysis.scripted_calls import SUPPORT_CALL, run_call, utterance


def test_support_call_summary_has_issue_action_and_outcome() -> None:
    _, result = run_call(SUPPORT_CALL)
    parts = result.summary.split(" | ")
    assert [p.split(":")[0] for p in parts] == ["Customer", "Agent", "Outcome", "Follow-up"]
    assert "still not working" in parts[0]
    assert "I have reset your line" in parts[1]
    assert "Thank you so much" in parts[2]
    assert parts[3] == "Follow-up: You should receive a confirmation text shortly."
    assert result.summary_parts["follow_up"] == "You should receive a confirmation text shortly."
    assert all(len(p.split(": ", 1)[1]) <= 120 for p in parts)


def test_summary_picks_the_problem_utterance_not_the_greeting() -> None:
    _, result = run_call(
        [
            (0.0, "agent", "Good afternoon, thanks for calling, how can I help?"),
            (2.0, "customer", "Hi there, good afternoon, hope you are having a lovely day."),
            (5.0, "customer", "Sure, no problem."),
            (7.0, "customer", "Hello again. My bill shows I was charged twice for the same month."),
            (12.0, "agent", "I'm sorry about that. I have refunded the second charge to your card."),
            (17.0, "customer", "Okay."),
        ]
    )
    assert result.summary == (
        "Customer: My bill shows I was charged twice for the same month. | "
        "Agent: I have refunded the second charge to your card. | "
        "Outcome: Okay."
    )


def test_mono_summary_picks_two_frequent_sentences_in_order() -> None:
    analyzer = CallAnalyzer()
    texts = [
        "Hello, thanks for calling.",
        "My router keeps losing the connection, the router light blinks red.",
        "Okay.",
        "Let me check the weather.",
        "I will reset the router connection from here, the router should reconnect.",
        "Bye.",
    ]
    for i, text in enumerate(texts):
        analyzer.add(utterance(float(i), "unknown", text))
    result = analyzer.analysis()
    assert result is not None
    assert result.summary == f"{texts[1]} {texts[4]}"


def test_summary_without_agent_and_truncation() -> None:
    long_issue = "My internet is not working " + "and the router keeps blinking " * 20
    _, result = run_call([(0.0, "customer", long_issue), (5.0, "customer", "Thanks, it works now, great.")])
    assert result.summary.startswith("Customer: My internet is not working")
    assert "Agent:" not in result.summary
    assert result.summary.endswith("Outcome: Thanks, it works now, great.")
    issue = result.summary.split(" | ")[0].removeprefix("Customer: ")
    assert len(issue) <= 120 and issue.endswith("...")
    assert truncate("one two three four", 12) == "one two..."
    assert truncate("short", 120) == "short"


def test_summary_outcome_is_the_agents_last_word_on_the_problem() -> None:
    _, refused = run_call(
        [
            (0.0, "agent", "Thanks for calling Parkway Motors, how can I help?"),
            (3.0, "customer", "My car was damaged at your garage and I want the repair paid for."),
            (8.0, "agent", "I'm afraid we can't accept responsibility, the damage was already there when it came in."),
            (14.0, "customer", "That's not true, I have photos from that morning."),
            (18.0, "agent", "We can offer you ten percent off the repair as a goodwill discount."),
            (23.0, "customer", "No thanks."),
            (25.0, "agent", "Okay. Have a good day, goodbye."),
        ]
    )
    # the refusal is how it ended: not the discount (an offer), not the farewell, not "No thanks."
    assert refused.summary_parts["outcome"].startswith("I'm afraid we can't accept responsibility")
    assert refused.summary_parts["action"] == "no resolution stated"
