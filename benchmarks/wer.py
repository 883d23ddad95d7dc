"""Measuring transcripts: text normalization and word error rate, for tests, benchmarks and QA.

Whisper writes "Mr. Dashwood", "cold-hearted", "ill-disposed"; reference transcripts say "mister
dashwood", "cold hearted". WER is computed after one normalization of both sides, so it measures
recognition, not punctuation style. jiwer (a maintained WER library) does the alignment; it comes
with the `test` extra.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "ok": "okay"}
_NON_WORD = re.compile(r"[^a-z0-9' ]+")


def normalize_text(text: str) -> str:
    """Lowercase, split hyphenated words, drop punctuation, expand common abbreviations."""
    lowered = text.lower().replace("-", " ")
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
