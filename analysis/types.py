"""Value types shared by the analysis package and by the server code that feeds and reports it.

They are frozen dataclasses so that results handed to the transport layer cannot be changed behind
the analyzer's back, and so that they compare by value in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "EVENT_KEYS",
    "SPEAKERS",
    "CallAnalysis",
    "CategoryHit",
    "Utterance",
    "UtteranceAnalysis",
]

SPEAKERS = ("customer", "agent", "unknown")

# The keys of the protocol's `analysis` block, in order.
EVENT_KEYS = (
    "summary",
    "sentiment",
    "emotion",
    "agent_score",
    "process_issues",
    "repeated_problems",
    "marketing_mentions",
)


@dataclass(frozen=True)
class Utterance:
    """One final transcript segment."""

    text: str
    start: float  # seconds from session start
    end: float
    channel: int  # index of the audio channel in the session
    speaker: str  # "customer", "agent" or "unknown" (mono calls are "unknown")
    confidence: float = 1.0


@dataclass(frozen=True)
class UtteranceAnalysis:
    """What the analyzer found in one utterance."""

    sentiment: str  # "positive" | "neutral" | "negative"
    sentiment_score: float  # -1.0 .. 1.0 (VADER compound)
    emotion: str  # one label of EMOTION_LABELS


@dataclass(frozen=True)
class CategoryHit:
    """One phrase-list match."""

    category: str  # "process_issues" | "repeated_problems" | "marketing_mentions"
    label: str  # e.g. "hold", "transfer", "called_again", "upgrade"
    phrase: str  # the text that matched
    start: float  # the utterance's start time
    speaker: str


@dataclass(frozen=True)
class CallAnalysis:
    """Call-level analytics, as of the utterances seen so far."""

    summary: str
    sentiment: str  # call-level label
    sentiment_score: float
    emotion: str  # call-level label
    agent_score: int  # 1..5
    agent_score_breakdown: dict[str, float] = field(hash=False)  # rubric component -> points
    process_issues: str
    repeated_problems: str
    marketing_mentions: str
    hits: tuple[CategoryHit, ...]
    word_count: int

    def to_event(self) -> dict[str, object]:
        """The protocol's `analysis` block: exactly the keys summary, sentiment, emotion,
        agent_score, process_issues, repeated_problems, marketing_mentions."""
        return {
            "summary": self.summary,
            "sentiment": self.sentiment,
            "emotion": self.emotion,
            "agent_score": self.agent_score,
            "process_issues": self.process_issues,
            "repeated_problems": self.repeated_problems,
            "marketing_mentions": self.marketing_mentions,
        }
