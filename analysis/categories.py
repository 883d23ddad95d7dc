"""Phrase-list categories: process issues, repeated problems and marketing mentions.

QA teams track specific events in a call (holds, transfers, dropped calls, repeat callers, upsell
offers, competitor names) rather than a single score. These are best found with curated phrase
lists that analysts can read and extend, so the lists are data, not code: ``default_categories.json``
(category -> label -> phrases, loaded once with ``importlib.resources``), written in the phrase
syntax of ``analysis.text`` (case-insensitive, word boundaries, tolerant of punctuation, ``*`` and
``{num}``/``{ord}``/``{neg}`` for simple flexible matches such as "put * on hold" or
"called {num} times").

Phrases find the wording analysts expect; ``analysis.semantic_categories`` adds matches by meaning
against the example sentences of ``category_examples.json``. A user's categories file (JSON or
TOML, see ``load_category_tables`` and docs/analytics.md) extends or overrides both.

Each match becomes a ``CategoryHit`` holding the matched text, the utterance's start time and its
speaker. Within one label, overlapping phrases count once (the longer phrase wins); the same stretch
of text may still count under two labels. ``describe`` turns the hits of one category into the
human-readable column of the analysis event, e.g.
``hold (2): "put me on hold" @12.3s; transfer (1): "transfer you" @40.0s``, or ``none``. A count is the
number of utterances that mention the label (``utterance_counts``), not of phrases matched: "hold on,
I'll put you on hold" is one utterance about a hold.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Final

from analysis.text import clean_span, compile_phrases, truncate
from analysis.types import CategoryHit

__all__ = [
    "CATEGORY_NAMES",
    "DEFAULT_CATEGORIES_RESOURCE",
    "DEFAULT_EXAMPLES_RESOURCE",
    "MAX_DESCRIPTION_CHARS",
    "CategoryMatcher",
    "CategoryTables",
    "default_categories",
    "default_examples",
    "default_matcher",
    "describe",
    "load_category_tables",
    "utterance_counts",
]

CATEGORY_NAMES: Final = ("process_issues", "repeated_problems", "marketing_mentions")
DEFAULT_CATEGORIES_RESOURCE: Final = "default_categories.json"
DEFAULT_EXAMPLES_RESOURCE: Final = "category_examples.json"
_MAX_UTTERANCE_CHARS: Final = 300
MAX_DESCRIPTION_CHARS: Final = 300
_MAX_PHRASE_CHARS: Final = 60

CategoryTable = Mapping[str, Mapping[str, Sequence[str]]]


def _validated(raw: object) -> dict[str, dict[str, tuple[str, ...]]]:
    if not isinstance(raw, dict):
        raise ValueError("category table must map category -> label -> list of phrases")
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    for category, labels in raw.items():
        if not isinstance(category, str) or not isinstance(labels, dict):
            raise ValueError(f"category {category!r} must map labels to phrase lists")
        table[category] = {}
        for label, phrases in labels.items():
            if (
                not isinstance(label, str)
                or not isinstance(phrases, list | tuple)
                or not all(isinstance(p, str) and p.strip() for p in phrases)
            ):
                raise ValueError(f"{category}/{label!r} must be a list of non-empty strings")
            table[category][label] = tuple(p.strip() for p in phrases)
    return table


@cache
def default_categories() -> dict[str, dict[str, tuple[str, ...]]]:
    """The packaged default phrase lists (category -> label -> phrases), read once."""
    raw = resources.files("analysis").joinpath(DEFAULT_CATEGORIES_RESOURCE).read_text(encoding="utf-8")
    return _validated(json.loads(raw))


@cache
def default_examples() -> dict[str, dict[str, tuple[str, ...]]]:
    """The packaged example sentences for matching by meaning (category -> label -> sentences)."""
    raw = resources.files("analysis").joinpath(DEFAULT_EXAMPLES_RESOURCE).read_text(encoding="utf-8")
    return _validated(json.loads(raw))


Table = dict[str, dict[str, tuple[str, ...]]]


@dataclass(frozen=True)
class CategoryTables:
    """Phrase lists and example sentences, both category -> label -> strings."""

    phrases: Table
    examples: Table


def _read_file(path: Path) -> object:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        return tomllib.loads(text)
    return json.loads(text)


def _merge(base: Table, category: str, label: str, values: Sequence[str], replace: bool) -> None:
    labels = base.setdefault(category, {})
    old = () if replace else labels.get(label, ())
    labels[label] = tuple(dict.fromkeys([*old, *(v.strip() for v in values)]))
    if not labels[label]:
        del labels[label]


def load_category_tables(path: Path | None = None) -> CategoryTables:
    """The default phrases and examples, extended (or overridden) by the user's file at ``path``.

    The file (``.json``, or ``.toml``) maps category -> label -> either a list of phrases, or a table
    with optional ``phrases`` and ``examples`` lists and ``replace`` (true: drop the default phrases
    and examples of that label instead of adding to them). New labels and categories are allowed.
    A malformed file raises ``ValueError`` naming the file and the problem.
    """
    phrases = {c: dict(labels) for c, labels in default_categories().items()}
    examples = {c: dict(labels) for c, labels in default_examples().items()}
    if path is None:
        return CategoryTables(phrases, examples)
    for category, label, entry in _user_entries(path):
        replace = bool(entry.get("replace", False))
        for key, table in (("phrases", phrases), ("examples", examples)):
            values = _entry_strings(path, f"{category}/{label}/{key}", entry.get(key, []))
            if values or replace:
                _merge(table, str(category), str(label), values, replace)
    _check_phrases(path, phrases)
    return CategoryTables(phrases, examples)


def _user_entries(path: Path) -> Iterator[tuple[object, object, dict[str, object]]]:
    """(category, label, table with phrases/examples/replace) for each label of the user's file."""
    try:
        raw = _read_file(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read categories file {path}: {error}") from error
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the top level must map category -> label -> phrases")
    for category, labels in raw.items():
        if not isinstance(labels, dict):
            raise ValueError(f"{path}: category {category!r} must map labels to phrase lists or tables")
        for label, entry in labels.items():
            yield category, label, _user_entry(path, f"{category}/{label}", entry)


def _user_entry(path: Path, where: str, entry: object) -> dict[str, object]:
    """One label's entry as a table: a bare list is its phrases."""
    if isinstance(entry, list):
        entry = {"phrases": entry}
    if not isinstance(entry, dict) or set(entry) - {"phrases", "examples", "replace"}:
        raise ValueError(f"{path}: {where} must be a list or a table of phrases/examples/replace")
    return entry


def _check_phrases(path: Path, phrases: Table) -> None:
    """Every phrase compiles (the file's phrases are written in the phrase syntax too)."""
    try:
        compile_phrases([p for labels in phrases.values() for ps in labels.values() for p in ps])
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def _entry_strings(path: Path, where: str, values: object) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise ValueError(f"{path}: {where} must be a list of non-empty strings")
    return values


class CategoryMatcher:
    """Finds category phrases in utterance text; compiled once, reused for every utterance."""

    def __init__(self, table: CategoryTable) -> None:
        valid = _validated({c: {lab: list(p) for lab, p in labels.items()} for c, labels in table.items()})
        self._patterns: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
            (category, label, compile_phrases(phrases))
            for category, labels in valid.items()
            for label, phrases in labels.items()
        )

    def match(self, text: str, start: float, speaker: str) -> tuple[CategoryHit, ...]:
        """All hits in one utterance, in category/label order then text order."""
        if not text or not text.strip():
            return ()
        hits: list[CategoryHit] = []
        utterance_text = truncate(text, _MAX_UTTERANCE_CHARS)
        for category, label, pattern in self._patterns:
            for found in pattern.finditer(text):
                phrase = truncate(clean_span(found.group(0)), _MAX_PHRASE_CHARS)
                hits.append(CategoryHit(category, label, phrase, start, speaker, text=utterance_text))
        return tuple(hits)


