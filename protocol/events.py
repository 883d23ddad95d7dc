"""Transcript results in a dialect-neutral form, and the ISO 8601 durations Genesys positions use.

The speech pipeline produces `TranscriptUpdate`s; each dialect's session turns one into its own
`event` message (the simple dialect's `entity`, or a Transcription Connector `transcript` entity).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from protocol.errors import ProtocolError

_DURATION = re.compile(r"^PT(\d*\.)?\d+S$")


def parse_duration(value: object, name: str = "duration") -> float:
    """`PT12.4S` → 12.4 seconds; ProtocolError 400 for anything else."""
    if not isinstance(value, str) or not _DURATION.match(value):
        raise ProtocolError(400, f"'{name}' must be an ISO 8601 duration like PT12.4S, got {str(value)[:40]!r}")
    return float(value[2:-1])


def format_duration(seconds: float) -> str:
    """12.4 → `PT12.4S`; millisecond precision, no trailing zeros, never negative."""
    text = f"{max(0.0, seconds):.3f}".rstrip("0").rstrip(".")
    return f"PT{text}S"


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds on the stream timeline
    end: float
    confidence: float


@dataclass(frozen=True)
class TranscriptUpdate:
    """One partial or final transcript of one utterance on one channel, positioned on the stream."""

    utterance_id: str
    channel: int
    speaker: str
    text: str
    is_final: bool
    start: float  # seconds on the stream timeline (gaps from discarded audio included)
    end: float
    language: str
    confidence: float | None = None
    words: tuple[Word, ...] = field(default_factory=tuple)
