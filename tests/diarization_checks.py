"""How well finals' speakers match the scripted dialogue call (tests/fixtures/dialogue/call.json):
shared by the door tests that stream its mono version."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.speech_fixtures import DIALOGUE


@dataclass(frozen=True)
class Turn:
    speaker: str  # agent or customer
    start: float
    end: float
    words: int


def dialogue_turns() -> list[Turn]:
    script = json.loads((DIALOGUE / "call.json").read_text())
    return [Turn(t["speaker"], t["start"], t["end"], len(t["text"].split())) for t in script["turns"]]


def turn_of(start: float, end: float, turns: Sequence[Turn]) -> Turn:
    """The scripted turn a final overlaps most."""
    return max(turns, key=lambda t: min(end, t.end) - max(start, t.start))


def role_share(spans: Sequence[tuple[float, float, str, int]], turns: Sequence[Turn]) -> float:
    """The share of words (start, end, role, words) whose role is the scripted speaker's."""
    right = sum(n for start, end, role, n in spans if turn_of(start, end, turns).speaker == role)
    total = sum(n for *_, n in spans)
    return right / total if total else 0.0


def label_is_consistent(spans: Sequence[tuple[float, float, str, int]], turns: Sequence[Turn]) -> float:
    """The share of words whose diarized label (start, end, label, words) is the one most of their
    scripted speaker's words have: how well the labels separate the voices, whatever their names."""
    by_speaker: dict[str, dict[str, int]] = {}
    for start, end, label, n in spans:
        counts = by_speaker.setdefault(turn_of(start, end, turns).speaker, {})
        counts[label] = counts.get(label, 0) + n
    right = sum(max(counts.values()) for counts in by_speaker.values())
    total = sum(n for *_, n in spans)
    labels = [max(counts, key=lambda k: counts[k]) for counts in by_speaker.values()]
    return right / total if total and len(set(labels)) == len(labels) else 0.0


def corrected(finals: Sequence[dict[str, Any]], corrections: Sequence[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """utterance_id -> (speaker, speaker_id) once a `speaker_update`'s corrections are applied, checking
    that each correction names what was sent."""
    now = {f["utterance_id"]: (f["speaker"], f["speaker_id"]) for f in finals}
    for c in corrections:
        assert now[c["utterance_id"]] == (c["previous_speaker"], c["previous_speaker_id"]), c
        now[c["utterance_id"]] = (c["speaker"], c["speaker_id"])
    return now
