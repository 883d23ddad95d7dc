"""Agent score (1-5) from a documented rubric of measurable signals.

QA reviewers score calls against a rubric; an automatic first pass is only useful if reviewers can
see why it gave a score. So the score is a base plus named components, each computed from phrases
or sentiment that anyone can check in the transcript, and each reported in
``CallAnalysis.agent_score_breakdown``.

Rubric (points added to ``BASE_SCORE`` = 3, then rounded half up and clamped to 1..5). "Customer was
upset" means at least one customer utterance labelled negative; sentiment is the per-utterance model's.

==================== ===================================================================== ==============
component            signal                                                                points
==================== ===================================================================== ==============
greeting             the agent greets or introduces themself in their first                +0.25 / -0.25
                     ``GREETING_WINDOW`` utterances ("thank you for calling", "my name is",
                     "Dan speaking", "how can I help"), or not
empathy              apology / empathy phrases by the agent ("sorry", "I understand",      +0.5, +0.75 for
                     "thank you for your patience"). When the customer was upset and the   two or more;
                     agent showed none: -0.5. Customer never upset: +0.25 for any, else 0  -0.5 for none
resolution           the agent states a fix or next steps ("I have reset", "I'll send",    +0.75 / 0 / -0.5
                     "you should receive"), or delivers good news: an agent utterance
                     after the first, of at least ``GOOD_NEWS_MIN_WORDS`` words, labelled
                     positive and without rude phrases ("A contractor can come this
                     afternoon"); only a closing
                     offer of further help ("is there anything else"): 0; neither: -0.5
politeness           please / thank you / you're welcome by the agent: +0.25;              -1.0 .. +0.25
                     rude or dismissive phrases ("calm down", "not my problem",
                     "nothing I can do"): -1.0
agent_negativity     share of the agent's utterances labelled negative (refusals, blame,   -1.0 / -0.5 / 0
                     sarcasm): >= ``NEGATIVE_SHARE_HIGH`` (30 %) -1.0, >=
                     ``NEGATIVE_SHARE_SOME`` (15 %) -0.5
customer_trajectory  the customer's mean sentiment score over the last third of their      -0.5 .. +0.75
                     utterances: >= +0.2 (ends pleased) +0.5, <= -0.2 (ends upset) -0.5;
                     plus +0.25 when it rose by >= 0.4 from the first third
unresolved_repeats   the call has repeated-problem hits and no resolution                  -0.5 or 0
talk_ratio           stereo calls with at least ``TALK_RATIO_MIN_WORDS`` customer words:   -0.5 or 0
                     the agent speaks more than ``MAX_AGENT_TALK_RATIO`` (75 %) of the
                     words (talking over the customer, reading scripts at them)
long_silences        a gap of ``LONG_SILENCE_S`` (20 s) or more between the end of one      -0.5 or 0
                     utterance and the start of the next, unless a hold was announced
                     (a ``hold`` category hit) in the ``HOLD_LOOKBACK`` utterances before
                     it or in the utterance right after it ("thanks for holding")
==================== ===================================================================== ==============

Two limits follow the human rating scale (docs/analytics.md): a 5 needs a greeting, empathy where it
was due, a resolution and no rude phrase (otherwise at most 4: "good, one of those missing"), and a 1
needs a rude or dismissive phrase (otherwise at least 2: "unhelpful, no resolution"). The summary
file says when a limit applied (``agent_score.limit``).

The weights were set on 13 scripted development calls rated 1-5 by a person
(benchmarks/analysis_data/calls, ``split: dev``) and, with the limits, on 6 more calls
written and rated by another author; they are checked on held-out calls rated by a third
(``benchmarks/bench_call_analytics.py``): an agent who does everything right scores 5, one who
forgets empathy for an upset customer 4, a mechanical agent 3, a dismissive one who leaves the
problem unresolved 2, a rude one 1.

``evaluate`` also returns a line of evidence per component (which phrase, which ratio, which gap),
for the per-session summary file.

Mono calls (every utterance's speaker is "unknown") cannot tell agent from customer: the agent
components are then evaluated over all of the call's text, and the customer trajectory over all
utterances. A call with speakers but no agent utterance scores 0 on the agent components. Rude
phrases are only looked for in the agent's text, so an angry customer cannot lower the score this
way (except on mono calls).

``utterance_signals`` runs the phrase matching once per utterance (when it is added);
``evaluate`` only aggregates those stored signals, so re-scoring a long call stays cheap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from analysis import sentiment
from analysis.text import compile_phrases, split_sentences

__all__ = [
    "BASE_SCORE",
    "COMPONENTS",
    "GOOD_NEWS_MIN_WORDS",
    "GREETING_WINDOW",
    "LONG_SILENCE_S",
    "MAX_AGENT_TALK_RATIO",
    "NEGATIVE_SHARE_HIGH",
    "NEGATIVE_SHARE_SOME",
    "AgentScore",
    "AgentSignals",
    "ScoredUtterance",
    "evaluate",
    "utterance_signals",
]

BASE_SCORE: Final = 3.0
MIN_SCORE: Final = 1
MAX_SCORE: Final = 5
GREETING_WINDOW: Final = 3
COMPONENTS: Final = (
    "greeting",
    "empathy",
    "resolution",
    "politeness",
    "agent_negativity",
    "customer_trajectory",
    "unresolved_repeats",
    "talk_ratio",
    "long_silences",
)
MAX_AGENT_TALK_RATIO: Final = 0.75
TALK_RATIO_MIN_WORDS: Final = 20
LONG_SILENCE_S: Final = 20.0
HOLD_LOOKBACK: Final = 2
NEGATIVE_SHARE_HIGH: Final = 0.3
NEGATIVE_SHARE_SOME: Final = 0.15
GOOD_NEWS_MIN_WORDS: Final = 8

_DONE_VERBS = (
    "reset|fixed|updated|applied|credited|refunded|processed|scheduled|booked|rebooked|sent|added|waived|"
    "removed|restored|reactivated|reconnected|corrected|escalated|submitted|cancel+ed|replaced|"
    "rebooted|refreshed|resolved|arranged|ordered|issued|reversed|adjusted|changed|unlocked|"
    "activated|upgraded|opened|raised|logged|noted"
)
_DO_VERBS = (
    "reset|fix|update|apply|credit|refund|process|schedule|book|rebook|send|add|waive|remove|restore|"
    "reactivate|reconnect|correct|escalate|submit|cancel|replace|reboot|refresh|resolve|arrange|"
    "order|issue|reverse|adjust|change|unlock|activate|upgrade|open|raise|log|email|text|call"
)
_MACROS: Final = {"{done}": f"(?:{_DONE_VERBS})", "{do}": f"(?:{_DO_VERBS})"}

GREETING_PHRASES: Final = (
    "thank you for calling",
    "thanks for calling",
    "thank you for contacting",
    "my name is",
    "my name's",
    "this is * speaking",
    "speaking",
    "how can i help",
    "how may i help",
    "how can i assist",
    "how may i assist",
    "what can i do for you",
    "good morning",
    "good afternoon",
    "good evening",
    "welcome to",
    "hello",
    "hi",
)
EMPATHY_PHRASES: Final = (
    "sorry",
    "apologi*",
    "apologis*",
    "i understand",
    "i can understand",
    "i completely understand",
    "i totally understand",
    "that must be",
    "that sounds frustrating",
    "i know how frustrating",
    "i can imagine",
    "i appreciate your patience",
    "thank you for your patience",
    "thanks for your patience",
    "i hear you",
    "that's not okay",
)
RESOLUTION_PHRASES: Final = (
    "i have {done}",
    "i've {done}",
    "i just {done}",
    "i {done}",
    "i'll {do}",
    "i will {do}",
    "i'm going to {do}",
    "i am going to {do}",
    "we'll {do}",
    "we will {do}",
    "we have {done}",
    "we've {done}",
    "you should receive",
    "you will receive",
    "you'll receive",
    "you should get",
    "you'll get",
    "you should see",
    "you'll see",
    "should be working now",
    "should be fixed",
    "is now working",
    "is now fixed",
    "is working now",
    "has been {done}",
    "have been {done}",
    "a technician will",
    "technician is scheduled",
    "next step*",
)
CLOSING_PHRASES: Final = ("anything else",)  # "is there anything else I can help with?", "anything else today?"
POLITE_PHRASES: Final = (
    "please",
    "thank you",
    "thanks",
    "you're welcome",
    "my pleasure",
    "happy to help",
    "glad to help",
    "appreciate",
)
RUDE_PHRASES: Final = (
    "not my problem",
    "that's your problem",
    "not my job",
    "calm down",
    "whatever",
    "i can't help you",
    "nothing i can do",
    "you should have",
    "your fault",
    "deal with it",
    "stop yelling",
    "i don't care",
    "figure it out",
    "read the manual",
    "shut up",
    "i already told you",
    "are you stupid",
    "listen to me",
    "not our problem",
    "not our fault",
    "shouting at me",
    "like i said",
    "when they get to it",
)

_GREETING_RE: Final = compile_phrases(GREETING_PHRASES)
_EMPATHY_RE: Final = compile_phrases(EMPATHY_PHRASES)
_RESOLUTION_RE: Final = compile_phrases(RESOLUTION_PHRASES, _MACROS)
_CLOSING_RE: Final = compile_phrases(CLOSING_PHRASES)
_POLITE_RE: Final = compile_phrases(POLITE_PHRASES)
_RUDE_RE: Final = compile_phrases(RUDE_PHRASES)

_ENDS_PLEASED: Final = 0.2
_ENDS_UPSET: Final = -0.2
_ROSE: Final = 0.4


@dataclass(frozen=True, slots=True)
class AgentSignals:
    """Rubric phrase counts of one utterance, plus its first resolution sentence (for the summary)."""

    greeting: int = 0
    empathy: int = 0
    resolution: int = 0
    closing: int = 0
    polite: int = 0
    rude: int = 0
    resolution_sentence: str | None = None


@dataclass(frozen=True, slots=True)
class ScoredUtterance:
    """What ``evaluate`` needs to know about one utterance (already analysed)."""

    speaker: str
    sentiment_score: float  # -1..1, the per-utterance sentiment model's
    words: int
    signals: AgentSignals
    start: float = 0.0
    end: float = 0.0
    hold: bool = False  # the utterance has a "hold" category hit
    sentiment: str = "neutral"  # the per-utterance label


@dataclass(frozen=True, slots=True)
class AgentScore:
    """The score, its components (points) and a line of evidence per component."""

    score: int
    breakdown: dict[str, float]
    evidence: dict[str, str]
    limit: str = ""  # why the rounded points were capped at 4 or raised to 2, if they were


def _count(pattern: re.Pattern[str], text: str) -> int:
    return sum(1 for _ in pattern.finditer(text))


def utterance_signals(text: str) -> AgentSignals:
    """Count the rubric phrases in one utterance (whoever said it)."""
    if not text or not text.strip():
        return AgentSignals()
    resolution = _count(_RESOLUTION_RE, text)
    sentence: str | None = None
    if resolution:
        sentence = next((s for s in split_sentences(text) if _RESOLUTION_RE.search(s)), None)
    return AgentSignals(
        greeting=_count(_GREETING_RE, text),
        empathy=_count(_EMPATHY_RE, text),
        resolution=resolution,
        closing=_count(_CLOSING_RE, text),
        polite=_count(_POLITE_RE, text),
        rude=_count(_RUDE_RE, text),
        resolution_sentence=sentence,
    )


_Points = tuple[float, str]  # a component's (points, evidence)


@dataclass(frozen=True, slots=True)
class _Sides:
    """The utterances with words, and who the rubric counts as agent and as customer."""

    spoken: list[ScoredUtterance]
    agent: list[ScoredUtterance]  # every utterance on a mono call
    customer: list[ScoredUtterance]  # every utterance on a mono call or a call without customer text
    mono: bool

    @property
    def customer_upset(self) -> bool:
        return any(u.sentiment == "negative" for u in self.customer)

    @property
    def customer_scores(self) -> list[float]:
        return [u.sentiment_score for u in self.customer]


def _sides(utterances: Sequence[ScoredUtterance]) -> _Sides:
    spoken = [u for u in utterances if u.words > 0]
    mono = all(u.speaker not in ("agent", "customer") for u in spoken)
    agent = spoken if mono else [u for u in spoken if u.speaker == "agent"]
    customer = [u for u in spoken if u.speaker == "customer"]
    return _Sides(spoken, agent, customer if customer and not mono else spoken, mono)


@dataclass(frozen=True, slots=True)
class _Conduct:
    """What the agent's utterances show, from their stored signals."""

    greeted: bool  # in the first GREETING_WINDOW utterances
    empathy: int  # empathy/apology phrases
    stated: bool  # a fix or next step stated
    good_news: bool  # an agent utterance after the first, long enough, positive, not a closing, not rude
    closing: bool
    polite: bool
    rude: bool

    @property
    def resolved(self) -> bool:
        return self.stated or self.good_news


