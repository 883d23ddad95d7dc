"""The phrase syntax (analysis.text)."""

from __future__ import annotations

import pytest

from analysis.text import compile_phrases


def test_phrase_syntax_rejects_bad_phrases() -> None:
    with pytest.raises(ValueError):
        compile_phrases(["* on hold"])
    with pytest.raises(ValueError):
        compile_phrases(["on hold *"])
    assert compile_phrases([]).search("anything") is None
