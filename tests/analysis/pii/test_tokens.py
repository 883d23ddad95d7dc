"""Spoken and written numbers read as digits: the ground every PII detector stands on."""

from __future__ import annotations

import pytest

from analysis.pii.tokens import digit_values, tokenize


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("four five three nine", "4539"),
        ("forty five thirty nine", "4539"),
        ("double four", "44"),
        ("triple seven oh", "7770"),
        ("oh seven seven double oh nine", "077009"),
        ("nineteen eighty two", "1982"),
        ("twenty oh four fifteen", "200415"),
        ("one hundred and twenty", "120"),
        ("five thousand", "5000"),
        ("one forty five", "145"),
        ("twenty-two", "22"),
    ],
)
def test_spoken_groups_read_as_digits(spoken: str, digits: str) -> None:
    assert digit_values(spoken.split()) == digits


def test_a_word_that_is_no_number_ends_the_reading() -> None:
    assert digit_values(["four", "apples"]) is None


def test_tokens_keep_their_places_and_drop_sentence_punctuation() -> None:
    text = "It's 4539-1488, then j.smith@gmail.com. Q-Q and O'Neil."
    tokens = tokenize(text)
    assert [t.raw for t in tokens] == ["It's", "4539-1488", "then", "j.smith@gmail.com", "Q-Q", "and", "O'Neil"]
    assert all(text[t.start : t.end] == t.raw for t in tokens)
    assert tokens[1].digits == "45391488"
    assert tokens[4].letter == "QQ"
    assert tokens[2].digits == "" and tokens[2].letter == ""
    assert tokenize("$49.99")[0].digits == "4999"
