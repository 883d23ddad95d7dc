"""What the supervisor pages and the QA report show of one call, as plain JSON-able values.

One model for three readers: the live call view (built up from the call core's finals by `ui.floor`),
a finished call's page (built from its files: the transcript CSV, summary.json and session.json) and
the self-contained report file. All of it is read from the CSV's rows (a live final *is* the row the
CSV gets), so the live page, the finished page and the report cannot disagree, and what they show is
redacted exactly as the files are.

The rules for what needs a human (alerts, the floor's `attention`) live here, pure and tested:

- an **alert** is a customer utterance that is negative and angry or frustrated, a process issue or a
  repeated problem (`analysis.categories`), or the running agent score falling to 2 or below;
  (the score only once the agent has spoken and the call has `SCORE_ALERT_AFTER` finals: before that
  it is low for want of a greeting);
- the live analytics' **moments** (`analysis.moments`: objection, commitment, escalation request,
  cancellation threat, purchase intent, resolution, complaint, sustained anger; the CSV's
  `utterance_moments`) are marked on the timeline too, and the ones that need a human
  (`ALERT_MOMENTS`: an escalation request, a cancellation threat, sustained anger) are alerts;
- a **moment** is any category hit (offers and upgrades included), marked on the timeline;
- **attention** (the floor's order) adds up: the customer's running sentiment negative (+1), their
  latest emotion angry (+1.5) or frustrated (+1), the agent score at 2 or below (+1), and 0.5 per
  alert in the last 60 s of the call (at most 1.5). A call at 1 or more needs a human.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis.moments import MOMENT_LABELS
from audiohook_server.calls.call_record import talk_shares

__all__ = [
    "ALERT_CATEGORIES",
    "ALERT_MOMENTS",
    "CallModel",
    "analysis_view",
    "attention",
    "row_utterance",
    "talk_share",
]

ALERT_CATEGORIES = frozenset({"process_issues", "repeated_problems"})
ALERT_EMOTIONS = frozenset({"angry", "frustrated"})
LIVE_MOMENTS = frozenset({*MOMENT_LABELS, "sustained_anger"})
ALERT_MOMENTS = frozenset({"escalation_request", "cancellation_threat", "sustained_anger"})
LOW_AGENT_SCORE = 2
SCORE_ALERT_AFTER = 6
RECENT_ALERT_S = 60.0
NEEDS_HUMAN = 1.0
LAST_TEXT_CHARS = 160


def _number(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if number == number else None  # NaN: none


def _score(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def row_utterance(utterance_id: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """A transcript row (the CSV's, or the live final's) as the pages show it."""
    categories = [part.strip() for part in str(row.get("utterance_categories") or "").split(";") if part.strip()]
    moments = [part.strip() for part in str(row.get("utterance_moments") or "").split(";") if part.strip()]
    return {
        "id": utterance_id,
        "start": _number(row.get("start")) or 0.0,
        "end": _number(row.get("end")) or 0.0,
        "channel": str(row.get("channel") or ""),
        "speaker": str(row.get("speaker") or "unknown"),
        "speaker_id": str(row.get("speaker_id") or ""),
        "text": str(row.get("text") or ""),
        "final": True,
        "sentiment": str(row.get("utterance_sentiment") or ""),
        "valence": _number(row.get("utterance_sentiment_score")),
        "emotion": str(row.get("utterance_emotion") or ""),
        "categories": categories,
        "moments": [moment for moment in moments if moment in LIVE_MOMENTS],
    }


def talk_share(utterances: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Each speaker's part of the speech time, 0-1, as calls.csv counts it (`call_record.talk_shares`),
    for the speakers who spoke."""
    return {speaker: share for speaker, share in talk_shares(utterances).items() if share}


def _label(text: str) -> str:
    return text.replace("_", " ")


