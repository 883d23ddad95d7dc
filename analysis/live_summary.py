"""The rolling summary a supervisor reads while the call is on (the SSE ``summary_update``).

Built only from what the other analyses found, with their evidence quoted, and no generative model
(everything stays offline and deterministic): the extractive summary's issue, action and outcome
(``analysis.summary``), the customer's state and its transitions, the moments, the conversation
dynamics, the cognitive signals and the agent score's evidence. Eight fields:

* ``overview``: one or two sentences: the issue, what the agent did, the outcome, how the customer is now;
* ``key_insights``: the moments that matter (decisions, threats, escalations, resolutions) and the
  transitions, each with its time and a quote;
* ``notable_patterns``: repeated complaints, overtalk and interruptions, long silences and holds,
  rising arousal;
* ``recommendations``: what to do next, measured against the session's ``goal`` (from ``start``) when
  there is one: a retention goal and an open cancellation threat, a fix goal and no resolution yet, a
  sales goal and an objection not answered, a collections goal and no arrangement; and supervisor
  actions for alerts (join the call on an escalation request, sustained anger or long dead air);
* ``what_went_well`` / ``what_went_wrong``: the agent score's evidence and the moments and
  transitions on either side;
* ``speaker_dynamics``: talk shares, interruptions, response latency, engagement;
* ``conversation_quality``: ``{score (0-1), label, agent_score, rationale}``.

``summary_key`` says when the summary changed *materially*: the customer's state, the outcome (the
customer's decision), the agent score, the issue, the number of moments per category, of transitions
and of alerts; a new utterance that changes none of them (the extractive outcome sentence moving on
to the agent's latest words, say) does not produce a new ``summary_update``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from analysis.moments import Moment
from analysis.text import truncate
from analysis.transitions import Transition

__all__ = ["GOAL_KINDS", "LiveSummaryInput", "goal_kind", "rolling_summary", "summary_key"]

GOAL_KINDS: Final[Mapping[str, re.Pattern[str]]] = {
    "retention": re.compile(r"\b(retain|retention|keep|stop\w* .{0,20}(leav|cancel)|save|churn|stay)", re.I),
    "sales": re.compile(r"\b(sell|sale|upsell|upgrade|convert|close|add-on|cross-sell)", re.I),
    "collections": re.compile(r"\b(collect|arrears|debt|payment plan|arrangement|overdue|recover)", re.I),
    "service": re.compile(r"\b(fix|resolve|solve|sort|first[- ]call|repair|refund)", re.I),
}
_KEY_MOMENTS: Final = (
    "cancellation_threat",
    "escalation_request",
    "objection",
    "cta_commit",
    "resolution",
    "purchase_intent",
)
MAX_ITEMS: Final = 6


@dataclass(frozen=True)
class LiveSummaryInput:
    """Everything the rolling summary reads."""

    summary_parts: Mapping[str, str]  # issue, action, outcome, follow_up (analysis.summary)
    outcome: str  # analysis.decisions outcome label or ""
    customer_state: str | None  # analysis.transitions state
    agent_score: int
    agent_evidence: Mapping[str, str]  # rubric component -> evidence (analysis.agent_score)
    agent_breakdown: Mapping[str, float]  # rubric component -> points
    moments: Sequence[Moment]
    transitions: Sequence[Transition]
    dynamics: Mapping[str, object]
    cognitive: Mapping[str, Mapping[str, object]]
    goal: str = ""
    alerts: Sequence[Mapping[str, object]] = field(default_factory=tuple)


def goal_kind(goal: str) -> str:
    """What kind of call the goal describes (retention, sales, collections, service), "" when unclear."""
    for kind, pattern in GOAL_KINDS.items():
        if goal and pattern.search(goal):
            return kind
    return ""


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _number(value: object, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _moment_line(moment: Moment) -> str:
    return f"{_clock(moment.start)} {moment.summary}"


def _transition_line(transition: Transition) -> str:
    line = f"{_clock(transition.at)} the customer went from {transition.from_state} to {transition.to_state}"
    before = transition.drivers[0] if transition.drivers else {}
    if before.get("kind") == "utterance":
        line += f' after "{truncate(str(before.get("text", "")), 80)}"'
    return line


def _last(moments: Sequence[Moment], category: str) -> Moment | None:
    return next((m for m in reversed(moments) if m.category == category), None)


def _after(moment: Moment | None, later: Moment | None) -> bool:
    return moment is not None and later is not None and later.start >= moment.start


def _recommendations(data: LiveSummaryInput) -> list[str]:
    moments = data.moments
    kind = goal_kind(data.goal)
    threat = _last(moments, "cancellation_threat")
    commit = _last(moments, "cta_commit")
    objection = _last(moments, "objection")
    resolution = _last(moments, "resolution")
    escalation = _last(moments, "escalation_request")
    found: list[str] = []
    goal = f"Goal: {truncate(' '.join(data.goal.split()), 120)}. " if data.goal.strip() else ""
    if kind == "retention":
        if threat is not None and not _after(threat, commit):
            found.append(
                f"{goal}The customer threatened to leave at {_clock(threat.start)} and has not accepted an offer "
                "yet: make the retention offer, and answer the objection before a second one."
            )
        elif commit is not None:
            found.append(
                f"{goal}The customer accepted at {_clock(commit.start)}: confirm the terms and what happens next."
            )
        else:
            found.append(
                f"{goal}No cancellation threat so far: check the customer's reason for calling before offering "
                "anything."
            )
    elif kind == "sales":
        if objection is not None and not _after(objection, commit):
            found.append(
                f"{goal}Objection at {_clock(objection.start)} not yet answered: address the price or terms "
                "before moving on."
            )
        elif commit is not None:
            found.append(f"{goal}The customer agreed at {_clock(commit.start)}: confirm the order and its price.")
        else:
            found.append(f"{goal}No commitment yet: propose a clear next step.")
    elif kind == "collections":
        if data.outcome in ("payment_arrangement", "paid_in_full"):
            found.append(f"{goal}An arrangement is in place: confirm the dates and amounts.")
        else:
            found.append(f"{goal}No payment arrangement yet: offer a plan the customer can afford.")
    elif kind == "service" or data.goal.strip():
        if resolution is None:
            found.append(f"{goal}No resolution stated yet: say what will be done and by when.")
        else:
            found.append(f"{goal}Resolved at {_clock(resolution.start)}: confirm the customer is satisfied.")
    if escalation is not None:
        found.append(
            f"Supervisor: the customer asked to escalate at {_clock(escalation.start)}; consider joining the call."
        )
    if data.customer_state in ("angry", "frustrated") and resolution is None:
        found.append("Acknowledge the customer's frustration and give a concrete next step.")
    dead_air = _number(data.dynamics.get("dead_air_s"))
    if dead_air >= 10:
        found.append(f"{dead_air:.0f} s of dead air so far: tell the customer what you are doing while you check.")
    interruptions = data.dynamics.get("interruptions")
    by_agent = (
        sum(1 for i in interruptions if isinstance(i, Mapping) and i.get("by") == "agent")
        if isinstance(interruptions, list)
        else 0
    )
    if by_agent >= 2:
        found.append(f"The agent interrupted the customer {by_agent} times: let the customer finish.")
    return found[:MAX_ITEMS]


def rolling_summary(data: LiveSummaryInput) -> dict[str, object]:
    """The eight fields of ``summary_update`` (see the module docstring)."""
    parts = data.summary_parts
    issue, action, outcome = (parts.get(key, "") for key in ("issue", "action", "outcome"))
    state = data.customer_state or "calm"
    overview_parts = [p for p in (f"Issue: {issue}" if issue else "", f"Agent: {action}" if action else "",
                                  f"Outcome: {outcome}" if outcome else "") if p]  # fmt: skip
    overview = ". ".join(truncate(p.rstrip("."), 200) for p in overview_parts)
    overview = f"{overview}. The customer is {state} now." if overview else f"The customer is {state} now."

    insights = [_moment_line(m) for m in data.moments if m.category in _KEY_MOMENTS]
    insights += [_transition_line(t) for t in data.transitions]
    patterns: list[str] = []
    complaints = [m for m in data.moments if m.category in ("complaint", "repeated_problems")]
    if len(complaints) >= 2:
        patterns.append(f"{len(complaints)} complaints or repeated problems raised")
    dynamics = data.dynamics
    overtalk = _number(dynamics.get("overtalk_s"))
    interruptions = dynamics.get("interruptions")
    count = len(interruptions) if isinstance(interruptions, list) else 0
    if overtalk >= 1.0 or count:
        patterns.append(f"{overtalk:.1f} s of overtalk, {count} interruption(s)")
    longest = _number(dynamics.get("longest_silence_s"))
    if longest >= 5.0:
        patterns.append(f"longest silence {longest:.0f} s at {_clock(_number(dynamics.get('longest_silence_start')))}")
    hold = _number(dynamics.get("hold_s"))
    if hold > 0:
        patterns.append(f"{hold:.0f} s on hold")
    negative = [t for t in data.transitions if t.to_state in ("angry", "frustrated", "anxious", "sad")]
    if len(negative) >= 2:
        patterns.append(f"the customer's mood worsened {len(negative)} times")

    points = data.agent_breakdown
    well = [f"{component.replace('_', ' ')}: {evidence}" for component, evidence in data.agent_evidence.items()
            if evidence and points.get(component, 0.0) > 0]  # fmt: skip
    well += [_moment_line(m) for m in data.moments if m.category in ("resolution", "cta_commit")]
    well += [
        f"{_clock(t.at)} the customer became {t.to_state}"
        for t in data.transitions
        if t.to_state in ("calm", "pleased")
    ]
    wrong = [
        _moment_line(m)
        for m in data.moments
        if m.category in ("complaint", "escalation_request", "cancellation_threat")
    ]
    wrong += [f"{component.replace('_', ' ')}: {evidence}" for component, evidence in data.agent_evidence.items()
              if evidence and points.get(component, 0.0) < 0]  # fmt: skip
    wrong += [f"{_clock(t.at)} the customer became {t.to_state}" for t in negative]

    speakers = dynamics.get("speakers")
    speaker_lines: list[str] = []
    if isinstance(speakers, Mapping):
        for name, view in speakers.items():
            if isinstance(view, Mapping):
                share, rate = 100 * _number(view.get("talk_share")), _number(view.get("speech_rate_wpm"))
                line = f"{name}: {share:.0f} % of talk, {rate:.0f} wpm"
                engaged = data.cognitive.get(str(name), {}).get("engagement")
                if isinstance(engaged, int | float):
                    line += f", engagement {engaged:.2f}"
                speaker_lines.append(line)
    latency = dynamics.get("response_latency_s")
    if isinstance(latency, Mapping) and isinstance(latency.get("mean"), int | float):
        speaker_lines.append(f"agent answers in {_number(latency.get('mean')):.1f} s on average")

    quality_score = max(0.0, min(1.0, (data.agent_score - 1) / 4))
    penalties = 0.1 * len([m for m in data.moments if m.alert]) + (0.1 if state in ("angry", "frustrated") else 0.0)
    quality = max(0.0, round(quality_score - penalties, 3))
    label = "good" if quality >= 0.7 else "fair" if quality >= 0.4 else "poor"
    return {
        "overview": overview,
        "key_insights": insights[-MAX_ITEMS:],
        "notable_patterns": patterns[:MAX_ITEMS],
        "recommendations": _recommendations(data),
        "what_went_well": well[:MAX_ITEMS],
        "what_went_wrong": wrong[:MAX_ITEMS],
        "speaker_dynamics": speaker_lines,
        "conversation_quality": {
            "score": quality,
            "label": label,
            "agent_score": data.agent_score,
            "rationale": f"agent score {data.agent_score}/5, customer {state}, {len(data.alerts)} alert(s)",
        },
        "goal": data.goal,
    }


def summary_key(data: LiveSummaryInput) -> tuple[object, ...]:
    """What must change for a new ``summary_update``."""
    counts = Counter(m.category for m in data.moments)
    return (
        data.customer_state,
        data.outcome,
        data.agent_score,
        data.summary_parts.get("issue", ""),
        tuple(sorted(counts.items())),
        len(data.transitions),
        len(data.alerts),
    )
