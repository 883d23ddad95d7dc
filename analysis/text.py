"""Shared text helpers: word counting, sentence splitting, truncation and a tiny phrase-pattern language.

Every analysis module matches curated phrases against noisy speech-recogniser output, so they all need
the same notion of "a word", the same tolerance of case and punctuation, and the same handling of
negation. Keeping that here means the emotion cues, the category phrase lists and the agent-score
rubric all behave alike, and a phrase list can be read without knowing regular expressions.

Phrase syntax (used by ``compile_phrases``):

* words are separated by single spaces; in the text any run of spaces or punctuation may separate
  them (``"on hold"`` matches ``"on... hold"``), and matching is case-insensitive on word boundaries;
* an apostrophe matches a straight or curly apostrophe or none (``"don't"`` matches ``"dont"``);
* a hyphen inside a word matches a hyphen, a space or nothing (``"t-mobile"`` matches ``"T Mobile"``);
* ``word*`` matches the word followed by any word characters (``"upgrad*"`` matches ``"upgrading"``);
* a lone ``*`` matches zero to two arbitrary words (``"put * on hold"`` matches ``"put me back on hold"``);
* ``{num}``, ``{ord}`` and ``{neg}`` match a count (``3``, ``three``, ``a few``), an ordinal (``third``,
  ``3rd``) and a negation (``not``, ``isn't``, ``has not`` ...); callers may add their own macros.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

__all__ = [
    "MACROS",
    "clean_span",
    "compile_indexed",
    "compile_phrases",
    "count_words",
    "is_negated",
    "phrase_index",
    "split_sentences",
    "truncate",
    "words",
]

_WORD_RE = re.compile(r"\w+(?:['\u2019]\w+)*")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?\u2026])\s+")
_SPACE_RE = re.compile(r"\s+")
_ABBREVIATION_END_RE = re.compile(r"(?:\b[ap]\.m|\b(?:dr|mr|mrs|ms|st|no|vs|etc|approx))\.$", re.IGNORECASE)
_CLAUSE_BREAK_RE = re.compile(r"[.!?;,:\u2026]")

_APOS = "['\u2019]"

MACROS: Final[Mapping[str, str]] = {
    "{num}": (
        r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|"
        r"a\W+few|a\W+couple(?:\W+of)?|a\W+dozen|several|multiple|many|numerous|countless)"
    ),
    "{ord}": (
        r"(?:second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|umpteenth|millionth|"
        r"\d+(?:st|nd|rd|th))"
    ),
    "{neg}": (
        r"(?:not|never|no|cannot|"
        rf"(?:is|are|was|were|has|have|had|does|do|did|wo|ca|could|would|should)n{_APOS}?t|"
        r"(?:is|are|was|were|has|have|had|does|do|did)\W+not)"
    ),
}

# Words that negate a following cue (checked in the few words before it, within the same clause).
_NEGATORS = frozenset(
    {
        "not",
        "no",
        "never",
        "neither",
        "nor",
        "without",
        "hardly",
        "barely",
        "cannot",
        "nothing",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "hasnt",
        "havent",
        "hadnt",
        "wont",
        "cant",
        "couldnt",
        "wouldnt",
        "shouldnt",
        "aint",
    }
)
_NEGATION_WINDOW_WORDS = 3
_NEGATION_LOOKBACK_CHARS = 64

_WILDCARD_WORDS = r"(?:\W+\w+(?:['\u2019]\w+)*){0,2}"


def words(text: str) -> list[str]:
    """The lower-cased words of ``text`` (letters/digits, with inner apostrophes kept)."""
    return [w.lower().replace("\u2019", "'") for w in _WORD_RE.findall(text)]


def count_words(text: str) -> int:
    """How many words ``text`` has; punctuation-only or empty text has none."""
    return sum(1 for _ in _WORD_RE.finditer(text))


def clean_span(text: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends."""
    return _SPACE_RE.sub(" ", text).strip()


def split_sentences(text: str) -> list[str]:
    """Split on sentence-final punctuation followed by whitespace (not after a common abbreviation
    such as "a.m." or "Dr."); drops parts without any word."""
    merged: list[str] = []
    for part in (clean_span(p) for p in _SENTENCE_END_RE.split(text)):
        if merged and _ABBREVIATION_END_RE.search(merged[-1]):
            merged[-1] = f"{merged[-1]} {part}"
        else:
            merged.append(part)
    return [p for p in merged if _WORD_RE.search(p)]


