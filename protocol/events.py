"""Transcript results in a dialect-neutral form, and the ISO 8601 durations Genesys positions use.

The speech pipeline produces `TranscriptUpdate`s; each dialect's session turns one into its own
`event` message (the simple dialect's `entity`, or a Transcription Connector `transcript` entity).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from protocol.errors import ProtocolError

_DURATION = re.compile(r"PT(\d*\.)?\d+S")


MAX_DURATION_S = 1e9  # about 31 years: anything longer is not a call


def parse_duration(value: object, name: str = "duration") -> float:
    """`PT12.4S` → 12.4 seconds; ProtocolError 400 for anything else (or anything absurdly long)."""
    if not isinstance(value, str) or not _DURATION.fullmatch(value):
        raise ProtocolError(400, f"'{name}' must be an ISO 8601 duration like PT12.4S, got {ascii(value)[:40]}")
    seconds = float(value[2:-1])
    if seconds > MAX_DURATION_S:
        raise ProtocolError(400, f"'{name}' of {value[:40]} is longer than any call")
    return seconds


def format_duration(seconds: float) -> str:
    """12.4 → `PT12.4S`; millisecond precision, no trailing zeros, never negative (nor infinite)."""
    if not math.isfinite(seconds):
        seconds = 0.0
    text = f"{max(0.0, seconds):.3f}".rstrip("0").rstrip(".")
    return f"PT{text}S"


@dataclass(frozen=True)
class Word:
    """One recognized word. Whisper gives its times from the start of the utterance's audio; the call
    core moves them onto the stream timeline (`shifted`) before anything is sent or written."""

    text: str
    start: float  # seconds
    end: float
    confidence: float  # 0..1

    def shifted(self, offset: float) -> Word:
        return Word(self.text, self.start + offset, self.end + offset, self.confidence)

    def to_json(self) -> dict[str, Any]:
        """The word as the simple and live dialects send it."""
        return {
            "word": self.text,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "confidence": round(self.confidence, 4),
        }


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
    language: str  # bare code (`en`, `de`): what it was transcribed as
    confidence: float | None = None
    words: tuple[Word, ...] = field(default_factory=tuple)
    # How sure the language detection was (None: the caller named the language, nothing was detected).
    language_probability: float | None = None
    translation: str | None = None  # a final not in English: Whisper's English translation of it
    # Diarized (a mono call's channel, calls.speakers): the label of the voice (`speaker_1`, …), how sure
    # the role in `speaker` is; None where the channel says who speaks.
    speaker_id: str | None = None
    role_confidence: float | None = None

    def speaker_fields(self) -> dict[str, Any]:
        """`speaker_id` and `role_confidence` as the simple, JWT and HTTP events carry them (none when
        the channel says who speaks)."""
        fields: dict[str, Any] = {}
        if self.speaker_id is not None:
            fields["speaker_id"] = self.speaker_id
        if self.role_confidence is not None:
            fields["role_confidence"] = round(self.role_confidence, 3)
        return fields


@dataclass(frozen=True)
class SpeakerCorrection:
    """One final whose speaker the end-of-call diarization changed (what was sent, and what is now)."""

    utterance_id: str
    speaker: str
    speaker_id: str
    previous_speaker: str
    previous_speaker_id: str
    role_confidence: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "utterance_id": self.utterance_id,
            "speaker": self.speaker,
            "speaker_id": self.speaker_id,
            "previous_speaker": self.previous_speaker,
            "previous_speaker_id": self.previous_speaker_id,
        }
        if self.role_confidence is not None:
            out["role_confidence"] = round(self.role_confidence, 3)
        return out


@dataclass(frozen=True)
class SpeakerUpdate:
    """The corrections of the end-of-call diarization: sent once, before the session's end."""

    corrections: tuple[SpeakerCorrection, ...]

    def to_json(self) -> dict[str, Any]:
        return {"corrections": [c.to_json() for c in self.corrections]}
