"""Moments a supervisor acts on: objections, commitments, escalation requests, cancellation threats,
purchase intent, resolutions and complaints, found live, one utterance at a time.

A category hit says a phrase was said ("manager" appears in "let me ask my manager"); a moment says
what the turn *is* for the call: the customer asks for a manager. So the moment rules read the
``moments`` category's hits (phrases of ``default_categories.json`` and meaning matches against
``category_examples.json``, both extendable by the user's categories file like any category) and
decide with who said it and where in the call it was said:

* ``objection``, ``escalation_request``, ``cancellation_threat``, ``purchase_intent`` and
  ``complaint`` are the customer's (a mono call's "unknown" speaker counts as the customer only when
  the turn is not the agent's by its words);
* ``cta_commit``: the customer agrees to an offer or a proposed next step: an acceptance of an offer
  in reach (``analysis.decisions``), a commitment phrase or a yes right after the agent proposed
  something (a question such as "shall I book that?", "would you like ...", or an offer), or taking
  what a question of the agent's put to them in so many words ("Thursday morning I can do"); a
  grudging yes counts ("Fine, I'll take that", "I suppose. Go on then");
* ``objection`` also by rule: the customer's negative reply to an offer, a price, a policy or a date,
  that pushes back ("but", "still", "too", "not") or opens by repeating the figure back ("Thirty-six
  months? That's three years."), and is not a yes; or any reply to one, however calm, with a strong
  pushback ("a bit more than I'd hoped", "I'm not sure I want to be tied in"); beside a threat too;
* ``resolution``: the agent states the fix, refund, booking, plan or cancellation done (or the customer
  confirms it works), once per open issue: an issue opens at the start of the call and with each
  complaint, request, objection or commitment, and a resolution closes it;
* ``complaint``: a negative customer turn with a complaint phrase or match, the first statement of each
  complaint: not a turn that is already an objection, threat or escalation, and not a repetition of an
  earlier complaint (content words shared with it);
* ``cancellation_threat`` and ``escalation_request``: once per call until the customer accepts
  something (a threat after a save is a new one).

Every other category hit (process issues, repeated problems, marketing mentions, a user's categories)
is a moment of its label as found (``category`` "hold", ``labels`` ["process_issues", "hold"]); the
seven moments' ``labels`` are ["moments", label], and ``match`` says how it was found (phrase,
meaning, decision, first_negative, rule). Escalation requests and cancellation threats are
alerts (``alert: true`` with the reason), as is dead air of ``DEAD_AIR_ALERT_S`` or more and sustained
anger (``analysis.transitions``). Pure; one ``MomentTracker`` per call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from analysis.decisions import DecisionCues
from analysis.text import compile_phrases, truncate, words
from analysis.types import CategoryHit

__all__ = [
    "ALERT_MOMENTS",
    "DEAD_AIR_ALERT_S",
    "MOMENT_CATEGORY",
    "MOMENT_LABELS",
    "Moment",
    "MomentTracker",
    "MomentTurn",
]

MOMENT_CATEGORY: Final = "moments"
MOMENT_LABELS: Final = (
    "objection",
    "cta_commit",
    "escalation_request",
    "cancellation_threat",
    "purchase_intent",
    "resolution",
    "complaint",
)
ALERT_MOMENTS: Final = {
    "escalation_request": "the customer asked for a manager or an escalation",
    "cancellation_threat": "the customer threatened to cancel or leave",
}
DEAD_AIR_ALERT_S: Final = 10.0
PHRASE_CONFIDENCE: Final = 0.85
DECISION_CONFIDENCE: Final = 0.9
_CUSTOMER_ONLY: Final = frozenset(MOMENT_LABELS) - {"resolution", "cta_commit"}
_ONCE_UNTIL_ACCEPTED: Final = frozenset({"cancellation_threat", "escalation_request"})
_OPENS_ISSUE: Final = frozenset({"complaint", "objection", "cancellation_threat", "escalation_request", "cta_commit"})
_SUMMARY: Final = {
    "objection": "Customer objects",
    "cta_commit": "Customer agrees",
    "escalation_request": "Customer asks to escalate",
    "cancellation_threat": "Customer threatens to leave",
    "purchase_intent": "Customer wants to buy",
    "resolution": "Resolved",
    "complaint": "Customer complains",
}
# the agent proposes something the customer can say yes to
_PROPOSAL: Final = compile_phrases(
    [
        "shall i",
        "should i",
        "would you like",
        "do you want me to",
        "want me to",
        "would either",
        "would that",
        "would it help",
        "would you be happy",
        "can i put",
        "can i book",
        "i can offer",
        "i can do",
        "i can put",
        "i can book",
        "i can send",
        "if you can send",
        "if you take",
        "we can",
        "i could",
        "i'll email",
        "i'll send you",
        "i can email",
        "i can set",
        "i can arrange",
        "i can add",
        "i can get",
        "i can have",
        "i can also",
        "what i can do",
        "if that would help",
        "if that helps",
        "if you like",
        "if you'd like",
        "if you want",
        "is that alright",
        "is that okay",
        "is that ok",
        "would that be okay",
        "how does that sound",
        "how would that be",
        "you can appeal",
        "slots",
        "the first slot",
        "the earliest",
    ]
)
# a short yes to a proposal that names no commitment phrase: "Oh, Friday, please."
_SHORT_YES: Final = compile_phrases(["please", "that one", "that'd be", "that would be", "perfect", "great", "lovely"])
SHORT_YES_WORDS: Final = 8
# taking what was put to them, in so many words (after any question of the agent's)
_ACCEPTANCE: Final = compile_phrases(
    ["i'll take that", "i'll take it", "i'll take the", "i can do", "add that", "add it", "that works for",
     "that works.", "that works,", "that'll do", "go on then", "go on,", "go ahead", "book it", "book that",
     "sign me up", "put me on", "let's do", "i'll go for", "i'll have that", "i'll have the", "i'll do that"]
)  # fmt: skip
# a commitment in a reply to a proposal that is not negative: "Yes, that would actually be useful",
# "I can scan those tonight and send them back", "Okay, I'll do the appeal this week, then"
_SOFT_ACCEPTANCE: Final = compile_phrases(
    ["that would be", "that'd be", "that would help", "that'd help", "that helps", "would be useful",
     "could probably manage", "i could manage", "i can manage", "i can scan", "i'll scan", "i'll send", "i can send",
     "i'll do the", "add that on", "i'll book", "i'll pay", "i'll get that", "i'll fill"]
)  # fmt: skip
# still deciding: no commitment however it opens ("Okay, that's fair enough. Let me have a proper look
# at theirs and compare.")
_DECIDING: Final = compile_phrases(
    ["have a look", "have a proper look", "think about it", "think it over", "compare", "get back to you",
     "not sure yet"]
)  # fmt: skip
# an acceptance in so many words whatever the agent said before it ("Fine, I'll take that, it's better
# than Wednesday" after the agent's news of a van tomorrow)
_PLAIN_ACCEPTANCE: Final = compile_phrases(
    ["i'll take that", "i'll take it", "go on then", "sign me up", "put me on that", "book it", "book that in",
     "let's do it", "let's do that", "i'll go for that", "i'll have that"]
)  # fmt: skip
_WITHDRAWN: Final = compile_phrases(
    ["forget the", "never mind the", "don't need the", "i'll stay", "i'll keep it", "no need to cancel"]
)
_MIN_COMPLAINT_WORDS: Final = 6
FIRST_COMPLAINT_TURNS: Final = 3  # a complaint without a listed phrase: only among the customer's first turns
# a complaint is said in irritation (or confusion at a charge), not in sadness or fear: "I was made
# redundant", "I've been dreading this call" are hardship, not complaints
_ANNOYED: Final = frozenset({"frustrated", "angry"})
_COMPLAINING: Final = frozenset({"frustrated", "angry", "confused", "neutral", "anxious"})
_STOPWORDS: Final = frozenset(
    [
        "about",
        "after",
        "again",
        "also",
        "been",
        "before",
        "being",
        "both",
        "but",
        "can't",
        "could",
        "didn't",
        "does",
        "doesn't",
        "don't",
        "down",
        "even",
        "every",
        "from",
        "have",
        "haven't",
        "here",
        "it's",
        "just",
        "know",
        "like",
        "look",
        "make",
        "more",
        "much",
        "need",
        "never",
        "nothing",
        "only",
        "over",
        "really",
        "right",
        "said",
        "same",
        "says",
        "should",
        "since",
        "some",
        "still",
        "than",
        "that",
        "that's",
        "their",
        "them",
        "then",
        "there",
        "they",
        "this",
        "those",
        "time",
        "told",
        "very",
        "want",
        "was",
        "wasn't",
        "well",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "would",
        "yeah",
        "you've",
        "your",
        "you're",
        "i've",
        "i'm",
        "it's",
    ]
)


# what the agent says that a customer can push back on: an offer or proposal, a price, a policy, a date
_PUSHABLE: Final = compile_phrases(
    [
        "i'm afraid",
        "we can't",
        "we cannot",
        "i can't",
        "i'm not able",
        "we're not able",
        "isn't available",
        "not available",
        "we don't",
        "you'd need to",
        "you would need to",
        "you'll need to",
        "the next step",
        "the earliest",
        "the first slot",
        "next available",
        "working days",
        "the best i can",
        "{num} pounds",
        "pounds a month",
        "a month",
        "per month",
        "a year",
        "the fee",
        "the charge",
        "the price",
        "policy",
        "contract",
    ]
)
# pushback in the customer's reply
_PUSHBACK: Final = compile_phrases(
    [
        "but",
        "still",
        "no",
        "not",
        "can't",
        "cannot",
        "won't",
        "don't",
        "doesn't",
        "isn't",
        "too",
        "more than",
        "why would",
        "why should",
        "rather not",
        "instead",
        "is that the best",
        "is that all",
        "that's it?",
        "hmm",
        "only",
    ]
)
OBJECTION_MIN_WORDS: Final = 4
# pushback that is an objection however calmly it is said
_STRONG_PUSHBACK: Final = compile_phrases(
    ["more than i", "more than we", "bit more than", "a lot more", "too much", "too expensive", "too dear",
     "cheaper", "not sure i want", "tied in", "locked in", "rather not", "that's a lot", "big jump",
     "doesn't really work", "doesn't work for me", "is that the best", "can't afford", "i was hoping", "not worth",
     "quote from", "a lot cheaper", "don't need the", "don't need it", "don't need more", "don't really need",
     "not going to be", "said no", "don't book",
     "no way to", "no way round", "any way round", "is there really no", "you're still", "already decided",
     "what's the point", "not what i asked", "i'm not agreeing"]
)  # fmt: skip
ECHO_MAX_WORDS: Final = 6
_SMALL_WORDS: Final = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "to",
        "of",
        "i",
        "you",
        "it",
        "is",
        "so",
        "oh",
        "ok",
        "okay",
        "right",
        "yes",
        "no",
        "yeah",
        "well",
        "that",
        "on",
        "in",
        "for",
        "can",
        "could",
        "will",
        "do",
        "does",
        "did",
        "are",
        "have",
        "has",
        "be",
        "we",
        "me",
        "my",
        "your",
        "this",
        "what",
    ]
)
# a worried customer complains when the words put the fault on the company
_FAULT: Final = compile_phrases(
    ["i was told", "it's been", "haven't heard", "nobody", "no one", "never", "still", "again", "why", "you sent",
     "you've", "wrong", "mistake", "nothing's happened", "nothing has happened", "there's nothing", "just nothing",
     "meant to", "supposed to", "weeks ago", "swapped", "charged", "a charge", "gone from", "gone up", "justified",
     "they've", "didn't", "hasn't", "haven't"]
)  # fmt: skip
# hardship the customer tells of (a reason, not a complaint about the company or pushback on it)
_HARDSHIP: Final = compile_phrases(
    ["redundant", "lost my job", "hours got cut", "hours were cut", "cut my hours", "passed away", "struggling",
     "i owe", "behind on", "i'm behind", "sick pay", "bereavement"]
)  # fmt: skip
# the agent says it is done (perfect tense, or under way now): "I've cancelled", "that's booked",
# "it's been refunded", "I'm refunding all three now"
_DONE_VERBS: Final = (
    "fixed|updated|applied|credited|refunded|processed|scheduled|booked|rebooked|added|waived|removed|restored|"
    "reactivated|reconnected|corrected|cancel+ed|replaced|resolved|arranged|ordered|issued|reversed|adjusted|"
    "changed|unlocked|activated|upgraded|reissued|moved|switched|approved|frozen|set up|sorted|paid|taken off|"
    "put through|turned"
)
# "your membership's cancelled", "the direct debit's been stopped"
_DONE_OWNERS: Final = "membership|account|policy|order|debit|payment|plan|booking|refund|claim|contract|subscription"
_DOING_VERBS: Final = "refunding|crediting|cancel+ing|booking|sending out|arranging|waiving|removing|reissuing"
_COMPLETION: Final = compile_phrases(
    [
        "i've {done}",
        "i have {done}",
        "we've {done}",
        "that's {done}",
        "that's been {done}",
        "it's {done}",
        "it's been {done}",
        "has been {done}",
        "have been {done}",
        "is now {done}",
        "i'm {doing}",
        "all done",
        "all sorted",
        "you're all set",
        "gone through",
        "has approved",
        "that's done",
        "all set",
        "{owner}'s {done}",
        "{owner}'s been {done}",
    ],
    {"{done}": f"(?:{_DONE_VERBS})", "{doing}": f"(?:{_DOING_VERBS})", "{owner}": f"(?:{_DONE_OWNERS})"},
)
# a reply that welcomes what it heard: no objection however it opens ("This Saturday? Oh, that's much
# better than I thought.")
_WELCOMING: Final = compile_phrases(
    ["better than", "sooner than", "quicker than", "cheaper than i", "more than fair", "that's great", "brilliant"]
)
# a plain yes at the start of a longer reply (not "great" or "brilliant", which greet good news)
_YES_START: Final = re.compile(r"^\W*(yes|yeah|yep|yup|ok|okay|sure|fine|go on|alright|all right)\b", re.IGNORECASE)
_AGREEING_START: Final = re.compile(
    r"^\W*(yes|yeah|yep|yup|ok|okay|sure|fine|go on|go for it|please|lovely|perfect|great|brilliant|"
    r"alright|all right|that works|that's fine|sounds good|why not|deal)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class MomentTurn:
    """What the moment rules need of one utterance, in call order."""

    utterance_id: str
    speaker: str
    text: str
    start: float
    end: float
    hits: tuple[CategoryHit, ...]
    sentiment: str
    emotion: str = "neutral"  # the contact-centre label (analysis.emotion)
    cues: DecisionCues = field(default_factory=DecisionCues)
    accepted: bool = False  # an acceptance of an offer in reach (analysis.decisions)
    resolution_sentence: str | None = None  # the agent states a fix or next step (analysis.agent_score)


@dataclass(frozen=True, slots=True)
class Moment:
    """One moment, as the SSE ``moment`` event and the summary file carry it."""

    moment_id: str
    category: str  # one of MOMENT_LABELS, dead_air, or a category of the categories file
    speaker: str
    start: float
    end: float
    utterance_ids: tuple[str, ...]
    summary: str
    labels: tuple[str, ...]
    confidence: float
    alert: bool = False
    reason: str = ""
    match: str = "rule"  # phrase, meaning (the categories' MiniLM similarity), decision, rule

    def to_json(self) -> dict[str, object]:
        return {
            "moment_id": self.moment_id,
            "category": self.category,
            "speaker_id": self.speaker,
            "start_ms": round(self.start * 1000),
            "end_ms": round(self.end * 1000),
            "utterance_ids": list(self.utterance_ids),
            "summary": self.summary,
            "labels": list(self.labels),
            "confidence": round(self.confidence, 3),
            "match": self.match,
            "alert": self.alert,
            "reason": self.reason,
        }


def _echoes(text: str, said: str) -> bool:
    """The reply opens by repeating the agent's figure or term back ("Thirty-six months? That's three
    years.", "Sixty-one. I'm paying twenty-four now."): its first sentence is short and shares a word
    with what the agent said."""
    first = re.split(r"(?<=[.?!])\s", text.strip(), maxsplit=1)[0]
    opening = set(words(first))
    return 0 < len(opening) <= ECHO_MAX_WORDS and bool(opening & set(words(said)) - _STOPWORDS - _SMALL_WORDS)


def _agrees(text: str) -> bool:
    """Starts with a yes and pushes nothing back ("Okay, go ahead", not "Okay, but ...")."""
    return _AGREEING_START.search(text) is not None and _PUSHBACK.search(text) is None


def _content(text: str) -> frozenset[str]:
    return frozenset(w for w in words(text) if len(w) >= 4 and w not in _STOPWORDS)


@dataclass
class MomentTracker:
    """The moments of one call so far; ``add`` gives the new ones of each utterance."""

    _count: int = 0
    _last_agent: MomentTurn | None = None
    _issue_open: bool = True
    _complaints: list[frozenset[str]] = field(default_factory=list)
    _raised: set[str] = field(default_factory=set)
    _offered_since_threat: bool = False
    _customer_turns: int = 0
    moments: list[Moment] = field(default_factory=list)

    def _new(
        self,
        turn: MomentTurn,
        category: str,
        summary: str,
        labels: Sequence[str],
        confidence: float,
        alert: str = "",
        match: str = "rule",
    ) -> Moment:
        self._count += 1
        moment = Moment(
            f"m{self._count}",
            category,
            turn.speaker,
            turn.start,
            turn.end,
            (turn.utterance_id,) if turn.utterance_id else (),
            summary,
            tuple(labels),
            confidence,
            bool(alert),
            alert,
            match,
        )
        self.moments.append(moment)
        return moment

    def dead_air(self, start: float, end: float, speaker: str = "") -> Moment:
        """A silence nobody broke for ``end - start`` seconds (reported by the dynamics)."""
        self._count += 1
        duration = end - start
        moment = Moment(
            f"m{self._count}",
            "dead_air",
            speaker,
            start,
            end,
            (),
            f"{duration:.0f} s of dead air",
            ("dynamics", "dead_air"),
            1.0,
            duration >= DEAD_AIR_ALERT_S,
            f"nobody spoke for {duration:.0f} s" if duration >= DEAD_AIR_ALERT_S else "",
        )
        self.moments.append(moment)
        return moment

    def sustained_anger(self, utterance_id: str, speaker: str, start: float, text: str) -> Moment:
        """The customer angry two utterances in a row (reported by ``analysis.transitions``)."""
        self._count += 1
        quote = truncate(" ".join(text.split()), 90)
        moment = Moment(
            f"m{self._count}",
            "sustained_anger",
            speaker,
            start,
            start,
            (utterance_id,) if utterance_id else (),
            f'Customer angry again: "{quote}"',
            ("transitions", "sustained_anger"),
            0.8,
            True,
            "sustained anger: the customer is angry two utterances in a row",
        )
        self.moments.append(moment)
        return moment

    def add(self, turn: MomentTurn) -> list[Moment]:
        """The moments ``turn`` is (in MOMENT_LABELS order), then its other category hits."""
        found = self._moment_labels(turn)
        quote = truncate(" ".join(turn.text.split()), 90)
        new: list[Moment] = []
        for label in MOMENT_LABELS:
            if label not in found:
                continue
            how, confidence = found[label]
            alert = ALERT_MOMENTS.get(label, "")
            summary = f'{_SUMMARY[label]}: "{quote}"'
            new.append(self._new(turn, label, summary, (MOMENT_CATEGORY, label), confidence, alert, how))
        for hit in turn.hits:
            if hit.category == MOMENT_CATEGORY:
                continue
            # a category hit is a moment of its label (hold, transfer, offer_accepted ...), as it always was
            confidence = hit.similarity if hit.similarity is not None else PHRASE_CONFIDENCE
            summary = f'{hit.label.replace("_", " ")}: "{truncate(hit.phrase, 60)}"'
            new.append(self._new(turn, hit.label, summary, (hit.category, hit.label), confidence, "", hit.match))
        self._after(turn, found)
        return new

    def _moment_labels(self, turn: MomentTurn) -> dict[str, tuple[str, float]]:
        """label -> (how it was found, confidence) for the moments this turn is."""
        speaker = turn.speaker
        customer = speaker in ("customer", "unknown") or speaker.startswith("speaker_")
        agent = speaker in ("agent", "unknown") or speaker.startswith("speaker_")
        matched: dict[str, tuple[str, float]] = {}
        for hit in turn.hits:
            if hit.category == MOMENT_CATEGORY and hit.label in MOMENT_LABELS and hit.label not in matched:
                matched[hit.label] = (hit.match, hit.similarity if hit.similarity is not None else PHRASE_CONFIDENCE)
        found: dict[str, tuple[str, float]] = {}
        for label, value in matched.items():
            if label in _CUSTOMER_ONLY and not customer:
                continue
            found[label] = value
        self._commitment(turn, customer, found)
        self._resolution(turn, agent, found)
        if customer and "objection" not in found and self._pushes_back(turn):
            found["objection"] = ("rule", 0.75)  # (beside a threat too: "Then no, I'll go with Furlong")
        if "complaint" in found or "complaint" in matched:
            found.pop("complaint", None)
            if customer and turn.emotion in _COMPLAINING and self._is_new_complaint(turn, found):
                found["complaint"] = matched.get("complaint", ("phrase", PHRASE_CONFIDENCE))
        elif (
            customer
            and not self._complaints
            and self._customer_turns < FIRST_COMPLAINT_TURNS
            and turn.sentiment == "negative"
            and (turn.emotion in _ANNOYED | {"confused"} or (turn.emotion != "sad" and _FAULT.search(turn.text)))
            and not _HARDSHIP.search(turn.text)
            and self._is_new_complaint(turn, found)
        ):
            # the customer's first irritated statement of the call (or a worried one that blames the
            # company), without a listed phrase
            found["complaint"] = ("first_negative", 0.7)
        if "objection" in found and (turn.sentiment == "positive" or turn.accepted or "cta_commit" in found):
            del found["objection"]
        if "cancellation_threat" in found and _WITHDRAWN.search(turn.text):
            del found["cancellation_threat"]  # "Forget the PAC code then": the threat taken back
        if "cancellation_threat" in found and "cta_commit" in found and not turn.accepted:
            del found["cta_commit"]  # "Then no, that doesn't work for me. I'll go with the Furlong one."
        # asking again to leave after a new offer is a new answer to it ("No, really, I just need to stop it")
        asks_again = self._offered_since_threat and turn.cues.leave
        for label in _ONCE_UNTIL_ACCEPTED:
            if label in found and label in self._raised and not (label == "cancellation_threat" and asks_again):
                del found[label]
        return found

    def _commitment(self, turn: MomentTurn, customer: bool, found: dict[str, tuple[str, float]]) -> None:
        """cta_commit: an acceptance of an offer in reach, or yes to the agent's proposal just made."""
        grudging = turn.cues.reluctant or _ACCEPTANCE.search(turn.text) is not None
        if not customer or turn.cues.decline or turn.cues.sarcasm or (turn.sentiment == "negative" and not grudging):
            found.pop("cta_commit", None)  # (a grudging yes is still a yes: "Fine, I'll take that")
            return
        if turn.accepted:
            found["cta_commit"] = ("decision", DECISION_CONFIDENCE)
            return
        proposed = self._last_agent is not None and (
            self._last_agent.cues.offer or _PROPOSAL.search(self._last_agent.text) is not None
        )
        if "cta_commit" in found and not proposed:
            del found["cta_commit"]
        elif proposed and "cta_commit" not in found:
            short = len(turn.text.split()) <= SHORT_YES_WORDS
            asked = self._last_agent is not None and self._last_agent.text.rstrip().endswith("?")
            short_yes = short and (_SHORT_YES.search(turn.text) is not None or (asked and _agrees(turn.text)))
            # yes to it, or asking to buy what was just proposed ("Can I get the TV box and a second one?")
            if turn.cues.accept or turn.cues.reluctant or short_yes or "purchase_intent" in found:
                found["cta_commit"] = ("decision", PHRASE_CONFIDENCE)
        asked = self._last_agent is not None and "?" in self._last_agent.text
        if "cta_commit" not in found and self._last_agent is not None and _PLAIN_ACCEPTANCE.search(turn.text):
            found["cta_commit"] = ("decision", PHRASE_CONFIDENCE)
        if "cta_commit" not in found and asked and _ACCEPTANCE.search(turn.text) is not None:
            found["cta_commit"] = ("decision", PHRASE_CONFIDENCE)  # "Thursday morning I can do", "Yeah, add that on"
        deciding = turn.cues.undecided or _DECIDING.search(turn.text) is not None
        if "cta_commit" not in found and proposed and turn.sentiment != "negative" and not deciding:
            agrees = (
                _YES_START.search(turn.text) is not None
                and _PUSHBACK.search(turn.text) is None
                and not turn.text.rstrip().endswith("?")
            )
            if agrees or _SOFT_ACCEPTANCE.search(turn.text) is not None:
                # "Yes, that would actually be useful. Send it to the email you've got."
                found["cta_commit"] = ("decision", PHRASE_CONFIDENCE)

    def _resolution(self, turn: MomentTurn, agent: bool, found: dict[str, tuple[str, float]]) -> None:
        """resolution: once per open issue, the agent's statement of it done or the customer's confirmation."""
        if "resolution" in found and not self._issue_open:
            del found["resolution"]
            return
        if "resolution" in found or not self._issue_open or not agent:
            return
        cues = turn.cues
        if cues.arrangement_done or cues.paid_done or cues.cancel_done or cues.applied:
            found["resolution"] = ("decision", DECISION_CONFIDENCE)
        elif turn.speaker != "customer" and _COMPLETION.search(turn.text):
            found["resolution"] = ("rule", 0.75)

    def _pushes_back(self, turn: MomentTurn) -> bool:
        """An objection by rule: pushback right after the agent put an offer, a price, a policy or a
        date to the customer (not an acceptance, not a positive reply)."""
        agent = self._last_agent
        if agent is None or turn.accepted or turn.sentiment == "positive" or turn.cues.accept or turn.cues.reluctant:
            return False
        if turn.emotion in ("happy", "satisfied") or _WELCOMING.search(turn.text) is not None:
            return False
        if _ACCEPTANCE.search(turn.text) is not None or len(turn.text.split()) < OBJECTION_MIN_WORDS:
            return False
        if _HARDSHIP.search(turn.text) is not None:
            return False  # "I got made redundant, so forty-two a month just isn't ...": a reason, not pushback
        if _STRONG_PUSHBACK.search(turn.text) is not None:
            return True  # "that's a bit more than I'd hoped", "I'm not sure I want to be tied in", said calmly
        put = agent.cues.offer or _PROPOSAL.search(agent.text) is not None or _PUSHABLE.search(agent.text) is not None
        if not put:
            return False
        if _PUSHBACK.search(turn.text) is None and not _echoes(turn.text, agent.text):
            return False
        return turn.sentiment == "negative"

    def _is_new_complaint(self, turn: MomentTurn, found: dict[str, tuple[str, float]]) -> bool:
        if turn.sentiment == "positive" or len(turn.text.split()) < _MIN_COMPLAINT_WORDS:
            return False
        if turn.sentiment == "neutral" and turn.emotion not in _ANNOYED | {"confused"}:
            return False
        if any(
            label in found for label in ("objection", "cancellation_threat", "escalation_request", "purchase_intent")
        ):
            return False
        content = _content(turn.text)
        return not any(content & earlier for earlier in self._complaints)

    def _after(self, turn: MomentTurn, found: dict[str, tuple[str, float]]) -> None:
        self._customer_turns += turn.speaker != "agent"  # (a mono call's "unknown" may be the customer)
        if "complaint" in found:
            self._complaints.append(_content(turn.text))
        elif turn.speaker == "customer" and turn.sentiment == "negative" and self._complaints:
            self._complaints[-1] = self._complaints[-1] | _content(turn.text)  # the complaint goes on
        if "resolution" in found:
            self._issue_open = False
        elif any(label in found for label in _OPENS_ISSUE) or "purchase_intent" in found:
            self._issue_open = True
        if "cancellation_threat" in found:
            self._offered_since_threat = False
        self._raised.update(label for label in _ONCE_UNTIL_ACCEPTED if label in found)
        if "cta_commit" in found:
            self._raised.clear()
        if turn.speaker != "customer" and turn.cues.offer:
            self._offered_since_threat = True
        if turn.speaker != "customer":
            self._last_agent = turn
