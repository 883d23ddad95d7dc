"""Tests for the analysis package: sentiment, emotion, categories, agent score, summary, CallAnalyzer."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

import analysis
from analysis import EMOTION_LABELS, CallAnalysis, CallAnalyzer, CategoryHit, Utterance, UtteranceAnalysis
from analysis import agent_score as agent_score_module
from analysis import emotion as emotion_module
from analysis import sentiment as sentiment_module
from analysis.categories import CategoryMatcher, default_categories, describe
from analysis.text import compile_phrases, truncate
from analysis.types import EVENT_KEYS

BREAKDOWN_KEYS = set(agent_score_module.COMPONENTS)

# A realistic stereo call: (start, speaker, text). The customer's internet failed twice, they are put
# on hold and transferred, the agent apologises, resets the line, offers an upgrade; customer thanks.
SUPPORT_CALL: list[tuple[float, str, str]] = [
    (0.0, "agent", "Thank you for calling Northwind Broadband, my name is Priya. How can I help you today?"),
    (
        5.0,
        "customer",
        "Hi. My internet connection has dropped out twice this week and it's still not working. "
        "I called yesterday and nothing changed.",
    ),
    (
        12.5,
        "agent",
        "I'm so sorry to hear that, I understand how frustrating that must be. "
        "Can I put you on hold for a moment while I check your line?",
    ),
    (20.0, "customer", "Okay, sure."),
    (
        41.0,
        "agent",
        "Thank you for holding. I'm going to transfer you to our technical team, they can reset the line.",
    ),
    (
        52.0,
        "agent",
        "Hi, this is Marco from technical support. I have reset your line and the connection is back up. "
        "You should receive a confirmation text shortly.",
    ),
    (60.0, "customer", "Oh, it's working now, the lights are green."),
    (
        64.0,
        "agent",
        "By the way, this month you can upgrade to our fibre plan at no extra cost. "
        "Is there anything else I can help you with?",
    ),
    (72.0, "customer", "No, that's everything. Thank you so much, that's perfect."),
]

RUDE_CALL: list[tuple[float, str, str]] = [
    (0.0, "agent", "Yeah. What do you want?"),
    (
        3.0,
        "customer",
        "My internet is still not working. This is the third time I've called about the same problem.",
    ),
    (9.0, "agent", "Calm down. That's not my problem, you should have restarted the router."),
    (14.0, "customer", "I did restart it! This is ridiculous and completely unacceptable."),
    (19.0, "agent", "Whatever. There's nothing I can do."),
    (23.0, "customer", "I'm sick of this. Worst service ever, I'm switching to Verizon."),
]


def utterance(start: float, speaker: str, text: str) -> Utterance:
    channel = {"customer": 0, "agent": 1}.get(speaker, 0)
    return Utterance(text=text, start=start, end=start + 4.0, channel=channel, speaker=speaker)


def run_call(turns: list[tuple[float, str, str]], mono: bool = False) -> tuple[CallAnalyzer, CallAnalysis]:
    analyzer = CallAnalyzer()
    for start, speaker, text in turns:
        analyzer.add(utterance(start, "unknown" if mono else speaker, text))
    result = analyzer.analysis()
    assert result is not None
    return analyzer, result


def hits_at(result: CallAnalysis, start: float) -> set[tuple[str, str]]:
    return {(h.category, h.label) for h in result.hits if h.start == start}


# --- public interface ------------------------------------------------------------------------------


def test_public_names_and_emotion_labels() -> None:
    for name in ("CallAnalyzer", "Utterance", "UtteranceAnalysis", "CategoryHit", "CallAnalysis", "EMOTION_LABELS"):
        assert name in analysis.__all__
        assert hasattr(analysis, name)
    assert EMOTION_LABELS == ("neutral", "satisfied", "happy", "frustrated", "angry", "anxious", "confused", "sad")
    u = Utterance("hello", 0.0, 1.0, 0, "agent")
    assert u.confidence == 1.0
    with pytest.raises(AttributeError):
        u.text = "changed"  # type: ignore[misc]


def test_default_category_labels_are_the_documented_ones() -> None:
    table = default_categories()
    assert set(table) == {"process_issues", "repeated_problems", "marketing_mentions"}
    assert set(table["process_issues"]) == {
        "hold",
        "transfer",
        "dropped_call",
        "escalation",
        "system_down",
        "callback_promised",
        "long_wait",
    }
    assert set(table["repeated_problems"]) == {"called_again", "still_not_fixed", "multiple_times", "same_issue"}
    assert set(table["marketing_mentions"]) == {
        "offer",
        "upgrade",
        "promotion",
        "new_plan",
        "discount",
        "competitor",
    }
    competitors = set(table["marketing_mentions"]["competitor"])
    assert {"verizon", "t-mobile", "comcast", "at&t"} <= competitors


# --- the realistic call ----------------------------------------------------------------------------


def test_support_call_categories_fire_on_the_right_utterances() -> None:
    _, result = run_call(SUPPORT_CALL)

    assert hits_at(result, 5.0) == {
        ("repeated_problems", "multiple_times"),  # "twice"
        ("repeated_problems", "still_not_fixed"),  # "still not working"
        ("repeated_problems", "called_again"),  # "I called yesterday"
    }
    assert hits_at(result, 12.5) == {("process_issues", "hold")}
    assert hits_at(result, 41.0) == {("process_issues", "hold"), ("process_issues", "transfer")}
    assert hits_at(result, 64.0) == {("marketing_mentions", "upgrade"), ("marketing_mentions", "new_plan")}
    # The clean utterances produce no hits at all.
    for start in (0.0, 20.0, 52.0, 60.0, 72.0):
        assert hits_at(result, start) == set(), start

    by_label: dict[str, CategoryHit] = {}
    for hit in result.hits:
        by_label.setdefault(hit.label, hit)  # the first hit of each label
    assert by_label["hold"].phrase == "put you on hold"
    assert by_label["hold"].speaker == "agent"
    assert by_label["still_not_fixed"].phrase == "still not working"
    assert by_label["still_not_fixed"].speaker == "customer"

    assert result.process_issues == ('hold (2): "put you on hold" @12.5s; transfer (1): "transfer you" @41.0s')
    assert result.repeated_problems == (
        'called_again (1): "called yesterday" @5.0s; still_not_fixed (1): "still not working" @5.0s; '
        'multiple_times (1): "twice this week" @5.0s'
    )
    assert result.marketing_mentions == 'upgrade (1): "upgrade" @64.0s; new_plan (1): "our fibre plan" @64.0s'


def test_support_call_call_level_results() -> None:
    _, result = run_call(SUPPORT_CALL)
    assert result.sentiment == "positive"
    assert result.sentiment_score > 0.05
    assert result.emotion in {"satisfied", "happy"}
    assert result.agent_score >= 4
    assert set(result.agent_score_breakdown) == BREAKDOWN_KEYS
    assert result.agent_score_breakdown["greeting"] > 0
    assert result.agent_score_breakdown["empathy"] > 0
    assert result.agent_score_breakdown["resolution"] == 0.75
    assert result.agent_score_breakdown["customer_trajectory"] > 0
    assert result.agent_score_breakdown["unresolved_repeats"] == 0.0
    assert result.word_count == sum(len(t.split()) for _, _, t in SUPPORT_CALL)


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


def test_to_event_has_exactly_the_protocol_keys() -> None:
    _, result = run_call(SUPPORT_CALL)
    event = result.to_event()
    assert tuple(event) == EVENT_KEYS
    assert len(event) == 7
    protocol = "summary sentiment emotion agent_score process_issues repeated_problems marketing_mentions"
    assert " ".join(EVENT_KEYS) == protocol  # the protocol's keys, in this order
    assert event["agent_score"] == result.agent_score
    assert isinstance(event["agent_score"], int)
    assert event["sentiment"] in {"positive", "neutral", "negative"}
    assert event["emotion"] in EMOTION_LABELS
    for key in ("summary", "process_issues", "repeated_problems", "marketing_mentions"):
        assert isinstance(event[key], str) and event[key]
    json.dumps(event)  # serialisable as-is


def test_call_without_hits_reports_none() -> None:
    _, result = run_call(
        [
            (0.0, "agent", "Good morning, how can I help?"),
            (2.0, "customer", "I would like to check the balance on my account."),
            (5.0, "agent", "Of course, your balance is forty dollars."),
        ]
    )
    assert result.process_issues == "none"
    assert result.repeated_problems == "none"
    assert result.marketing_mentions == "none"
    assert result.hits == ()


# --- sentiment -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Thank you so much, that works perfectly and I really appreciate your help!", "positive"),
        ("This is great news, wonderful.", "positive"),
        ("This is terrible, my internet is broken and nobody helps.", "negative"),
        ("My internet is not working.", "negative"),  # "working" is in the domain lexicon
        ("It still hasn't been fixed and I'm furious.", "negative"),
        ("The modem is in the living room.", "neutral"),
        ("I'm calling about the bill for March.", "neutral"),
        ("I would like to check the balance on my account.", "neutral"),  # the request verb "like"
    ],
)
def test_sentiment_labels(text: str, label: str) -> None:
    analyzer = CallAnalyzer()
    result = analyzer.add(utterance(0.0, "customer", text))
    assert result.sentiment == label
    assert -1.0 <= result.sentiment_score <= 1.0
    assert result.sentiment_score == sentiment_module.polarity(text)


def test_sentiment_thresholds() -> None:
    assert sentiment_module.label_for(0.05) == "positive"
    assert sentiment_module.label_for(0.0499) == "neutral"
    assert sentiment_module.label_for(-0.0499) == "neutral"
    assert sentiment_module.label_for(-0.05) == "negative"
    assert sentiment_module.polarity("") == 0.0


def test_call_sentiment_follows_the_customer_and_where_the_call_ends() -> None:
    # The agent is relentlessly cheerful, but the customer is unhappy: the call is negative.
    _, unhappy = run_call(
        [
            (0.0, "agent", "Good morning! Wonderful to hear from you, how can I help today?"),
            (3.0, "customer", "My bill is wrong again and I'm really annoyed about it."),
            (8.0, "agent", "Great, happy to help, I love solving billing questions!"),
            (12.0, "customer", "This is useless, you people are terrible."),
        ]
    )
    assert unhappy.sentiment == "negative"
    # Started angry, ended happy: recency weighting makes the call positive.
    _, recovered = run_call(
        [
            (0.0, "customer", "This is terrible, my internet has been broken all week and I'm furious."),
            (5.0, "agent", "I'm sorry. I have reset your router, it should be working now."),
            (9.0, "customer", "Oh good, it works."),
            (12.0, "customer", "Thank you so much, that's great, I really appreciate it."),
        ]
    )
    assert recovered.sentiment == "positive"


# --- emotion ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This is ridiculous and completely unacceptable!", "angry"),
        ("I'm sick of this, I am furious.", "angry"),
        ("It is still not working, this keeps happening and it's a waste of time.", "frustrated"),
        ("This is urgent, I'm worried, I need it fixed as soon as possible.", "anxious"),
        ("I don't understand, what do you mean by that fee?", "confused"),
        ("My father passed away last month.", "sad"),
        ("This is wonderful, I love it!", "happy"),
        ("Thank you, that works perfectly.", "satisfied"),
        ("No thank you, that's all I needed.", "satisfied"),
        ("The modem is in the living room.", "neutral"),
        ("Can you read me the account number?", "neutral"),
    ],
)
def test_emotion_labels(text: str, expected: str) -> None:
    result = CallAnalyzer().add(utterance(0.0, "customer", text))
    assert result.emotion == expected


def test_emotion_negation() -> None:
    not_happy = CallAnalyzer().add(utterance(0.0, "customer", "I am not happy with this at all."))
    assert not_happy.emotion != "happy"
    assert not_happy.emotion == "frustrated"
    assert emotion_module.classify("I am happy with this.", sentiment_module.polarity("I am happy with this.")) in {
        "happy",
        "satisfied",
    }
    not_worried = CallAnalyzer().add(utterance(0.0, "customer", "I'm not worried about it."))
    assert not_worried.emotion != "anxious"
    worried = CallAnalyzer().add(utterance(0.0, "customer", "I'm worried about it."))
    assert worried.emotion == "anxious"
    # A cue after a clause break is not negated by an earlier "no".
    assert emotion_module.classify("No, I'm happy now.", 0.3) == "happy"


def test_emotion_without_cues_uses_vader() -> None:
    assert emotion_module.classify("xyz", -0.7) == "frustrated"
    assert emotion_module.classify("xyz", 0.8) == "happy"
    assert emotion_module.classify("xyz", 0.55) == "satisfied"
    assert emotion_module.classify("xyz", 0.1) == "neutral"
    assert emotion_module.classify("", 0.0) == "neutral"


def test_call_emotion_is_the_customers_recent_dominant_emotion() -> None:
    _, result = run_call(
        [
            (0.0, "customer", "This is ridiculous, it's the third outage this week!"),
            (4.0, "agent", "I'm so sorry, that's frustrating, unacceptable on our side."),
            (8.0, "customer", "Okay."),
            (10.0, "customer", "Thank you, that works."),
            (13.0, "customer", "Perfect, thanks for sorting it."),
        ]
    )
    assert result.emotion == "satisfied"
    assert emotion_module.call_emotion(["neutral", "neutral"]) == "neutral"
    assert emotion_module.call_emotion([]) == "neutral"
    assert emotion_module.call_emotion(["angry", "neutral", "neutral"]) == "angry"
    # Recent utterances weigh more: two early frustrated turns lose to the latest satisfied one ...
    assert emotion_module.call_emotion(["frustrated", "frustrated", "neutral", "satisfied"]) == "satisfied"
    # ... and only the last five utterances count at all.
    assert emotion_module.call_emotion(["angry"] + ["neutral"] * 5) == "neutral"
    assert emotion_module.call_emotion(["angry"] + ["neutral"] * 4) == "angry"


# --- categories ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Let me put you on hold for a second.", "hold"),
        ("Can you hold for a moment?", "hold"),
        ("I've been ON... HOLD for ages!", "hold"),
        ("I'll transfer you to billing.", "transfer"),
        ("I was transferred to someone else.", "transfer"),
        ("The call got dropped halfway.", "dropped_call"),
        ("I want to speak to your manager.", "escalation"),
        ("Sorry, our system is down right now.", "system_down"),
        ("Someone will call you back tomorrow.", "callback_promised"),
        ("I've been waiting for two hours.", "long_wait"),
        ("I've called three times about this.", "multiple_times"),
        ("This is the third time this happened.", "multiple_times"),
        ("I called before about the same thing.", "called_again"),
        ("I called yesterday.", "called_again"),
        ("It's still not working.", "still_not_fixed"),
        ("It still hasn\u2019t been fixed.", "still_not_fixed"),
        ("It's the same issue as last month.", "same_issue"),
        ("We have a special offer for you.", "offer"),
        ("You could upgrade to fibre.", "upgrade"),
        ("There's a promotion running.", "promotion"),
        ("Would a new plan suit you better?", "new_plan"),
        ("I can give you 20% off.", "discount"),
        ("I'm thinking of switching to T-Mobile.", "competitor"),
        ("AT&T offered me a better price.", "competitor"),
        ("Comcast is cheaper.", "competitor"),
    ],
)
def test_category_phrases(text: str, label: str) -> None:
    analyzer = CallAnalyzer(min_words=1)
    analyzer.add(utterance(7.5, "customer", text))
    result = analyzer.analysis()
    assert result is not None
    labels = {h.label for h in result.hits}
    assert label in labels
    hit = next(h for h in result.hits if h.label == label)
    assert hit.start == 7.5 and hit.speaker == "customer"
    assert hit.phrase.lower() in text.lower()


@pytest.mark.parametrize(
    "text",
    [
        "I'm the account holder.",
        "The threshold is low for my household.",
        "Please hold onto the receipt.",
        "I offered to help my neighbour.",  # "offered" is not the marketing "offer"
        "I'm not sure the spectrograph works.",
        "Sprinting is fun.",
        "Thanks, that's all.",
    ],
)
def test_category_word_boundaries(text: str) -> None:
    matcher = CategoryMatcher(default_categories())
    assert matcher.match(text, 0.0, "customer") == ()


def test_category_matcher_custom_table_and_validation() -> None:
    matcher = CategoryMatcher({"process_issues": {"hold": ["on hold"]}, "custom": {"thing": ["widget*"]}})
    hits = matcher.match("On hold about my widgets, ON HOLD again.", 3.0, "agent")
    assert [(h.label, h.phrase) for h in hits] == [("hold", "On hold"), ("hold", "ON HOLD"), ("thing", "widgets")]
    with pytest.raises(ValueError):
        CategoryMatcher({"bad": {"label": [""]}})
    analyzer = CallAnalyzer(categories=matcher)
    analyzer.add(utterance(1.0, "customer", "I was on hold about my widget for ages."))
    result = analyzer.analysis()
    assert result is not None
    assert result.process_issues == 'hold (1): "on hold" @1.0s'
    assert result.marketing_mentions == "none"


def test_describe_groups_counts_and_limits_length() -> None:
    hits = [
        CategoryHit("process_issues", "transfer", "transfer you", 40.0, "agent"),
        CategoryHit("process_issues", "hold", "put me on hold", 12.34, "customer"),
        CategoryHit("process_issues", "hold", "on hold", 20.0, "agent"),
        CategoryHit("marketing_mentions", "offer", "offer", 50.0, "agent"),
    ]
    assert describe(hits, "process_issues") == (
        'hold (2): "put me on hold" @12.3s; transfer (1): "transfer you" @40.0s'
    )
    assert describe(hits, "repeated_problems") == "none"
    many = [
        CategoryHit("process_issues", f"label_{i}", "a fairly long matched phrase", float(i), "agent")
        for i in range(40)
    ]
    text = describe(many, "process_issues")
    assert len(text) < 300
    assert text.startswith('label_0 (1): "a fairly long matched phrase" @0.0s')
    assert text.endswith(" more")


def test_category_strings_stay_short_on_long_calls() -> None:
    analyzer = CallAnalyzer()
    for i in range(200):
        analyzer.add(utterance(float(i), "customer", "Put me on hold, transfer me, call me back, my call dropped."))
    result = analyzer.analysis()
    assert result is not None
    for text in (result.process_issues, result.repeated_problems, result.marketing_mentions):
        assert len(text) < 300
    assert 'hold (200): "Put me on hold" @0.0s' in result.process_issues


# --- agent score -----------------------------------------------------------------------------------


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


# --- min_words, summary ----------------------------------------------------------------------------


def test_analysis_is_none_below_min_words() -> None:
    analyzer = CallAnalyzer()
    assert analyzer.analysis() is None
    analyzer.add(utterance(0.0, "customer", "My internet is"))
    analyzer.add(utterance(1.0, "customer", "?!  ...  "))  # punctuation has no words
    assert analyzer.word_count == 3
    analyzer.add(utterance(2.0, "customer", "down"))
    assert analyzer.word_count == 4
    assert analyzer.analysis() is None
    analyzer.add(utterance(3.0, "customer", "again."))
    assert analyzer.word_count == 5
    result = analyzer.analysis()
    assert result is not None
    assert result.word_count == 5
    assert result.summary
    custom = CallAnalyzer(min_words=2)
    custom.add(utterance(0.0, "unknown", "Hello"))
    assert custom.analysis() is None
    custom.add(utterance(1.0, "unknown", "there"))
    assert custom.analysis() is not None


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


# --- incremental behaviour ---------------------------------------------------------------------------


def _counting(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[str]:
    calls: list[str] = []
    original: Callable[..., object] = getattr(module, name)

    def wrapper(text: str, *args: object) -> object:
        calls.append(text)
        return original(text, *args)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_add_analyses_only_the_new_utterance(monkeypatch: pytest.MonkeyPatch) -> None:
    polarity_calls = _counting(monkeypatch, sentiment_module, "polarity")
    emotion_calls = _counting(monkeypatch, emotion_module, "classify")
    match_calls: list[str] = []
    original_match = CategoryMatcher.match

    def counting_match(self: CategoryMatcher, text: str, start: float, speaker: str) -> tuple[CategoryHit, ...]:
        match_calls.append(text)
        return original_match(self, text, start, speaker)

    monkeypatch.setattr(CategoryMatcher, "match", counting_match)

    analyzer = CallAnalyzer()
    for n, (start, speaker, text) in enumerate(SUPPORT_CALL, start=1):
        result = analyzer.add(utterance(start, speaker, text))
        assert isinstance(result, UtteranceAnalysis)
        assert polarity_calls == [t for _, _, t in SUPPORT_CALL[:n]]
        assert len(emotion_calls) == n and len(match_calls) == n
        call_result = analyzer.analysis()
        assert call_result is not None
        assert analyzer.analysis() == call_result
        # analysis() did not re-run any per-utterance analysis.
        assert len(polarity_calls) == n and len(emotion_calls) == n and len(match_calls) == n


def test_incremental_result_equals_batch_result_and_is_deterministic() -> None:
    incremental = CallAnalyzer()
    snapshots = []
    for start, speaker, text in SUPPORT_CALL:
        incremental.add(utterance(start, speaker, text))
        snapshots.append(incremental.analysis())
    _, batch = run_call(SUPPORT_CALL)
    _, again = run_call(SUPPORT_CALL)
    assert snapshots[-1] == batch == again
    assert len(incremental) == len(SUPPORT_CALL)


def test_out_of_order_arrival_is_ordered_by_start() -> None:
    _, in_order = run_call(SUPPORT_CALL)
    _, shuffled = run_call(list(reversed(SUPPORT_CALL)))
    assert shuffled.summary == in_order.summary
    assert shuffled.sentiment_score == in_order.sentiment_score
    assert shuffled.agent_score == in_order.agent_score
    assert shuffled.process_issues == in_order.process_issues


# --- robustness and speed ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "?!...,,;:--",
        "\u00c7a ne marche pas \U0001f621 \u00f1 \u65e5\u672c\u8a9e \u2014 \u00bfqu\u00e9? "
        "\u0627\u0644\u0633\u0644\u0627\u0645",
        "word " * 10_000,
        "still not working " * 3_000 + "on hold " * 1_000,
        "I" * 5_000,
        "don't can't won't isn\u2019t '' '' ' \" \\ %% {num} * ( [ ",
    ],
    ids=["empty", "whitespace", "punctuation", "non-ascii", "10k-words", "10k-with-hits", "one-huge-token", "odd"],
)
def test_robust_inputs(text: str) -> None:
    analyzer = CallAnalyzer()
    for speaker in ("customer", "agent", "unknown", "Supervisor"):
        result = analyzer.add(Utterance(text, 1.0, 2.0, 0, speaker))
        assert result.sentiment in {"positive", "neutral", "negative"}
        assert result.emotion in EMOTION_LABELS
        assert -1.0 <= result.sentiment_score <= 1.0
    analyzer.add(utterance(3.0, "customer", "my internet is down again today"))
    call = analyzer.analysis()
    assert call is not None
    assert call.summary
    assert len(call.summary) < 400
    assert 1 <= call.agent_score <= 5
    for value in (call.process_issues, call.repeated_problems, call.marketing_mentions):
        assert len(value) < 300


def test_phrase_syntax_rejects_bad_phrases() -> None:
    with pytest.raises(ValueError):
        compile_phrases(["* on hold"])
    with pytest.raises(ValueError):
        compile_phrases(["on hold *"])
    assert compile_phrases([]).search("anything") is None


# --- the recorded fixture call ------------------------------------------------------------------------

FIXTURE_CALL = Path(__file__).parent / "fixtures" / "dialogue" / "call.json"


@pytest.mark.skipif(not FIXTURE_CALL.exists(), reason="dialogue fixture not present")
def test_fixture_dialogue_script() -> None:
    turns = json.loads(FIXTURE_CALL.read_text(encoding="utf-8"))["turns"]
    stereo = CallAnalyzer()
    mono = CallAnalyzer()
    for turn in turns:
        stereo.add(Utterance(turn["text"], turn["start"], turn["end"], turn["channel_stereo"], turn["speaker"]))
        mono.add(Utterance(turn["text"], turn["start"], turn["end"], 0, "unknown"))
    for result in (stereo.analysis(), mono.analysis()):
        assert result is not None
        labels = {h.label for h in result.hits}
        assert {"hold", "upgrade"} <= labels
        assert labels & {"called_again", "multiple_times"}
        assert result.sentiment == "positive"
        assert 1 <= result.agent_score <= 5
        assert result.summary
    stereo_result = stereo.analysis()
    assert stereo_result is not None
    assert stereo_result.summary.startswith("Customer: ")
    assert stereo_result.agent_score >= 4


def test_long_text_sentiment_is_chunked() -> None:
    # Speed is measured in benchmarks; here: long text is scored (in chunks) and keeps its polarity.
    short = "It is still not working and I am really annoyed."
    assert sentiment_module.polarity(short) == sentiment_module._compound(short)
    long_text = "still not working, this is terrible. " * 2_000 + "thank you, great. " * 500
    score = sentiment_module.polarity(long_text)
    assert -1.0 <= score < 0.0


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