def truncate(text: str, limit: int = 120) -> str:
    """Shorten ``text`` to at most ``limit`` characters, cutting on a word boundary and adding "..."."""
    text = clean_span(text)
    if len(text) <= limit:
        return text
    budget = max(1, limit - 3)
    cut = text[:budget]
    space = cut.rfind(" ")
    if space > budget // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "..."


def is_negated(text: str, start: int) -> bool:
    """Whether one of the few words right before ``text[start:]`` (same clause) is a negation."""
    before = text[max(0, start - _NEGATION_LOOKBACK_CHARS) : start]
    breaks = list(_CLAUSE_BREAK_RE.finditer(before))
    if breaks:
        before = before[breaks[-1].end() :]
    tail = words(before)[-_NEGATION_WINDOW_WORDS:]
    for word in tail:
        bare = word.replace("'", "")
        if bare in _NEGATORS or word.endswith("n't"):
            return True
    return False


def _word_regex(token: str, macros: Mapping[str, str]) -> str:
    if token in macros:
        return macros[token]
    prefix = len(token) > 1 and token.endswith("*")
    core = token[:-1] if prefix else token
    out: list[str] = []
    for ch in core:
        if ch in "'\u2019":
            out.append(f"{_APOS}?")
        elif ch == "-":
            out.append(r"[-\s]?")
        else:
            out.append(re.escape(ch))
    if prefix:
        out.append(r"\w*")
    return "".join(out)


def _starts_with_word(token: str, macros: Mapping[str, str]) -> bool:
    return token in macros or bool(re.match(r"\w", token))


def _ends_with_word(token: str, macros: Mapping[str, str]) -> bool:
    return token in macros or token.endswith("*") or bool(re.search(r"\w$", token))


def _phrase_body(phrase: str, macros: Mapping[str, str] | None) -> tuple[bool, str]:
    """(whether the phrase starts with a word character, its regex without the left word boundary)."""
    table = {**MACROS, **(macros or {})}
    tokens = phrase.lower().split()
    if not tokens or tokens[0] == "*" or tokens[-1] == "*":
        raise ValueError(f"invalid phrase {phrase!r}: empty, or starts/ends with a lone '*'")
    parts: list[str] = []
    for i, token in enumerate(tokens):
        if token == "*":
            parts.append(_WILDCARD_WORDS)
            continue
        if i > 0:
            parts.append(r"\W+")
        parts.append(_word_regex(token, table))
    if _ends_with_word(tokens[-1], table):
        parts.append(r"(?!\w)")
    return _starts_with_word(tokens[0], table), "".join(parts)


def _alternation(bodies: Sequence[tuple[bool, str]]) -> re.Pattern[str]:
    at_word = "|".join(body for word_start, body in bodies if word_start)
    elsewhere = [body for word_start, body in bodies if not word_start]
    alternatives = ([rf"(?<!\w)(?:{at_word})"] if at_word else []) + elsewhere
    if not alternatives:
        return re.compile(r"(?!x)x")
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _specificity(phrase: str) -> tuple[int, int, str]:
    return (-len(phrase.split()), -len(phrase), phrase)


def compile_phrases(phrases: Iterable[str], macros: Mapping[str, str] | None = None) -> re.Pattern[str]:
    """One case-insensitive pattern matching any of ``phrases``, longer phrases tried first.

    The left word boundary is factored out of the alternation, so the regex engine only tries the
    alternatives at word starts (several times faster on long text). With no phrases the pattern
    never matches.
    """
    unique = sorted(set(phrases), key=_specificity)
    bodies = [_phrase_body(p, macros) for p in unique]
    return _alternation([(word_start, f"(?:{body})") for word_start, body in bodies])


def compile_indexed(phrases: Sequence[str], macros: Mapping[str, str] | None = None) -> re.Pattern[str]:
    """Like ``compile_phrases``, but the match tells which phrase matched: ``phrase_index(match)`` is
    its position in ``phrases``."""
    order = sorted(range(len(phrases)), key=lambda i: _specificity(phrases[i]))
    bodies = [(i, *_phrase_body(phrases[i], macros)) for i in order]
    return _alternation([(word_start, f"(?P<p{i}>{body})") for i, word_start, body in bodies])


def phrase_index(match: re.Match[str]) -> int:
    """Which phrase of a ``compile_indexed`` pattern produced ``match``."""
    name = match.lastgroup
    if name is None or not name.startswith("p"):
        raise ValueError("not a match of a compile_indexed pattern")
    return int(name[1:])
