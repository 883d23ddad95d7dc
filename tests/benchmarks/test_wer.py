"""The WER normalization: recognition is measured, not how Whisper writes numbers and punctuation."""

from __future__ import annotations

from benchmarks.wer import normalize_text, word_error_rate


def test_numerals_are_spelled_out_as_references_write_them() -> None:
    assert normalize_text("Go forward 10 meters.") == "go forward ten meters"
    assert normalize_text("the 3rd time, 21 cars") == "the third time twenty one cars"
    assert normalize_text("1,000 dollars") == "one thousand dollars"


def test_punctuation_case_and_abbreviations_do_not_count() -> None:
    assert word_error_rate(["mister dashwood is cold hearted"], ["Mr. Dashwood is cold-hearted!"]) == 0.0
    assert word_error_rate(["ten of clubs"], ["10 of clubs."]) == 0.0
    assert word_error_rate(["ten of clubs"], ["10 of clothes."]) == 1 / 3