def _conduct(agent: Sequence[ScoredUtterance]) -> _Conduct:
    return _Conduct(
        greeted=any(u.signals.greeting for u in agent[:GREETING_WINDOW]),
        empathy=sum(u.signals.empathy for u in agent),
        stated=any(u.signals.resolution for u in agent),
        good_news=any(_is_good_news(u) for u in agent[1:]),
        closing=any(u.signals.closing for u in agent),
        polite=any(u.signals.polite for u in agent),
        rude=any(u.signals.rude for u in agent),
    )


def _is_good_news(utterance: ScoredUtterance) -> bool:
    signals = utterance.signals
    return (
        utterance.sentiment == "positive"
        and utterance.words >= GOOD_NEWS_MIN_WORDS
        and not (signals.closing or signals.rude)
    )


def _greeting(conduct: _Conduct) -> _Points:
    if conduct.greeted:
        return 0.25, "greeted in the first utterances"
    return -0.25, "no greeting in the first utterances"


def _empathy_points(count: int, customer_upset: bool) -> float:
    if customer_upset:
        return 0.75 if count >= 2 else 0.5 if count == 1 else -0.5
    return 0.25 if count else 0.0


def _empathy(conduct: _Conduct, customer_upset: bool) -> _Points:
    customer = "was upset" if customer_upset else "was never upset"
    return _empathy_points(conduct.empathy, customer_upset), (
        f"{conduct.empathy} empathy/apology phrase(s); customer {customer}"
    )


