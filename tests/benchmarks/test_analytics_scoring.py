"""Scoring analytics against labelled turns (benchmarks.analytics_scoring): how CSV rows are matched to turns."""

from __future__ import annotations

import math

from benchmarks.analytics_scoring import (
    LabelledTurn,
    PredictedRow,
    best_turn,
    categories_of,
    match_rows,
    merge_counts,
    score_call,
)

NAMES = ("process_issues", "repeated_problems", "marketing_mentions")

TURNS = [
    LabelledTurn("agent", 0.5, 4.0, "Thanks for calling, how can I help?", "positive"),
    LabelledTurn(
        "customer",
        4.7,
        10.0,
        "My router died again. This is the third time.",
        "negative",
        frozenset({"repeated_problems"}),
    ),
    LabelledTurn("agent", 10.7, 13.0, "Let me put you on hold.", "neutral", frozenset({"process_issues"})),
    LabelledTurn("agent", 21.0, 24.0, "Thanks for holding, it's fixed now.", "positive", frozenset({"process_issues"})),
    LabelledTurn("customer", 24.7, 27.0, "Great, thank you so much.", "positive"),
]


def row(speaker: str, start: float, end: float, sentiment: str, *categories: str) -> PredictedRow:
    return PredictedRow(speaker, start, end, "", sentiment, frozenset(categories))


def test_each_turn_gets_the_rows_of_its_speaker_that_overlap_it() -> None:
    rows = [
        row("agent", 0.4, 4.1, "positive"),
        row("customer", 4.6, 7.0, "neutral"),  # the customer's turn, split in two by VAD
        row("customer", 7.2, 10.1, "negative", "repeated_problems"),
        row("agent", 10.6, 13.1, "neutral", "process_issues"),
        # the last customer turn has no row (the recogniser missed it)
    ]
    matched = match_rows(TURNS, rows)
    assert [len(m) for m in matched] == [1, 2, 1, 0, 0]
    assert matched[1][0].start == 4.6  # in time order


def test_padding_that_touches_the_next_turn_does_not_count() -> None:
    rows = [row("agent", 1.0, 10.8, "neutral")]  # 3 s of the first agent turn, 0.1 s of the next
    matched = match_rows(TURNS, rows)
    assert len(matched[0]) == 1 and matched[2] == []


def test_a_turn_takes_the_sentiment_of_its_last_row_and_a_missing_row_disagrees() -> None:
    rows = [
        row("agent", 0.4, 4.1, "positive"),
        row("customer", 4.6, 7.0, "positive"),
        row("customer", 7.2, 10.1, "negative", "repeated_problems"),
        row("agent", 10.6, 13.1, "neutral", "process_issues"),
        row("agent", 21.0, 24.0, "positive"),  # process_issues missed
        row("customer", 24.5, 27.2, "neutral", "marketing_mentions"),  # wrong sentiment, category on a clean turn
    ]
    score = score_call(TURNS, rows, NAMES)
    assert (score.turns, score.agreed, score.missed) == (5, 4, 0)
    assert math.isclose(score.agreement, 0.8)
    assert [t.text for t, _ in score.disagreements] == ["Great, thank you so much."]
    process = score.categories["process_issues"]
    assert (process.true_positive, process.false_positive, process.false_negative) == (1, 0, 1)
    assert (process.precision, process.recall) == (1.0, 0.5)
    marketing = score.categories["marketing_mentions"]
    assert (marketing.true_positive, marketing.false_positive) == (0, 1)
    assert marketing.precision == 0.0 and math.isnan(marketing.recall)
    assert len(score.category_errors) == 2

    missing = score_call(TURNS, rows[:4], NAMES)
    assert (missing.missed, missing.agreed) == (2, 3)
    assert missing.disagreements[-1][1] is None


def test_counts_add_up_over_calls() -> None:
    rows = [row("customer", 4.7, 10.0, "negative", "repeated_problems")]
    merged = merge_counts([score_call(TURNS, rows, NAMES), score_call(TURNS, rows, NAMES)])
    assert merged["repeated_problems"].true_positive == 2
    assert merged["process_issues"].false_negative == 4


def test_categories_cell_parsing() -> None:
    assert categories_of("") == frozenset()
    assert categories_of("process_issues/hold; marketing_mentions/upgrade; process_issues/transfer") == {
        "process_issues",
        "marketing_mentions",
    }


def test_best_turn_finds_where_a_summary_sentence_came_from() -> None:
    assert best_turn("my router died again", TURNS) == 1
    assert best_turn("It's fixed now.", TURNS) == 3
    assert best_turn("", TURNS) is None
    assert best_turn("completely unrelated words here", TURNS) is None
