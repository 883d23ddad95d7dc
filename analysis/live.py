"""The live analytics of one call, in one place: what each new utterance adds, and the call's view.

``CallAnalyzer`` already finds each utterance's sentiment, contact-centre emotion, category hits and
decision cues; this module turns them, once per utterance, into what a supervisor acts on live:

* the 7-way emotion and PAD scores (``analysis.emotion_pad``; the voice terms from
  ``analysis.prosody`` only when ``voice`` is on),
* the moments (``analysis.moments``), the customer's transitions (``analysis.transitions``),
* the conversation dynamics (``analysis.dynamics``) and the cognitive signals (``analysis.cognitive``),
* alerts (escalation requests, cancellation threats, sustained anger, long dead air),

and ``view`` gives the call-level picture (the summary file's ``dynamics``, ``cognitive``,
``transitions``, ``moments``, ``alerts`` and the rolling summary of ``analysis.live_summary``).
Every update costs about the new utterance: regular expressions on its text, the trackers' small
incremental state; nothing re-reads the call. Pure, one ``LiveAnalytics`` per call, not thread-safe.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from analysis.cognitive import CognitiveTracker, CognitiveTurn
from analysis.decisions import DecisionCues
from analysis.dynamics import DynamicsTracker, SpokenSpan
from analysis.emotion_pad import PadEmotion, pad_emotion
from analysis.live_summary import LiveSummaryInput, rolling_summary, summary_key
from analysis.moments import Moment, MomentTracker, MomentTurn
from analysis.prosody import Prosody, ProsodyBaseline, ProsodyChange
from analysis.text import compile_phrases
from analysis.transitions import ANGER_ALERT, Transition, TransitionTracker, TransitionTurn
from analysis.types import CallAnalysis, CategoryHit, UtteranceAnalysis

__all__ = [
    "CallContext",
    "LiveAnalytics",
    "LiveInput",
    "LiveUpdate",
    "live_fields",
    "talk_spans",
    "utterance_emotion",
]

MAX_LISTED: Final = 200  # moments/transitions kept in the view (the files keep every one via the events)
# A pause this long between the words of one final splits it for the dynamics.
SPLIT_GAP_S: Final = 0.8
# The speech span of a final (calls.speech_span: the VAD's voiced frames around its words) runs on about
# this far past the speech at each end: the VAD's hangover, measured on the rendered calls of
# benchmarks/bench_dynamics.py (talk time 0.07-0.09 s too long per turn); the dynamics take it off.
EDGE_S: Final = 0.04
# The agent back from a hold: the silence before is the hold, whether or not its start was announced in
# words the hold phrases know ("Thanks for holding. The driver left it with a neighbour.")
_HOLD_RETURN: Final = compile_phrases(
    ["thanks for holding", "thank you for holding", "thanks for waiting", "thank you for waiting",
     "sorry to keep you waiting", "sorry for the wait", "thanks for bearing with me", "thank you for bearing with me",
     "thanks for your patience", "thank you for your patience"]
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LiveInput:
    """One analysed utterance, as the live analytics read it."""

    utterance_id: str
    speaker: str
    channel: int
    text: str
    start: float
    end: float
    words: int
    result: UtteranceAnalysis
    hits: tuple[CategoryHit, ...]
    cues: DecisionCues
    accepted: bool
    resolution_sentence: str | None
    word_times: tuple[tuple[float, float], ...] = ()
    embedding: npt.NDArray[np.float32] | None = None
    prosody: Prosody | None = None
    voiced: tuple[tuple[float, float], ...] = ()  # the VAD's voiced runs (stream seconds)


@dataclass(frozen=True, slots=True)
class LiveUpdate:
    """What one utterance added."""

    emotion: PadEmotion
    moments: tuple[Moment, ...]
    transitions: tuple[Transition, ...]


@dataclass(frozen=True, slots=True)
class CallContext:
    """The call-level results the rolling summary reads (from ``CallAnalyzer``)."""

    summary_parts: Mapping[str, str]
    outcome: str
    agent_score: int
    agent_evidence: Mapping[str, str]
    agent_breakdown: Mapping[str, float]


def talk_spans(
    speaker: str,
    start: float,
    end: float,
    words: int,
    word_times: tuple[tuple[float, float], ...],
    text: str = "",
    hold_announced: bool = False,
    voiced: tuple[tuple[float, float], ...] = (),
    hold_returned: bool = False,
) -> list[SpokenSpan]:
    """One final as the dynamics see it, split where it pauses ``SPLIT_GAP_S`` or longer (a
    back-channel the segmenter joined to the speaker's next sentence is then a back-channel again, not
    one long turn that overlaps the other speaker), each piece trimmed by ``EDGE_S`` at both ends.

    The pauses are the gaps between the VAD's voiced runs inside the final (``voiced``: where there is
    sound) when the pipeline gave them, else between Whisper's word times (which stretch a word into
    the pause after it); each piece gets the words whose middle falls in it (the final's word count
    shared out in proportion when there are no word times)."""
    runs = [(max(start, a), min(end, b)) for a, b in voiced if b > a and b > start and a < end]
    source = sorted(runs) if runs else list(word_times)
    pieces: list[list[float]] = []
    for a, b in source:
        if pieces and a - pieces[-1][1] < SPLIT_GAP_S:
            pieces[-1][1] = max(pieces[-1][1], b)
        else:
            pieces.append([a, b])
    if len(pieces) <= 1 or words <= 0:
        bounds = [(start, end, words)]
    else:
        pieces[0][0], pieces[-1][1] = start, end
        if word_times:
            middles = [(a + b) / 2 for a, b in word_times]
            counts = [float(sum(1 for m in middles if _nearest(pieces, m) == i)) for i in range(len(pieces))]
        else:
            counts = [b - a for a, b in pieces]
        total = sum(counts) or 1
        shares = [round(words * n / total) for n in counts]
        shares[-1] = max(0, words - sum(shares[:-1]))
        bounds = [(a, b, n) for (a, b), n in zip(pieces, shares, strict=True)]
    found = []
    for index, (a, b, n) in enumerate(bounds):
        if b - a > 2 * EDGE_S:
            a, b = a + EDGE_S, b - EDGE_S
        found.append(
            SpokenSpan(
                speaker,
                a,
                b,
                n,
                text,
                hold_announced=hold_announced and index == len(bounds) - 1,
                hold_returned=hold_returned and index == 0,
            )
        )
    return found


def _nearest(pieces: list[list[float]], moment: float) -> int:
    """The piece that holds ``moment`` (or is nearest to it)."""
    return min(range(len(pieces)), key=lambda i: max(pieces[i][0] - moment, moment - pieces[i][1], 0.0))


def _probability(result: UtteranceAnalysis) -> float:
    return float(result.sentiment_scores.get(result.sentiment, 0.0)) if result.sentiment_scores else 0.5


def _gaps(word_times: tuple[tuple[float, float], ...]) -> tuple[float, ...]:
    return tuple(max(0.0, b[0] - a[1]) for a, b in itertools.pairwise(word_times))


@dataclass
class LiveAnalytics:
    """The live analytics of one call (see the module docstring)."""

    voice: bool = False  # use the voice (prosody) terms of arousal and dominance
    goal: str = ""
    _moments: MomentTracker = field(default_factory=MomentTracker)
    _transitions: TransitionTracker = field(default_factory=TransitionTracker)
    _dynamics: DynamicsTracker | None = None
    _cognitive: CognitiveTracker = field(default_factory=CognitiveTracker)
    _baselines: dict[str, ProsodyBaseline] = field(default_factory=dict)
    _channels: set[int] = field(default_factory=set)
    _speakers: set[str] = field(default_factory=set)
    _spans: list[SpokenSpan] = field(default_factory=list)
    alerts: list[dict[str, object]] = field(default_factory=list)

    def add(self, item: LiveInput) -> LiveUpdate:
        """Analyse one utterance (and only it)."""
        self._channels.add(item.channel)
        self._speakers.add(item.speaker)
        change: ProsodyChange | None = None
        if self.voice:  # the voice against the speaker's own baseline, only when the voice terms are on
            duration = item.end - item.start
            rate = item.words / duration if duration > 0 and item.words else None
            change = self._baselines.setdefault(item.speaker, ProsodyBaseline()).change(item.prosody, rate)
        result = item.result
        feeling = pad_emotion(item.text, result.emotion_scores, result.sentiment_score, change)
        moments: list[Moment] = []
        if item.words:
            moments += self._moments.add(
                MomentTurn(
                    item.utterance_id,
                    item.speaker,
                    item.text,
                    item.start,
                    item.end,
                    item.hits,
                    result.sentiment,
                    result.emotion,
                    item.cues,
                    item.accepted,
                    item.resolution_sentence,
                )
            )
        transitions: list[Transition] = []
        if item.words:
            unfollowed = self._transitions.state is None and self._transitions.followed not in self._speakers
            if unfollowed and item.speaker not in ("customer", "agent"):
                self._transitions.followed = item.speaker  # a call without roles follows whoever speaks
            transitions = self._transitions.add(
                TransitionTurn(
                    item.utterance_id,
                    item.speaker,
                    item.text,
                    item.start,
                    result.sentiment,
                    _probability(result),
                    result.emotion,
                    feeling.distribution,
                    feeling.pad.arousal,
                    item.accepted,
                )
            )
            angry = self._transitions.sustained_anger
            if angry is not None:
                moments.append(
                    self._moments.sustained_anger(angry.utterance_id, angry.speaker, angry.start, angry.text)
                )
        hold = (
            any(h.category == "process_issues" and h.label == "hold" for h in item.hits) and item.speaker != "customer"
        )
        back = item.speaker != "customer" and _HOLD_RETURN.search(item.text) is not None
        spans = talk_spans(
            item.speaker,
            item.start,
            item.end,
            item.words,
            item.word_times,
            item.text,
            hold and not back,
            item.voiced,
            hold_returned=back,
        )
        notices = []
        for span in spans:
            notices += self._tracker().add(span)  # (a rebuilt tracker is given the spans before this one)
            self._spans.append(span)
        for notice in notices:
            if notice.kind == "dead_air":
                moments.append(self._moments.dead_air(notice.start, notice.end))
        self._cognitive.add(
            CognitiveTurn(
                item.utterance_id,
                item.speaker,
                item.text,
                item.start,
                item.end,
                item.words,
                item.embedding,
                _gaps(item.word_times),
            )
        )
        for moment in moments:
            if moment.alert:
                self._alert("moment", moment.moment_id, moment.category, moment.start, moment.reason)
        for transition in transitions:
            if transition.alert:
                reason = transition.reason or ANGER_ALERT
                self._alert("transition", transition.transition_id, "sustained_anger", transition.at, reason)
        return LiveUpdate(feeling, tuple(moments), tuple(transitions))

    def _alert(self, kind: str, identifier: str, category: str, at: float, reason: str) -> None:
        """One alert for a supervisor: what raised it (a moment or a transition, by id), when and why."""
        self.alerts.append(
            {"kind": kind, "id": identifier, "category": category, "at_ms": round(at * 1000), "reason": reason}
        )

    def _tracker(self) -> DynamicsTracker:
        """The dynamics tracker; its basis is known once a second channel speaks (stereo), or it is mono."""
        basis = "channels" if len(self._channels) > 1 else "speakers"
        if self._dynamics is None or self._dynamics.basis != basis:  # (only ever speakers -> channels)
            self._dynamics = DynamicsTracker(basis)
            for span in self._spans:
                self._dynamics.add(span)
        return self._dynamics

    def dynamics(self) -> dict[str, object]:
        return self._tracker().snapshot() if self._spans else {}

    def cognitive(self) -> dict[str, dict[str, object]]:
        tracker = self._tracker()
        mean_latency, _ = tracker.latency()
        found: dict[str, dict[str, object]] = {}
        for speaker in self._cognitive.speakers:
            signals = self._cognitive.signals(
                speaker,
                talk_share=tracker.talk_share(speaker),
                latency_s=mean_latency if speaker == "agent" else None,
            )
            if signals is not None:
                found[speaker] = signals.to_json()
        return found

    def view(self, context: CallContext) -> dict[str, object]:
        """The call's live analytics so far (the summary file's keys, and the rolling summary)."""
        dynamics = self.dynamics()
        cognitive = self.cognitive()
        moments = self._moments.moments
        transitions = self._transitions.transitions
        data = LiveSummaryInput(
            summary_parts=context.summary_parts,
            outcome=context.outcome,
            customer_state=self._transitions.state,
            agent_score=context.agent_score,
            agent_evidence=context.agent_evidence,
            agent_breakdown=context.agent_breakdown,
            moments=moments,
            transitions=transitions,
            dynamics=dynamics,
            cognitive=cognitive,
            goal=self.goal,
            alerts=self.alerts,
        )
        return {
            "dynamics": dynamics,
            "cognitive": cognitive,
            "customer_state": self._transitions.state,
            "transitions": [t.to_json() for t in transitions[-MAX_LISTED:]],
            "moments": [m.to_json() for m in moments[-MAX_LISTED:]],
            "alerts": list(self.alerts[-MAX_LISTED:]),
            "rolling_summary": rolling_summary(data),
            "summary_key": summary_key(data),
        }


def utterance_emotion(result: UtteranceAnalysis) -> dict[str, object]:
    """The 7-way emotion of one utterance as the events carry it: ``emotion`` (label -> probability),
    ``scores`` (valence, arousal, dominance) and ``confidence``."""
    return {
        "emotion": dict(result.emotion7),
        "scores": dict(result.pad),
        "confidence": round(result.emotion_confidence, 4),
    }


def live_fields(result: UtteranceAnalysis | None, analysis: CallAnalysis) -> dict[str, object]:
    """The opt-in ``live`` field of the WebSocket doors' analysis block: this utterance's emotion,
    moments and transitions, and the call's customer state, dynamics and alerts so far."""
    live = analysis.live
    dynamics = live.get("dynamics")
    dynamics = dynamics if isinstance(dynamics, Mapping) else {}
    keep = ("overtalk_s", "overtalk_count", "dead_air_s", "longest_silence_s", "hold_s", "response_latency_s")
    speakers = dynamics.get("speakers")
    fields: dict[str, object] = {
        "customer_state": live.get("customer_state"),
        "dynamics": {
            **{key: dynamics[key] for key in keep if key in dynamics},
            "talk_share": {name: view.get("talk_share") for name, view in speakers.items() if isinstance(view, Mapping)}
            if isinstance(speakers, Mapping)
            else {},
        },
        "alerts": len(live.get("alerts") or ()),  # type: ignore[arg-type]
    }
    if result is not None:
        fields |= utterance_emotion(result)
        fields["moments"] = [moment.to_json() for moment in result.moments]
        fields["transitions"] = [transition.to_json() for transition in result.transitions]
    return fields
