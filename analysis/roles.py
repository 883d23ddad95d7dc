"""Which diarized speaker is the agent: roles on mono calls, from what each speaker says.

A stereo call knows its roles from its channels; a mono call's diarization (`calls.diarization`) only
knows `speaker_1`, `speaker_2`, … . The agent is the one who greets with the company's name, offers
help, asks for the account, checks, apologises for the company and closes the call; the customer
is the one with the problem, their bill, their order. `role_evidence` scores one utterance (log-odds
that an agent said it) from phrase cues; `RoleBook` adds up each speaker's evidence, plus a prior
that the first speaker of a call is the agent (inbound contact-centre calls open with the greeting),
and names the agent: the speaker with the most agent evidence, if it has any; everyone else is a
customer. Its confidence is a logistic of the evidence margin. Pure, no model: the cues read the
transcript as Whisper writes it, and were written from the development calls of
`benchmarks/analysis_data` (the role figures of docs/diarization.md are on the held-out ones).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

__all__ = ["AGENT", "CUSTOMER", "RoleBook", "role_evidence"]

AGENT = "agent"
CUSTOMER = "customer"
FIRST_SPEAKER_PRIOR = 1.0  # log-odds: the call's first speaker greets (inbound calls)

_AGENT_CUES: tuple[tuple[str, float], ...] = (
    (r"\b(thank you|thanks) for (calling|contacting|holding|waiting|your patience)\b", 3.0),
    (r"\bhow (can|may) i help\b|\bhow can i assist\b|\bwhat can i do for you\b", 3.0),
    (r"\b(you'?re|you are) (through|speaking) to\b|\bspeaking\b.*\bhow\b", 2.0),
    (r"\bmy name is \w+[,.]? (and )?(how|i)\b", 1.5),
    (r"\b(can|could|may) i (take|have|get|confirm) (your|the)\b", 2.0),
    (
        r"\b(let me|i'?ll|i will|i can) (check|look|see|pull|just|transfer|put you|arrange|send|book|raise|"
        r"escalate|refund|credit|waive|offer|set|process|cancel|update|reset|apply|add|confirm|go ahead)\b",
        1.5,
    ),
    (r"\bi can see (that|your|the|a|you)\b|\bon (your|the) account\b|\blooking at your\b", 1.5),
    (r"\bbear with me\b|\bone moment\b|\bjust a moment\b|\bplease hold\b", 1.5),
    (r"\bis there anything else\b|\banything else i can\b", 3.0),
    (r"\bi('?m| am) (so |very |really )?sorry (to hear|for the|about the|that you)\b", 1.0),
    (r"\bi apologi[sz]e\b|\bapologies for\b", 1.0),
    (r"\b(we|i) can offer\b|\bwhat i can do\b|\bi'?d like to offer\b", 2.0),
    (r"\byou('?ll| will) (receive|get|see)\b|\byour (reference|case|ticket) number\b", 1.0),
    (r"\bhave a (good|great|lovely|nice) (day|evening|weekend)\b", 0.5),
    (r"\bfor security\b|\bsecurity (check|questions?)\b|\bdate of birth\b|\bfirst line of\b", 1.5),
)
_CUSTOMER_CUES: tuple[tuple[str, float], ...] = (
    (r"\bi('?m| am) (calling|ringing|phoning) (about|because|to)\b|\bi'?ve (been|got|had)\b", 1.5),
    (
        r"\bmy (bill|internet|broadband|order|account|card|phone|flight|booking|payment|package|parcel|"
        r"claim|policy|car|boiler|meter|router|line|contract|subscription|refund|money|bank)\b",
        1.5,
    ),
    (r"\bi (want|need|would like|'d like|wanted) to\b|\bi want\b|\bi need\b", 1.0),
    (r"\b(it'?s|this is) the (second|third|fourth|fifth) time\b|\bagain\b.*\b(time|week|month)\b", 1.5),
    (r"\bi was (charged|told|promised|billed|cut off|on hold)\b|\bnobody\b|\bno one\b", 1.5),
    (r"\b(can|could) you (help|tell|check|fix|cancel|just)\b|\bwhy (is|was|has|have|did|do)\b", 1.0),
    (r"\bthat('?s| is) (great|brilliant|fine|perfect|ridiculous|unacceptable)\b|\bthanks? (a lot|so much)\b", 0.5),
    (r"\bi'?ll (take it|go with|think about)\b|\bsign me up\b|\bgo on then\b", 1.0),
)
_AGENT = [(re.compile(p, re.I), w) for p, w in _AGENT_CUES]
_CUSTOMER = [(re.compile(p, re.I), w) for p, w in _CUSTOMER_CUES]


def role_evidence(text: str) -> float:
    """Log-odds that an agent said `text` (positive: agent, negative: customer, 0: no cue)."""
    agent = sum(w for pattern, w in _AGENT if pattern.search(text))
    customer = sum(w for pattern, w in _CUSTOMER if pattern.search(text))
    return agent - customer


@dataclass
class RoleBook:
    """The role evidence of each speaker of a call, as their utterances come."""

    evidence: dict[str, float] = field(default_factory=dict)
    first: str | None = None

    def add(self, speaker: str, text: str) -> None:
        self.add_evidence(speaker, role_evidence(text))

    def add_evidence(self, speaker: str, evidence: float) -> None:
        """An utterance's `role_evidence`, already scored (a relabelled call is added up again)."""
        if self.first is None:
            self.first = speaker
            self.evidence[speaker] = FIRST_SPEAKER_PRIOR
        self.evidence[speaker] = self.evidence.get(speaker, 0.0) + evidence

    def roles(self) -> dict[str, tuple[str, float]]:
        """speaker -> (agent or customer, confidence 0.5..1): the speaker with the most agent evidence
        is the agent, the others customers; with one speaker, its own evidence decides."""
        if not self.evidence:
            return {}
        ranked = sorted(self.evidence.items(), key=lambda kv: kv[1], reverse=True)
        if len(ranked) == 1:
            ((speaker, score),) = ranked
            return {speaker: (AGENT if score > 0 else CUSTOMER, _confidence(abs(score)))}
        agent, best = ranked[0]
        margin = best - ranked[1][1]
        out = {agent: (AGENT, _confidence(margin))}
        for speaker, score in ranked[1:]:
            out[speaker] = (CUSTOMER, _confidence(best - score))
        return out


def _confidence(margin: float) -> float:
    return round(1 / (1 + math.exp(-max(0.0, margin) / 2)), 3)
