"""Incremental call analysis: feed final utterances one at a time, ask for the call's analytics any time.

The server receives final transcript segments over the length of a call and reports analytics while
the call is live, so the expensive per-utterance work (VADER, emotion cues, category phrases, rubric
phrases, sentence splitting) runs exactly once, in ``CallAnalyzer.add``, and its results are kept.
``CallAnalyzer.analysis`` only aggregates those stored results (weighted means, counts, choosing
summary sentences); the result is cached until the next ``add``.

Call-level sentiment: the running state of the call as the customer feels it. With the default
models it is the learned tracker of ``analysis.call_state_model`` (a belief over negative, neutral and
positive, moved by every turn of a call with customer and agent); with the rules-only backend, with
``AnalysisConfig.call_state = "rules"`` and on a mono call without roles (which follows every speaker),
it is the rule of ``analysis.call_state``: a negative utterance pulls it down at once, a positive one
or an acceptance of an offer lifts it at once, neutral turns let it decay toward neutral. The
call-level emotion goes with it: the customer's recent emotions, restricted to the
pleasant ones when the state is positive and to the last few turns when it is neutral.

Offers and decisions (``analysis.decisions``): each utterance's cues are found once; an acceptance
of an agent's offer within reach is labelled positive (satisfied) even where the sentiment model
says neutral (never a sarcastic or negative one), and is a ``marketing_mentions`` hit
``offer_accepted`` (a decline: ``offer_declined``), so the column tells an offer made from one
accepted. The call's ``outcome`` (retention saved, cancelled, sale closed ...) and the summary's
agent action and outcome come from the decision when the call has one.

Per speaker, the rolling sentiment of the summary file keeps the word- and recency-weighted mean of
the utterances' scores (``RECENCY_DECAY ** age``, each utterance's words capped at ``MAX_WORD_WEIGHT``).

Speakers other than "customer" and "agent" are treated as "unknown". Utterances are ordered by
start time (then arrival) for everything that depends on order.

Per speaker, the same recency-weighted view gives a rolling sentiment, an emotion (``emotion.call_emotion``
over that speaker's labels) and a rolling emotion distribution (the same weights over the utterances'
distributions). The customer's trajectory compares the mean score of the first third of their
utterances with the last third.

The models come from an ``AnalysisModels`` backend (``analysis.backends``), loaded once per process and
shared; without one, the rules-only ``lexicon_backend()`` is used. The analyzer itself is pure: no
I/O, no threads; it is not safe to share one instance between threads (one analyzer per call).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from analysis import agent_score, call_state, call_state_model, decisions, emotion, sentiment, summary
from analysis.backends import AnalysisModels, lexicon_backend
from analysis.categories import CATEGORY_NAMES, CategoryMatcher, describe
from analysis.live import CallContext, LiveAnalytics, LiveInput
from analysis.moments import MOMENT_CATEGORY
from analysis.text import count_words
from analysis.types import SPEAKERS, CallAnalysis, CategoryHit, Utterance, UtteranceAnalysis

__all__ = ["MAX_WORD_WEIGHT", "RECENCY_DECAY", "CallAnalyzer"]

RECENCY_DECAY: Final = 0.7
NO_CUES: Final = decisions.DecisionCues()
MAX_WORD_WEIGHT: Final = 30


@dataclass(frozen=True, slots=True)
class _Record:
    sequence: int
    start: float
    speaker: str
    words: int
    end: float
    result: UtteranceAnalysis
    hits: tuple[CategoryHit, ...]
    signals: agent_score.AgentSignals
    features: summary.SummaryFeatures
    cues: decisions.DecisionCues = NO_CUES
    accepted: bool = False  # an acceptance of an offer in reach
    declined: bool = False  # a decline of an offer in reach
    observation: call_state_model.StateObservation | None = None  # what the learned call state reads

    def scored(self) -> agent_score.ScoredUtterance:
        """What the agent score needs of this utterance."""
        hold = any(h.label == "hold" for h in self.hits)
        result = self.result
        return agent_score.ScoredUtterance(
            self.speaker, result.sentiment_score, self.words, self.signals, self.start, self.end, hold, result.sentiment
        )

    def summarised(self) -> summary.SummaryUtterance:
        """What the summary needs of this utterance."""
        aside = any(
            (hit.category == "marketing_mentions" and not hit.label.startswith("offer_")) or hit.label == "transfer"
            for hit in self.hits
        )
        return summary.SummaryUtterance(
            self.speaker,
            self.result.sentiment_score,
            self.words,
            self.features,
            self.signals.resolution_sentence,
            self.result.sentiment,
            self.signals.closing > 0,
            aside,
        )


def _live_speaker(speaker: object) -> str:
    """A diarized mono speaker ("speaker_2") keeps its label for the dynamics; anything else is "unknown"."""
    value = speaker.strip().lower() if isinstance(speaker, str) else ""
    return value if value.startswith("speaker_") and value[8:].isdigit() and len(value) < 16 else "unknown"


def _normal_speaker(speaker: object) -> str:
    value = speaker.strip().lower() if isinstance(speaker, str) else ""
    return value if value in SPEAKERS else "unknown"


def _as_float(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return number if number == number else 0.0  # NaN -> 0.0


def _weighted_compound(records: list[_Record]) -> float:
    total = 0.0
    weight_sum = 0.0
    for age, record in enumerate(reversed(records)):
        weight = min(record.words, MAX_WORD_WEIGHT) * RECENCY_DECAY**age
        total += weight * record.result.sentiment_score
        weight_sum += weight
    return total / weight_sum if weight_sum > 0 else 0.0


def _rolling_emotion(records: list[_Record]) -> dict[str, float]:
    recent = records[-emotion.RECENT_UTTERANCES :]
    totals = dict.fromkeys(emotion.EMOTION_LABELS, 0.0)
    weight_sum = 0.0
    for age, record in enumerate(reversed(recent)):
        weight = emotion.RECENCY_DECAY**age
        distribution = record.result.emotion_scores or {record.result.emotion: 1.0}
        for label, value in distribution.items():
            if label in totals:
                totals[label] += weight * value
        weight_sum += weight
    return {label: round(value / weight_sum, 4) for label, value in totals.items()} if weight_sum else {}


def _state_turn(record: _Record) -> call_state.StateTurn:
    result = record.result
    return call_state.StateTurn(result.sentiment, result.sentiment_score, record.accepted, record.declined)


def _state_turns(records: list[_Record]) -> list[call_state.StateTurn]:
    return [_state_turn(r) for r in records]


def _followed(spoken: list[_Record]) -> tuple[list[_Record], bool]:
    """Whose turns the running state follows, and whether the call has roles: a call with speakers
    follows its customer (neutral until they speak); a mono call, everyone."""
    roles = any(r.speaker in ("customer", "agent") for r in spoken)
    return ([r for r in spoken if r.speaker == "customer"] if roles else spoken), roles


def _observation(
    speaker: str,
    result: UtteranceAnalysis,
    cues: decisions.DecisionCues,
    accepted: bool,
    declined: bool,
    embedding: object,
) -> call_state_model.StateObservation:
    scores = result.sentiment_scores
    return call_state_model.StateObservation(
        speaker != "agent",
        float(scores.get("positive", float(result.sentiment == "positive"))),
        float(scores.get("negative", float(result.sentiment == "negative"))),
        tuple(
            float(result.emotion_scores.get(label, float(result.emotion == label))) for label in emotion.EMOTION_LABELS
        ),
        cues,
        accepted,
        declined,
        embedding if isinstance(embedding, np.ndarray) else None,
    )


def _rule_labels(spoken: list[_Record], focus: list[_Record]) -> list[str]:
    """The rule's state (analysis.call_state) after each spoken record: it moves on the focus's records."""
    followed = {id(r) for r in focus}
    state = 0.0
    labels = []
    for record in spoken:
        if id(record) in followed:
            state = call_state.step(state, _state_turn(record))
        labels.append(call_state.state_label(state))
    return labels


PLEASANT_EMOTIONS: Final = ("satisfied", "happy")
ACCEPTANCE_PROBABILITY: Final = 0.6  # P(positive) of an acceptance the model read as neutral
NEUTRAL_STATE_TURNS: Final = 3  # a neutral call's emotion: the followed speaker's last this many turns


def _state_emotion(records: list[_Record], label: str) -> str:
    """The call-level emotion that goes with the running state: recent emotions (emotion.call_emotion),
    only the pleasant ones when the state is positive, only the last few turns when it is neutral."""
    labels = [r.result.emotion for r in records]
    if label == "positive":
        pleasant = [e for e in labels if e in PLEASANT_EMOTIONS]
        return emotion.call_emotion(pleasant) if pleasant else "satisfied"
    if label == "neutral":
        return emotion.call_emotion(labels[-NEUTRAL_STATE_TURNS:])
    return emotion.call_emotion(labels)


def _acceptance_result(result: UtteranceAnalysis) -> UtteranceAnalysis:
    """An acceptance of an offer the model read as neutral: positive (satisfied), the probabilities moved with it."""
    scores = dict(result.sentiment_scores) or {"positive": 0.0, "neutral": 1.0, "negative": 0.0}
    positive = max(scores.get("positive", 0.0), ACCEPTANCE_PROBABILITY)
    rest = sum(v for k, v in scores.items() if k != "positive")
    scale = (1.0 - positive) / rest if rest > 0 else 0.0
    moved = {k: (positive if k == "positive" else v * scale) for k, v in scores.items()}
    return replace(
        result,
        sentiment="positive",
        sentiment_score=max(result.sentiment_score, moved["positive"] - moved.get("negative", 0.0)),
        emotion="satisfied" if result.emotion not in PLEASANT_EMOTIONS else result.emotion,
        sentiment_scores=moved,
    )


def _speaker_view(records: list[_Record]) -> dict[str, object]:
    compound = _weighted_compound(records)
    return {
        "utterances": len(records),
        "words": sum(r.words for r in records),
        "sentiment": sentiment.label_for(compound),
        "sentiment_score": round(compound, 4),
        "emotion": emotion.call_emotion([r.result.emotion for r in records]),
        "emotion_distribution": _rolling_emotion(records),
    }


def _speaker_views(spoken: list[_Record]) -> dict[str, dict[str, object]]:
    """The view of each speaker who said something."""
    return {name: _speaker_view(records) for name in SPEAKERS if (records := [r for r in spoken if r.speaker == name])}


def _trajectory(records: list[_Record]) -> dict[str, object]:
    if not records:
        return {}
    first, last = sentiment.thirds([r.result.sentiment_score for r in records])
    change = last - first
    direction = "improved" if change >= 0.2 else "worsened" if change <= -0.2 else "steady"
    return {
        "speaker": records[0].speaker,
        "start": {"sentiment": sentiment.label_for(first), "score": round(first, 4), "at": records[0].start},
        "end": {"sentiment": sentiment.label_for(last), "score": round(last, 4), "at": records[-1].start},
        "change": round(change, 4),
        "direction": direction,
        "per_utterance": [[r.start, r.result.sentiment] for r in records],
    }


class CallAnalyzer:
    """Accumulates the final utterances of one call and produces its ``CallAnalysis``."""

    def __init__(
        self,
        min_words: int = 5,
        *,
        categories: CategoryMatcher | None = None,
        models: AnalysisModels | None = None,
        goal: str = "",
    ) -> None:
        self._min_words = max(0, min_words)
        self._models = models if models is not None else lexicon_backend()
        if categories is not None:
            self._models = replace(self._models, phrases=categories)
        self._live = LiveAnalytics(voice=self._models.config.voice_emotion, goal=goal if isinstance(goal, str) else "")
        self._records: list[_Record] = []
        self._word_count = 0
        self._content_counts: Counter[str] = Counter()
        self._has_repeated_problems = False
        self._languages: dict[str, Counter[str]] = {}  # speaker -> language -> utterances
        self._translated: Counter[str] = Counter()  # speaker -> utterances read through a translation
        self._cached: CallAnalysis | None = None
        # the learned call state's beliefs after each spoken record, with the record's sequence number and
        # the rule's label (a prefix still in the same order is not filtered again)
        self._beliefs: list[tuple[int, str, call_state_model.Vector]] = []

    @property
    def wants_prosody(self) -> bool:
        """Whether utterances should carry their ``prosody`` (the voice terms of the emotion are on)."""
        return self._live.voice

    @property
    def word_count(self) -> int:
        """Words of final text seen so far."""
        return self._word_count

    def __len__(self) -> int:
        return len(self._records)

    def add(self, utterance: Utterance) -> UtteranceAnalysis:
        """Analyse one final utterance (and only it) and keep the result for the call-level view."""
        text = utterance.text if isinstance(utterance.text, str) else ""
        speaker = _normal_speaker(utterance.speaker)
        start = _as_float(utterance.start)
        end = max(start, _as_float(utterance.end))
        words = count_words(text)
        if words:
            features = summary.utterance_features(text)
            findings = self._models.analyse(text, start, speaker, features.sentences, utterance.original or "")
            # the moments' phrase hits are the live analytics' to judge (analysis.moments), not categories
            moment_hits = tuple(h for h in findings.hits if h.category == MOMENT_CATEGORY)
            hits = tuple(h for h in findings.hits if h.category != MOMENT_CATEGORY)
            result = replace(findings.result, hits=hits)
            embedding = findings.embedding
            signals = agent_score.utterance_signals(text)
            cues = decisions.decision_cues(text, speaker, findings.acts)
        else:
            result = UtteranceAnalysis(
                sentiment="neutral",
                sentiment_score=0.0,
                emotion="neutral",
                emotion_scores={label: float(label == "neutral") for label in emotion.EMOTION_LABELS},
                sentiment_scores={"positive": 0.0, "neutral": 1.0, "negative": 0.0},
            )
            hits = ()
            signals = agent_score.AgentSignals()
            features = summary.SummaryFeatures()
            cues = decisions.DecisionCues()
            embedding = None
            moment_hits = ()
        accepted = declined = False
        if cues.accept or cues.decline:
            offered = decisions.offer_in_reach([r for r in self._records if r.words]) is not None
            accepted = decisions.is_acceptance(decisions.DecisionTurn(speaker, cues, result.sentiment), offered)
            declined = offered and cues.decline and not accepted
            if accepted and result.sentiment == "neutral":
                result = _acceptance_result(result)
            if accepted or declined:
                label = "offer_accepted" if accepted else "offer_declined"
                hit = CategoryHit("marketing_mentions", label, text[:120], start, speaker, text=text[:300])
                hits = (*hits, hit)
                result = replace(result, hits=(*result.hits, hit))
        update = self._live.add(
            LiveInput(
                str(utterance.utterance_id or f"u{len(self._records) + 1}"),
                speaker if speaker != "unknown" or not utterance.speaker else _live_speaker(utterance.speaker),
                utterance.channel if isinstance(utterance.channel, int) else 0,
                text,
                start,
                end,
                words,
                result,
                (*hits, *moment_hits),
                cues,
                accepted,
                signals.resolution_sentence if speaker != "customer" else None,
                tuple(utterance.word_times or ()),
                embedding,
                utterance.prosody,
                tuple(utterance.voiced or ()),
            )
        )
        result = replace(
            result,
            emotion7=update.emotion.distribution,
            pad=update.emotion.pad.to_json(),
            emotion_confidence=update.emotion.confidence,
            moments=update.moments,
            transitions=update.transitions,
        )
        observation = _observation(speaker, result, cues, accepted, declined, embedding) if words else None
        record = _Record(
            len(self._records),
            start,
            speaker,
            words,
            end,
            result,
            hits,
            signals,
            features,
            cues,
            accepted,
            declined,
            observation,
        )
        self._records.append(record)
        self._languages.setdefault(speaker, Counter())[str(utterance.language or "en")] += 1
        self._translated[speaker] += int(bool(utterance.translated))
        self._word_count += words
        for content in features.content:
            self._content_counts.update(content)
        if any(hit.category == "repeated_problems" for hit in hits):
            self._has_repeated_problems = True
        self._cached = None
        return result

    def state_inputs(self) -> tuple[list[call_state_model.StateObservation], list[str]]:
        """What the learned call state reads, in call order: each spoken turn's observation and the
        rule's state after it (``analysis.call_state_training`` fits the model on these)."""
        spoken = [r for r in sorted(self._records, key=lambda r: (r.start, r.sequence)) if r.observation is not None]
        focus, _ = _followed(spoken)
        return [r.observation for r in spoken if r.observation is not None], _rule_labels(spoken, focus)

    def _call_state(self, spoken: list[_Record], focus: list[_Record], roles: bool) -> tuple[str, float]:
        """The running call sentiment's label and score: the learned tracker on a call with roles, else the rule."""
        model = self._models.call_state
        if model is None or not roles:
            states = call_state.running_states(_state_turns(focus))
            compound = states[-1] if states else 0.0
            return call_state.state_label(compound), compound
        labels = _rule_labels(spoken, focus)
        keys = [(r.sequence, label) for r, label in zip(spoken, labels, strict=True)]
        kept = 0
        while kept < min(len(keys), len(self._beliefs)) and self._beliefs[kept][:2] == keys[kept]:
            kept += 1
        del self._beliefs[kept:]  # from the first record out of its old place on, filtered again
        observations = [r.observation for r in spoken if r.observation is not None]
        belief = self._beliefs[-1][2] if self._beliefs else call_state_model.NEUTRAL_BELIEF
        agent_before = next((o for o in reversed(observations[:kept]) if not o.customer), None)
        for index in range(kept, len(observations)):
            observation = observations[index]
            belief = model.step(belief, call_state_model.observation_row(observation, labels[index], agent_before))
            self._beliefs.append((*keys[index], belief))
            if not observation.customer:
                agent_before = observation
        if not self._beliefs:
            return "neutral", 0.0
        return call_state_model.state_of(self._beliefs[-1][2])

    def analysis(self) -> CallAnalysis | None:
        """The call's analytics so far, or None until at least ``min_words`` words of final text exist."""
        if self._word_count < self._min_words or self._word_count == 0:
            return None
        if self._cached is None:
            self._cached = self._compute()
        return self._cached

    def _compute(self) -> CallAnalysis:
        ordered = sorted(self._records, key=lambda r: (r.start, r.sequence))
        spoken = [r for r in ordered if r.words > 0]
        focus, roles = _followed(spoken)
        label, compound = self._call_state(spoken, focus, roles)
        scored = agent_score.evaluate([r.scored() for r in ordered], self._has_repeated_problems)
        summary_input = [r.summarised() for r in ordered]
        decided = decisions.call_decision(
            [
                decisions.DecisionTurn(
                    r.speaker, r.cues, r.result.sentiment, r.speaker == "agent" and bool(r.signals.resolution_sentence)
                )
                for r in spoken
            ]
        )
        outcome = _summary_decision(decided, spoken, summary_input, ordered)
        hits = tuple(hit for r in ordered for hit in r.hits)
        process, repeated, marketing = (describe(hits, name) for name in CATEGORY_NAMES)
        parts = summary.summary_parts(summary_input, outcome)
        live = self._live.view(CallContext(parts, decided.outcome, scored.score, scored.evidence, scored.breakdown))
        return CallAnalysis(
            summary=summary.summarise(summary_input, self._content_counts, outcome),
            sentiment=label,
            sentiment_score=round(compound, 4),
            emotion=_state_emotion(focus, label),
            agent_score=scored.score,
            agent_score_breakdown=scored.breakdown,
            process_issues=process,
            repeated_problems=repeated,
            marketing_mentions=marketing,
            hits=hits,
            word_count=self._word_count,
            speakers=_speaker_views(spoken),
            customer_trajectory=_trajectory(focus),
            agent_score_evidence=scored.evidence,
            agent_score_limit=scored.limit,
            summary_parts=parts,
            utterance_count=len(self._records),
            outcome=decided.outcome,
            languages={
                speaker: {
                    "language": counts.most_common(1)[0][0],
                    "utterances": sum(counts.values()),
                    "translated": self._translated[speaker],
                }
                for speaker, counts in self._languages.items()
            },
            live=live,
        )


def _summary_decision(
    decided: decisions.CallDecision,
    spoken: list[_Record],
    summary_input: list[summary.SummaryUtterance],
    ordered: list[_Record],
) -> summary.Decision | None:
    """The decision in the summary's terms: the utterances (of ``summary_input``) it points at."""
    if not decided.outcome or decided.incidental:
        return None
    by_record = {id(record): summarised for record, summarised in zip(ordered, summary_input, strict=True)}

    def pick(index: int | None) -> summary.SummaryUtterance | None:
        return by_record.get(id(spoken[index])) if index is not None else None

    return summary.Decision(
        decisions.describe_outcome(decided.outcome),
        decided.kind,
        pick(decided.decision),
        pick(decided.offer),
        pick(decided.confirmation),
    )