@cache
def default_matcher() -> CategoryMatcher:
    """The matcher for the packaged default phrase lists, built once."""
    return CategoryMatcher(default_categories())


def _utterances(hits: Iterable[CategoryHit]) -> set[tuple[float, str, str]]:
    """The utterances the hits were found in: a hit carries its utterance's start, speaker and text."""
    return {(hit.start, hit.speaker, hit.text) for hit in hits}


def utterance_counts(hits: Iterable[CategoryHit], category: str) -> dict[str, int]:
    """label -> how many utterances mention it, for one category; labels in order of first mention."""
    grouped: dict[str, list[CategoryHit]] = {}
    for hit in sorted((h for h in hits if h.category == category), key=lambda h: h.start):
        grouped.setdefault(hit.label, []).append(hit)
    return {label: len(_utterances(label_hits)) for label, label_hits in grouped.items()}


def describe(hits: Iterable[CategoryHit], category: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    """Human-readable summary of one category's hits: labels in order of first occurrence.

    ``label (count): "first phrase" @start s`` parts joined by ``; ``, or ``none`` without hits;
    kept under ``limit`` characters by dropping the later labels (``; +N more``).
    """
    grouped: dict[str, list[CategoryHit]] = {}
    for hit in sorted((h for h in hits if h.category == category), key=lambda h: h.start):
        grouped.setdefault(hit.label, []).append(hit)
    if not grouped:
        return "none"
    parts: list[str] = []
    for label, label_hits in grouped.items():
        first = label_hits[0]
        phrase = first.phrase.replace('"', "'")
        parts.append(f'{label} ({len(_utterances(label_hits))}): "{phrase}" @{first.start:.1f}s')
    text = "; ".join(parts)
    if len(text) < limit:
        return text
    kept: list[str] = []
    for index, part in enumerate(parts):
        remaining = len(parts) - index - 1
        suffix = f"; +{remaining} more" if remaining else ""
        if len("; ".join([*kept, part])) + len(suffix) >= limit:
            break
        kept.append(part)
    if not kept:
        return truncate(parts[0], limit - 1)
    if len(kept) == len(parts):
        return "; ".join(kept)
    return "; ".join(kept) + f"; +{len(parts) - len(kept)} more"
