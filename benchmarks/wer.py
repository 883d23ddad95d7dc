"""Measuring transcripts: text normalization and word error rate, for tests, benchmarks and QA.

Whisper writes "Mr. Dashwood", "cold-hearted", "ill-disposed"; reference transcripts say "mister
dashwood", "cold hearted". WER is computed after one normalization of both sides, so it measures
recognition, not punctuation style. Whisper also writes "10 of clubs" and "3rd" where references
say "ten of clubs" and "third": numerals are spelled out (num2words, a maintained library, rather than
a table of our own). jiwer (a maintained WER library) does the alignment. Both come with the `test`
extra.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "ok": "okay"}
_NON_WORD = re.compile(r"[^a-z0-9' ]+")
_NUMERAL = re.compile(r"\b(\d{1,9})(st|nd|rd|th)?\b")


def _spelled(match: re.Match[str]) -> str:
    from num2words import num2words

    return str(num2words(int(match[1]), to="ordinal" if match[2] else "cardinal")).replace(",", "")


def normalize_text(text: str) -> str:
    """Lowercase, spell out numerals, split hyphenated words, drop punctuation, expand abbreviations."""
    lowered = _NUMERAL.sub(_spelled, text.lower().replace(",000", "000")).replace("-", " ")
    words = _NON_WORD.sub(" ", lowered).split()
    return " ".join(_ABBREVIATIONS.get(w.strip("'"), w.strip("'")) for w in words if w.strip("'"))


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER over pairs of texts (normalized first)."""
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError("need one hypothesis per reference")
    refs = [normalize_text(r) for r in references]
    hyps = [normalize_text(h) for h in hypotheses]
    return float(jiwer.wer(refs, hyps))