@dataclass
class CallModel:
    """One call as the pages show it; `to_json()` is the call JSON of docs/ui.md."""

    session_id: str
    conversation_id: str = ""
    door: str = ""
    started_at: str = ""
    live: bool = True
    end_reason: str = ""
    duration_s: float = 0.0
    has_recording: bool = False
    utterances: list[dict[str, Any]] = field(default_factory=list)
    partials: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    moments: list[dict[str, Any]] = field(default_factory=list)
    analysis: dict[str, Any] | None = None
    customer_sentiment: str = ""  # the running call sentiment (the customer's state)
    customer_emotion: str = ""  # the customer's latest emotion
    _low_score: bool = False

    def add_final(
        self, utterance: dict[str, Any], running: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A final utterance with the call's running values at it; the alerts and moments it raised."""
        self.utterances.append(utterance)
        self.duration_s = max(self.duration_s, float(utterance["end"]))
        alerts: list[dict[str, Any]] = []
        moments: list[dict[str, Any]] = []
        at, speaker, uid = utterance["start"], utterance["speaker"], utterance["id"]
        if speaker == "customer":
            if utterance["emotion"]:
                self.customer_emotion = utterance["emotion"]
            if utterance["sentiment"] == "negative" and utterance["emotion"] in ALERT_EMOTIONS:
                alerts.append(self._alert(at, "emotion", f"customer {utterance['emotion']}", speaker, uid))
        for hit in utterance["categories"]:
            category, _, label = hit.partition("/")
            moment = {"id": f"m{len(self.moments) + len(moments) + 1}", "at": at, "category": category,
                      "label": _label(label or category), "speaker": speaker, "utterance_id": uid}  # fmt: skip
            moments.append(moment)
            if category in ALERT_CATEGORIES:
                alerts.append(self._alert(at, "category", _label(label or category), speaker, uid, len(alerts)))
        for name in utterance.get("moments", ()):
            moment = {"id": f"m{len(self.moments) + len(moments) + 1}", "at": at, "category": "moments",
                      "label": _label(name), "speaker": speaker, "utterance_id": uid}  # fmt: skip
            moments.append(moment)
            if name in ALERT_MOMENTS:
                alerts.append(self._alert(at, "moment", _label(name), speaker, uid, len(alerts)))
        sentiment = str(running.get("running_sentiment") or "")
        if sentiment:
            self.customer_sentiment = sentiment
        score = _score(running.get("running_agent_score"))
        agent_spoke = any(u["speaker"] == "agent" for u in self.utterances)
        if score is not None and agent_spoke and len(self.utterances) >= SCORE_ALERT_AFTER:
            low = score <= LOW_AGENT_SCORE
            if low and not self._low_score:
                alerts.append(self._alert(at, "score", f"agent score {score}", "agent", uid, len(alerts)))
            self._low_score = low
        self.alerts.extend(alerts)
        self.moments.extend(moments)
        return alerts, moments

    def _alert(self, at: float, kind: str, label: str, speaker: str, uid: str, pending: int = 0) -> dict[str, Any]:
        return {"id": f"a{len(self.alerts) + pending + 1}", "at": at, "kind": kind, "label": label,
                "speaker": speaker, "utterance_id": uid}  # fmt: skip

    def set_analysis(self, analysis: dict[str, Any] | None) -> None:
        self.analysis = analysis

    def talk_share(self) -> dict[str, float]:
        return talk_share(self.utterances)

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "conversation_id": self.conversation_id,
            "door": self.door,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "live": self.live,
            "end_reason": self.end_reason,
            "has_recording": self.has_recording,
            "utterances": list(self.utterances),
            "partials": list(self.partials.values()),
            "alerts": list(self.alerts),
            "moments": list(self.moments),
            "analysis": self.analysis,
            "talk_share": self.talk_share(),
        }

    def floor_item(self, duration_s: float | None = None) -> dict[str, Any]:
        """The call's line on the floor view."""
        last = self.utterances[-1]["text"] if self.utterances else ""
        score = self.analysis.get("agent_score") if self.analysis else None
        item: dict[str, Any] = {
            "session_id": self.session_id,
            "conversation_id": self.conversation_id,
            "door": self.door,
            "started_at": self.started_at,
            "duration_s": round(duration_s if duration_s is not None else self.duration_s, 1),
            "live": self.live,
            "end_reason": self.end_reason,
            "customer_sentiment": self.customer_sentiment,
            "customer_emotion": self.customer_emotion,
            "agent_score": score,
            "talk_share": self.talk_share(),
            "latest_alert": self.alerts[-1] if self.alerts else None,
            "utterances": len(self.utterances),
            "last_text": last if len(last) <= LAST_TEXT_CHARS else last[: LAST_TEXT_CHARS - 1] + "…",
        }
        item["attention"] = attention(
            self.customer_sentiment, self.customer_emotion, score, self.alerts, self.duration_s
        )
        return item


def attention(
    sentiment: str, emotion: str, agent_score: object, alerts: Sequence[Mapping[str, Any]], now_s: float
) -> float:
    """How much a call needs a human (the module docstring's rule); 1 or more: it does."""
    value = 0.0
    if sentiment == "negative":
        value += 1.0
    value += {"angry": 1.5, "frustrated": 1.0}.get(emotion, 0.0)
    score = _score(agent_score)
    if score is not None and score <= LOW_AGENT_SCORE:
        value += 1.0
    recent = sum(1 for alert in alerts if now_s - float(alert["at"]) <= RECENT_ALERT_S)
    value += min(1.5, 0.5 * recent)
    return round(value, 2)


def analysis_view(
    event: Mapping[str, Any] | None, breakdown: Mapping[str, float], outcome: str = ""
) -> dict[str, Any] | None:
    """The analysis block the pages show: the event's keys, the score's components, the outcome."""
    if not event:
        return None
    view = dict(event)
    view["breakdown"] = {name: round(float(points), 3) for name, points in breakdown.items()}
    view["outcome"] = outcome
    return view
