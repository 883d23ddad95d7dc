"""The call analyzer (analysis.analyzer): per-utterance results, call-level results as utterances
arrive, incremental and order-independent computation, robustness, and two whole calls."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from analysis import EMOTION_LABELS, CallAnalyzer, CategoryHit, Utterance, UtteranceAnalysis
from analysis import emotion as emotion_module
from analysis import sentiment as sentiment_module
from analysis.backends import AnalysisModels
from analysis.categories import CATEGORY_NAMES, CategoryMatcher
from benchmarks.analytics_scoring import PredictedRow, best_turn, labelled_turns, score_call
from tests.analysis.scripted_calls import (
    BREAKDOWN_KEYS,
    DIALOGUE_CALL,
    HELD_OUT_CALL,
    SUPPORT_CALL,
    hits_at,
    run_call,
    utterance,
)


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


@pytest.mark.skipif(not DIALOGUE_CALL.exists(), reason="dialogue fixture not present")
def test_fixture_dialogue_script() -> None:
    turns = json.loads(DIALOGUE_CALL.read_text(encoding="utf-8"))["turns"]
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


def test_held_out_stereo_call_end_to_end(models: AnalysisModels) -> None:
    """The text of the held-out call that tests/test_call_analytics_e2e.py streams as audio."""
    call = json.loads(HELD_OUT_CALL.read_text(encoding="utf-8"))
    assert call["split"] == "test"  # never used to train the models or choose thresholds
    turns = labelled_turns(call)
    analyzer = CallAnalyzer(models=models)
    rows = []
    for turn in turns:
        before = len(analyzer)
        result = analyzer.add(Utterance(turn.text, turn.start, turn.end, int(turn.speaker == "agent"), turn.speaker))
        assert len(analyzer) == before + 1
        assert result.emotion in EMOTION_LABELS
        assert sum(result.emotion_scores.values()) == pytest.approx(1.0, abs=1e-3)
        fired = frozenset(hit.category for hit in result.hits)
        rows.append(PredictedRow(turn.speaker, turn.start, turn.end, turn.text, result.sentiment, fired))
    scored = score_call(turns, rows, CATEGORY_NAMES)
    assert scored.agreement >= 0.75, scored.disagreements
    for name in CATEGORY_NAMES:
        assert scored.categories[name].true_positive >= 1, name
    # On the script's text, "you've left me stranded for hours" (a past wait, told as a repeated problem)
    # also fires process_issues/long_wait, which the annotator did not mark; the CSV of the spoken call
    # has no false hit (tests/test_call_analytics_e2e.py). Recorded here as the known disagreement.
    assert [scored.categories[name].false_positive for name in CATEGORY_NAMES] == [1, 0, 0]

    final = analyzer.analysis()
    assert final is not None
    assert 1 <= final.agent_score <= 5
    assert set(final.agent_score_breakdown) == set(final.agent_score_evidence)
    assert len(final.agent_score_breakdown) == 9
    assert best_turn(final.summary_parts["issue"], turns) in call["issue_turns"]
    assert best_turn(final.summary_parts["outcome"], turns) in call["outcome_turns"]
    assert final.summary.startswith("Customer: ") and "Outcome: " in final.summary

    event = final.to_event()
    assert len(event) == 7 and all(event[name] != "none" for name in CATEGORY_NAMES)
    summary = json.loads(json.dumps(final.to_summary()))
    assert summary["analysis"] == event
    hits = summary["categories"]["process_issues"]
    assert {"label", "matched", "utterance", "start", "speaker", "match", "similarity"} <= set(hits[0])
    assert all(hit["utterance"] for hit in hits)
    assert summary["agent_score"]["components"] == final.agent_score_breakdown