def _resolution(conduct: _Conduct) -> _Points:
    if conduct.stated:
        return 0.75, "fix or next step stated"
    if conduct.good_news:
        return 0.75, "good news delivered (an agent utterance labelled positive)"
    if conduct.closing:
        return 0.0, "only a closing offer of help"
    return -0.5, "no fix or next step stated"


def _politeness(conduct: _Conduct) -> _Points:
    points = (0.25 if conduct.polite else 0.0) - (1.0 if conduct.rude else 0.0)
    note = "polite phrases" if conduct.polite else "no polite phrases"
    return points, note + ("; rude or dismissive phrases" if conduct.rude else "")


def _agent_negativity(sides: _Sides) -> _Points:
    agent = sides.agent
    if sides.mono:
        return 0.0, "not scored on mono calls"
    if not agent:
        return 0.0, "no agent utterances"
    negative = sum(u.sentiment == "negative" for u in agent)
    share = negative / len(agent)
    points = -1.0 if share >= NEGATIVE_SHARE_HIGH else -0.5 if share >= NEGATIVE_SHARE_SOME else 0.0
    return points, f"{negative} of {len(agent)} agent utterances negative ({share:.0%})"


def _customer_trajectory(scores: Sequence[float]) -> _Points:
    first, last = sentiment.thirds(scores)
    evidence = f"customer sentiment {first:+.2f} (first third) -> {last:+.2f} (last third)"
    if not scores:
        return 0.0, evidence
    points = 0.5 if last >= _ENDS_PLEASED else -0.5 if last <= _ENDS_UPSET else 0.0
    return points + (0.25 if last - first >= _ROSE else 0.0), evidence


