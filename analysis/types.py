"""Value types shared by the analysis package and by the server code that feeds and reports it.

They are frozen dataclasses so that results handed to the transport layer cannot be changed behind
the analyzer's back, and so that they compare by value in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # they import this module
    from analysis.moments import Moment
    from analysis.prosody import Prosody
    from analysis.transitions import Transition

__all__ = [
    "EVENT_KEYS",
    "SPEAKERS",
    "CallAnalysis",
    "CategoryHit",
    "Utterance",
    "UtteranceAnalysis",
]

SPEAKERS = ("customer", "agent", "unknown")  # what an utterance's speaker can be; anything else is "unknown"

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
    language: str = "en"  # what was spoken
    translated: bool = False  # `text` is Whisper's English translation of what was said in `language`
    original: str = ""  # then: what was said (the categories' phrases are looked for in both)
    utterance_id: str = ""  # the id the events carry (moments and transitions name it)
    # the words' (start, end) in stream seconds, when the recognizer gave them (pauses between words)
    word_times: tuple[tuple[float, float], ...] = ()
    prosody: Prosody | None = None  # how it sounded (analysis.prosody), when the voice is measured
    voiced: tuple[tuple[float, float], ...] = ()  # the VAD's voiced runs in it (stream seconds), when known


@dataclass(frozen=True)
class UtteranceAnalysis:
    """What the analyzer found in one utterance."""

    sentiment: str  # "positive" | "neutral" | "negative"
    sentiment_score: float  # -1.0 .. 1.0 (VADER compound, or P(positive) - P(negative) for model backends)
    emotion: str  # one label of EMOTION_LABELS
    # label -> probability over EMOTION_LABELS (sums to 1); empty only when built by hand
    emotion_scores: dict[str, float] = field(default_factory=dict, hash=False)
    # "positive"/"neutral"/"negative" -> probability; empty only when built by hand
    sentiment_scores: dict[str, float] = field(default_factory=dict, hash=False)
    # the category hits found in this utterance (the call-level columns aggregate them)
    hits: tuple[CategoryHit, ...] = ()
    # the live analytics (analysis.live): the 7-way emotion (analysis.emotion_pad.EKMAN_LABELS ->
    # probability), PAD scores (valence, arousal, dominance in -1..1) and their confidence, and the
    # moments and customer-state transitions this utterance produced
    emotion7: dict[str, float] = field(default_factory=dict, hash=False)
    pad: dict[str, float] = field(default_factory=dict, hash=False)
    emotion_confidence: float = 0.0
    moments: tuple[Moment, ...] = ()
    transitions: tuple[Transition, ...] = ()

    @property
    def categories(self) -> str:
        """The hits as ``category/label`` pairs, ``; ``-separated, each once (the CSV's
        ``utterance_categories``), e.g. ``process_issues/hold; marketing_mentions/upgrade``."""
        return "; ".join(dict.fromkeys(f"{hit.category}/{hit.label}" for hit in self.hits))


@dataclass(frozen=True)
class CategoryHit:
    """One phrase-list match."""

    category: str  # "process_issues" | "repeated_problems" | "marketing_mentions"
    label: str  # e.g. "hold", "transfer", "called_again", "upgrade"
    phrase: str  # the text that matched (for a match by meaning: the sentence)
    start: float  # the utterance's start time
    speaker: str
    match: str = "phrase"  # "phrase" (phrase list) or "meaning" (embedding similarity to an example)
    similarity: float | None = None  # cosine similarity, for matches by meaning
    example: str | None = None  # the example phrase it was closest to, for matches by meaning
    text: str = ""  # the utterance's text (cut to 300 characters)


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
    # Details for the per-session summary file (``to_summary``); the event carries none of them.
    speakers: dict[str, dict[str, object]] = field(default_factory=dict, hash=False)
    customer_trajectory: dict[str, object] = field(default_factory=dict, hash=False)
    agent_score_evidence: dict[str, str] = field(default_factory=dict, hash=False)
    agent_score_limit: str = ""  # why the score was capped at 4 or raised to 2 ("" when it was not)
    summary_parts: dict[str, str] = field(default_factory=dict, hash=False)
    utterance_count: int = 0
    # the customer's decision (analysis.decisions.OUTCOME_LABELS), "" for a call without one (service)
    outcome: str = ""
    # per speaker: the language most of their utterances were in, and how many of them were read through
    # an English translation ({"agent": {"language": "de", "utterances": 12, "translated": 12}})
    languages: dict[str, dict[str, object]] = field(default_factory=dict, hash=False)
    # the live analytics so far (analysis.live.LiveAnalytics.view): dynamics, cognitive, customer_state,
    # transitions, moments, alerts, rolling_summary, summary_key
    live: dict[str, object] = field(default_factory=dict, hash=False)

    def to_event(self) -> dict[str, object]:
        """The protocol's `analysis` block: exactly the keys summary, sentiment, emotion,
        agent_score, process_issues, repeated_problems, marketing_mentions."""
        return {key: getattr(self, key) for key in EVENT_KEYS}

    def to_summary(self) -> dict[str, object]:
        """Everything known about the call, JSON-serialisable, for ``<session>.summary.json``.

        Keys: ``analysis`` (the event block), ``sentiment_score``, ``word_count``, ``utterance_count``,
        ``speakers`` (per speaker: rolling sentiment, score, emotion and emotion distribution),
        ``customer_trajectory`` (start -> end), ``agent_score`` (score, base, components, evidence),
        ``categories`` (category -> every hit with label, matched text, utterance text, time, speaker,
        how it matched and the similarity), ``summary_parts`` (issue, action, outcome, follow_up),
        ``languages`` (per speaker: language, utterances, how many read through a translation),
        ``analysed_from_translation``, and the live analytics: ``dynamics``, ``cognitive``,
        ``customer_state``, ``transitions``, ``moments``, ``alerts`` and ``rolling_summary``.
        """
        categories: dict[str, list[dict[str, object]]] = {}
        for hit in sorted(self.hits, key=lambda h: h.start):
            categories.setdefault(hit.category, []).append(
                {
                    "label": hit.label,
                    "matched": hit.phrase,
                    "utterance": hit.text,
                    "start": round(hit.start, 3),
                    "speaker": hit.speaker,
                    "match": hit.match,
                    "similarity": None if hit.similarity is None else round(hit.similarity, 3),
                    "example": hit.example,
                }
            )
        return {
            "analysis": self.to_event(),
            "sentiment_score": self.sentiment_score,
            "word_count": self.word_count,
            "utterance_count": self.utterance_count,
            "speakers": self.speakers,
            "customer_trajectory": self.customer_trajectory,
            "agent_score": {
                "score": self.agent_score,
                "base": 3.0,
                "components": dict(self.agent_score_breakdown),
                "evidence": dict(self.agent_score_evidence),
                "limit": self.agent_score_limit,
            },
            "categories": categories,
            "summary_parts": dict(self.summary_parts),
            "outcome": self.outcome,
            "languages": {speaker: dict(view) for speaker, view in self.languages.items()},
            # The text models are English: a call in another language was analysed from its translation.
            "analysed_from_translation": any(view.get("translated") for view in self.languages.values()),
            **{key: value for key, value in self.live.items() if key != "summary_key"},
        }
