"""Words of a transcript with their places, and what each says as a number or a letter.

Whisper writes spoken numbers every way there is: "4111 1111", "4-1-1-1", "four one one one",
"forty five thirty nine", "double four", "oh seven seven", "nineteen eighty two". The PII detectors
reason about *runs* of such words, so each word is read once here: its digits (if it says digits),
whether it is a single spelled letter ("Q", "q.", "Q-Q"), and where it is in the text, so that a
finding can be mapped back to characters (the redacted text) and to words (their times: the audio).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["REPEATS", "TRIPLE_SLIPS", "UNITS", "WEAK_UNITS", "Token", "digit_values", "tokenize"]

# A word: letters, digits and the marks that live inside numbers and addresses ("4,111" "a.b@c.com"
# "O'Neil" "9:30"). Trailing sentence punctuation is not part of it.
_WORD = re.compile(r"[\w@+'\u2019/:&.,-]*\w|[\w@+]")

UNITS = {
    "zero": 0, "oh": 0, "o": 0, "nought": 0, "naught": 0, "nil": 0,
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
# Whisper spells "triple" both ways, writes it as "(to) repul", "to repulse" or "pulse" between digits, and
# writes a spoken "double" between digits as the letter W. ("to" before one of these is part of it: see
# `numbers`.)
REPEATS = {
    "double": 2, "doubles": 2, "triple": 3, "treble": 3, "tripple": 3, "w": 2, "repul": 3, "repulse": 3, "pulse": 3,
}  # fmt: skip
TRIPLE_SLIPS = frozenset({"repul", "repulse", "pulse"})
SCALES = {"hundred": 100, "thousand": 1000}
# Words that are numbers only next to other numbers ("oh" alone is an exclamation, "o" a letter).
WEAK_UNITS = {"oh", "o", "nil"}


@dataclass(frozen=True)
class Token:
    """One word of the text: `text[start:end]`, lower-cased in `norm` (without edge punctuation)."""

    index: int
    start: int  # character offsets in the text
    end: int
    raw: str
    norm: str

    @property
    def digits(self) -> str:
        """The digits written in the word ("4111", "4-1-1-1" -> "4111", "$49.99" -> "4999", "497O" ->
        "4970": Whisper writes a spoken "oh" inside a group as the letter), else ""."""
        norm = self.norm
        if re.fullmatch(r"[\d.,/-]*(?:\d[o]|[o]\d)[\do.,/-]*", norm) and (
            sum(c.isdigit() for c in norm) >= 2 or norm[-1] == "o"  # "497O", "4O"; not the network "O2"
        ):
            norm = norm.replace("o", "0")
        if any(c.isdigit() for c in norm) and not any(c.isalpha() for c in norm.replace("x", "")):
            return "".join(c for c in norm if c.isdigit())
        return ""

    @property
    def garbled_digits(self) -> str:
        """The digits of a word Whisper garbled with letters, as many digits as letters or more ("4G1HE727G",
        "4t", "W539626576380431"), else "". Read only where a card or phone number is expected."""
        digits = sum(c.isdigit() for c in self.norm)
        letters = sum(c.isalpha() for c in self.norm)
        if digits and letters and digits >= letters and self.norm.isalnum():
            return "".join(c for c in self.norm if c.isdigit())
        return ""

    @property
    def letter(self) -> str:
        """The letter a spelled-out letter says ("Q", "q.", "Q-Q" -> "QQ"), upper-cased; else ""."""
        compact = re.sub(r"[.\-']", "", self.raw)
        if compact.isalpha() and 1 <= len(compact) <= 2 and (len(compact) == 1 or compact.isupper()):
            if len(compact) == 2 and not ("-" in self.raw or "." in self.raw or compact.isupper()):
                return ""
            return compact.upper()
        return ""

    @property
    def is_number_word(self) -> bool:
        word = self.norm
        return (
            word in UNITS
            or word in TEENS
            or word in TENS
            or word in REPEATS
            or word in SCALES
            or ("-" in word and all(part in TENS or part in UNITS for part in word.split("-")))
        )


def _numeric_part(part: str) -> bool:
    return part.isdigit() or part in UNITS or part in TEENS or part in TENS or part in REPEATS


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    for match in _WORD.finditer(text):
        raw = match.group(0)
        start, end = match.start(), match.end()
        # "1111," and "one." keep the comma/period out; "4,111" and "a.b" keep theirs.
        while raw and raw[-1] in ".,:'\u2019-/&":
            raw, end = raw[:-1], end - 1
        while raw and raw[0] in ".,:'\u2019-/&":
            raw, start = raw[1:], start + 1
        if not raw:
            continue
        parts = raw.lower().split("-")
        numeric = [_numeric_part(p) for p in parts]
        words = [p.isalpha() and len(p) > 1 and p not in REPEATS and not _numeric_part(p) for p in parts]
        mixed = any(numeric) and all(n or w for n, w in zip(numeric, words, strict=True))
        if len(parts) > 1 and ((all(numeric) and not all(p.isdigit() for p in parts)) or (mixed and not all(numeric))):
            # "6-9-double-6", "5-double": one word per number, so "double" reads the digit after it;
            # "CVV-235", "MX-3713-1938…": the cue apart from the digits
            at = start
            for part in raw.split("-"):
                tokens.append(Token(len(tokens), at, at + len(part), part, part.lower()))
                at += len(part) + 1
            continue
        tokens.append(Token(len(tokens), start, end, raw, raw.lower()))
    return tokens


def digit_values(words: list[str]) -> str | None:
    """The digits a run of number words says when read as a spoken sequence of groups, or None when one
    of them is not a number word.

    Groups are read as people read numbers aloud: "four five three nine" -> "4539", "forty five thirty
    nine" -> "4539", "double four" -> "44", "nineteen eighty two" -> "1982", "twenty oh four" -> "2004",
    "one hundred and twenty" -> "120", "five thousand" -> "5000".
    """
    out: list[str] = []
    i = 0
    pending_repeat = 1
    while i < len(words):
        word = words[i]
        parts = word.split("-") if "-" in word else [word]
        if len(parts) == 2 and parts[0] in TENS and parts[1] in UNITS and parts[1] not in WEAK_UNITS:
            out.append(str(TENS[parts[0]] + UNITS[parts[1]]) * pending_repeat)
            pending_repeat = 1
            i += 1
            continue
        if word in REPEATS:
            pending_repeat = REPEATS[word]
            i += 1
            continue
        if word in UNITS:
            value = UNITS[word]
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if nxt in SCALES and pending_repeat == 1:
                number, i = _scaled(words, i)
                out.append(str(number))
                continue
            out.append(str(value) * pending_repeat)
            pending_repeat = 1
            i += 1
            continue
        if word in TEENS:
            out.append(str(TEENS[word]) * pending_repeat)
            pending_repeat = 1
            i += 1
            continue
        if word in TENS:
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if nxt in UNITS and nxt not in WEAK_UNITS and nxt != "zero":
                out.append(str(TENS[word] + UNITS[nxt]) * pending_repeat)
                i += 2
            else:
                out.append(str(TENS[word]) * pending_repeat)
                i += 1
            pending_repeat = 1
            continue
        if word in SCALES:  # "hundred" alone: "a hundred"
            out.append(str(SCALES[word]))
            i += 1
            continue
        if word == "and" and out:
            i += 1
            continue
        return None
    return "".join(out)


def _scaled(words: list[str], i: int) -> tuple[int, int]:
    """'five hundred (and) forty two' from `i`: its value and the index after it."""
    total = UNITS[words[i]] * SCALES[words[i + 1]]
    i += 2
    if i < len(words) and words[i] == "and":
        i += 1
    if i < len(words) and words[i] in TENS:
        total += TENS[words[i]]
        i += 1
        if i < len(words) and words[i] in UNITS and words[i] not in WEAK_UNITS:
            total += UNITS[words[i]]
            i += 1
    elif i < len(words) and words[i] in TEENS:
        total += TEENS[words[i]]
        i += 1
    elif i < len(words) and words[i] in UNITS and words[i] not in WEAK_UNITS and i + 1 >= len(words):
        total += UNITS[words[i]]
        i += 1
    return total, i