def _unresolved_repeats(has_repeated_problems: bool, conduct: _Conduct) -> _Points:
    if has_repeated_problems and not conduct.resolved:
        return -0.5, "repeated problem left without a resolution"
    return 0.0, "no unresolved repeated problem"


def _talk_ratio(sides: _Sides) -> _Points:
    if sides.mono:
        return 0.0, "not scored on mono calls"
    agent_words = sum(u.words for u in sides.agent)
    customer_words = sum(u.words for u in sides.customer)
    if customer_words < TALK_RATIO_MIN_WORDS:
        return 0.0, f"not scored: {customer_words} customer words (< {TALK_RATIO_MIN_WORDS}) or a mono call"
    ratio = agent_words / (agent_words + customer_words)
    verdict = "agent dominated the call" if ratio > MAX_AGENT_TALK_RATIO else "balanced"
    return (-0.5 if ratio > MAX_AGENT_TALK_RATIO else 0.0), f"agent spoke {ratio:.0%} of the words ({verdict})"


def _long_silences(spoken: Sequence[ScoredUtterance]) -> _Points:
    unexplained: list[str] = []
    explained = 0
    latest_end = spoken[0].end if spoken else 0.0
    for index in range(1, len(spoken)):
        gap = spoken[index].start - latest_end
        latest_end = max(latest_end, spoken[index].end)
        if gap < LONG_SILENCE_S:
            continue
        window = spoken[max(0, index - HOLD_LOOKBACK) : index + 1]
        if any(u.hold for u in window):
            explained += 1
        else:
            unexplained.append(f"{gap:.0f} s before {spoken[index].start:.1f}s")
    note = f"; {explained} during an announced hold" if explained else ""
    if unexplained:
        return -0.5, "unexplained silence: " + ", ".join(unexplained) + note
    return 0.0, f"no unexplained silence of {LONG_SILENCE_S:.0f} s or more{note}"


def _components(sides: _Sides, conduct: _Conduct, has_repeated_problems: bool) -> dict[str, _Points]:
    """Every rubric component, in ``COMPONENTS`` order."""
    return {
        "greeting": _greeting(conduct),
        "empathy": _empathy(conduct, sides.customer_upset),
        "resolution": _resolution(conduct),
        "politeness": _politeness(conduct),
        "agent_negativity": _agent_negativity(sides),
        "customer_trajectory": _customer_trajectory(sides.customer_scores),
        "unresolved_repeats": _unresolved_repeats(has_repeated_problems, conduct),
        "talk_ratio": _talk_ratio(sides),
        "long_silences": _long_silences(sides.spoken),
    }


def _limited(total: float, conduct: _Conduct, empathy_points: float) -> tuple[int, str]:
    """The rounded, clamped score after the human scale's two limits, and why a limit applied ("" if none)."""
    points = max(MIN_SCORE, min(MAX_SCORE, math.floor(total + 0.5)))
    present = {
        "greeting": conduct.greeted,
        "empathy": empathy_points >= 0,
        "resolution": conduct.resolved,
        "politeness": not conduct.rude,
    }
    missing = [name for name, there in present.items() if not there]
    if points == MAX_SCORE and missing:
        return MAX_SCORE - 1, f"{total:.2f} points, capped at 4: no {', no '.join(missing)}"
    if points == MIN_SCORE and not conduct.rude:
        return MIN_SCORE + 1, f"{total:.2f} points, raised to 2: 1 is for rude or hostile agents"
    return points, ""


def evaluate(utterances: Sequence[ScoredUtterance], has_repeated_problems: bool) -> AgentScore:
    """The score, breakdown and evidence for chronologically ordered utterances."""
    sides = _sides(utterances)
    conduct = _conduct(sides.agent)
    components = _components(sides, conduct, has_repeated_problems)
    breakdown = {name: points for name, (points, _) in components.items()}
    evidence = {name: note for name, (_, note) in components.items()}
    points, limit = _limited(BASE_SCORE + sum(breakdown.values()), conduct, breakdown["empathy"])
    return AgentScore(points, breakdown, evidence, limit)
