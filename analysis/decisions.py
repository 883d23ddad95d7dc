"""Offers and the customer's decision: what retention, sales and collections calls end with.

A service call ends with a fix or a refusal; a retention call ends with the customer staying or
leaving, a sales call with a sale closed or declined, a collections call with a payment, a payment
arrangement or nothing agreed. In each, the customer's decision is the outcome, and it is rarely the
call's last sentence (a farewell, "anything else?", small talk follow it). So the decision is read
from explainable phrase rules and, with the encoder loaded, by meaning (``analysis.decision_acts``: a
classifier per act over the utterance's embedding, trained on written examples), per utterance once
(``decision_cues``), and for the call from the utterances in order (``call_decision``):

* **Agent cues.** An *offer* ("I can offer you", "how about", "would you like", "I can knock ten
  pounds off", "a payment plan", "spread the cost"); a *confirmation* of what was done: a
  cancellation ("I've cancelled", "has been cancelled", "your account is closed"), a payment
  arrangement ("I've set up the payment plan", "the arrangement is in place"), a payment taken
  ("the payment's gone through", "your balance is now zero") or a change applied ("I've applied the
  discount", "you're all set up", "I've upgraded you").
* **Customer cues.** A *request to leave* ("I want to cancel", "close my account", "I'm leaving");
  an *acceptance* ("go on then", "sign me up", "yes please, put me on that one", "let's do that",
  "that works"), or a *grudging* one ("I suppose so", "if I have to", "go ahead and renew it"); paying
  *now* in full ("let's just pay it now"); a *decline* ("no thanks", "not interested", "I'd rather
  just cancel", "I can't afford that"); *undecided* ("I'll think about it", "let me talk to my
  partner"). A yes counts only within ``OFFER_REACH`` customer turns of an agent offer (otherwise
  "that works" may be about anything) and never with a sarcasm cue ("oh great, another price rise").
  A clear acceptance (``is_acceptance``: not grudging, not a negative utterance) is also a positive
  utterance; a grudging one is a decision (``is_agreement``) but stays neutral.
* **The decision.** The last of: a yes (after an offer), a decline (after an offer, or after a request
  to leave), an undecided (after an offer or a request to leave); then the agent's confirmations after
  it settle what it was. In this order: a collections context ("overdue", "arrears", "outstanding
  balance") with a payment taken or a yes to paying now is ``paid_in_full``, with a yes or an
  arrangement set up ``payment_arrangement``; a request to leave with a yes and no cancellation
  confirmed after it is ``retention_saved``, with a cancellation confirmed or a decline ``cancelled``; a
  yes to a payment-plan offer (or, after one, to what the agent then confirms as a plan set up) is
  ``payment_arrangement``; any other yes ``sale_closed``; a decline ``sale_declined`` (``no_agreement``
  in collections); an undecided ``undecided``. "" when the call has none of these (a service call: the
  summary's fix-or-refusal rules apply). A decline or undecided about an offer made after the agent had
  already said how the problem ends (a fix, a refusal) is *incidental*: an upsell on a service call,
  recorded as the outcome but not quoted as the summary's outcome.

The outcome is in the summary (``Outcome: retention saved: "Go on then, put me on that one."``), the
call analysis (``outcome``) and the call's row of ``calls.csv``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from analysis.text import compile_phrases

__all__ = [
    "OFFER_REACH",
    "OUTCOME_LABELS",
    "CallDecision",
    "DecisionCues",
    "call_decision",
    "decision_cues",
    "describe_outcome",
    "is_acceptance",
    "is_agreement",
    "offer_in_reach",
    "offer_sentence",
]

OFFER_REACH: Final = 3  # customer turns after an agent offer in which "that works" is an acceptance of it

OUTCOME_LABELS: Final = (
    "retention_saved",
    "cancelled",
    "sale_closed",
    "sale_declined",
    "payment_arrangement",
    "paid_in_full",
    "no_agreement",
    "undecided",
)

OFFER_PHRASES: Final = (
    "i can offer",
    "we can offer",
    "i could offer",
    "we could offer",
    "i'd like to offer",
    "i can give you",
    "i could give you",
    "we can give you",
    "i can do you",
    "i could do you",
    "what i can do is",
    "what i could do is",
    "how about",
    "what about",
    "would you like",
    "would you be interested",
    "are you interested",
    "would that help",
    "would that work",
    "does that sound",
    "how does that sound",
    "i can knock",
    "i can take * off",
    "i can reduce",
    "i can bring * down",
    "i can drop",
    "i can match",
    "price match",
    "discount",
    "{num} percent off",
    "percent off",
    "per cent off",
    "half price",
    "for free",
    "free for",
    "upgrade you",
    "i can switch you",
    "i can move you",
    "i can put you on",
    "we can put you on",
    "payment plan",
    "payment arrangement",
    "an arrangement",
    "in instalments",
    "in installments",
    "spread the cost",
    "spread it",
    "spread the payments",
    "pay * a month",
    "pay * per month",
    "a month for",
    "per month for",
    "loyalty",
    "special offer",
    "deal",
    "{num} options",
    "couple of options",
    "other option",
    "another option",
    "first option",
    "the option of",
    "you can move to",
    "you could move to",
    "you can switch to",
    "you could switch to",
    "you can upgrade",
    "you could upgrade",
    "move you to",
    "switch you to",
    "pounds a month",
    "a month instead",
    "pre-approved",
    "we could also",
    "we can also",
    "i can also",
)
ACCEPT_PHRASES: Final = (
    "go on then",
    "go on, then",
    "sign me up",
    "put me on",
    "i'll take it",
    "i'll take that",
    "i'll take the",
    "i'll have that",
    "i'll have the",
    "i'll go with",
    "i'll go for",
    "let's do that",
    "let's do it",
    "let's go with",
    "let's go for",
    "that works",
    "that'd work",
    "that would work",
    "that'll work",
    "that works for me",
    "sounds good",
    "sounds great",
    "sounds fair",
    "sounds reasonable",
    "sounds like a plan",
    "yes please",
    "yeah please",
    "yes, please",
    "yeah, please",
    "please do",
    "you've got a deal",
    "it's a deal",
    "happy with that",
    "happy to do that",
    "happy to go ahead",
    "i'll stay",
    "i'll keep",
    "i'll stick with",
    "i'll stop",  # "I'll stop the cancellation"
    "i can do that",
    "i can manage that",
    "i can afford that",
    "i can do * a month",
    "i can pay",
    "i'll pay",
    "pay it now",
    "pay the full",
    "pay it all",
    "pay the lot",
    "take the payment",
    "take it from",
    "set it up",
    "set that up",
    "book it",
    "go ahead with",
    "go ahead and do",
    "why not",
    "alright, then",
    "alright then",
    "okay then",
    "ok then",
    "fine, then",
    "fine then",
    "fair enough",
    "let's just",
    "that's fine",
    "i can manage",
)
# Yes, but grudgingly ("I suppose so, if it's the same cover. Go ahead and renew it."): a decision, but
# not a positive utterance.
RELUCTANT_PHRASES: Final = (
    "i suppose so",
    "i suppose",
    "i guess so",
    "fine, i guess",
    "if i have to",
    "if i must",
    "go ahead and",
    "just do it",
    "do it then",
    "i'll have to",
    "no choice",
)
# Paying now, in full (collections): "let's just pay the hundred and twenty six forty now".
PAY_NOW_PHRASES: Final = (
    "pay it now",
    "pay * now",
    "pay the * now",
    "pay the full",
    "pay the whole",
    "pay it all",
    "pay the lot",
    "pay it off",
    "clear it now",
    "clear it today",
    "clear the balance",
    "clear the lot",
    "settle it",
    "settle the",
)
DECLINE_PHRASES: Final = (
    "no thanks",
    "no thank you",
    "no, thanks",
    "no, thank you",
    "not interested",
    "i'll pass",
    "i'll leave it",
    "not for me",
    "don't want it",
    "don't want that",
    "don't want the",
    "don't want to",
    "don't need it",
    "don't need that",
    "i don't want",
    "not agreeing",
    "but no",
    "happy as it is",
    "happy as i am",
    "fine as i am",
    "fine as it is",
    "still want to cancel",
    "still want to leave",
    "still like to cancel",
    "just cancel",
    "please cancel",
    "go ahead and cancel",
    "rather cancel",
    "rather just cancel",
    "made up my mind",
    "mind's made up",
    "not worth it",
    "too expensive",
    "can't afford",
    "cannot afford",
    "can't do that",
    "can't pay",
    "cannot pay",
    "won't be paying",
    "not paying",
    "not going to pay",
    "that doesn't work",
    "that won't work",
    "doesn't work for me",
    "no, just",
    "no, that's too",
    "no, it's too",
    "no, honestly",
    "no, not really",
    "no, i don't",
    "no, i'm not",
    "no, i'd rather",
    "i don't need",
    "i don't think so",
    "i said no",
    "take me off your",
    "stop calling",
    "not today",
)
UNDECIDED_PHRASES: Final = (
    "think about it",
    "think it over",
    "have a think",
    "let me think",
    "need to think",
    "call you back",
    "call back",
    "get back to you",
    "talk to my",
    "speak to my",
    "check with my",
    "discuss it with",
    "sleep on it",
    "not sure yet",
)
LEAVE_PHRASES: Final = (
    "cancel my",
    "cancel the",
    "want to cancel",
    "like to cancel",
    "need to cancel",
    "calling to cancel",
    "ringing to cancel",
    "close my account",
    "close the account",
    "end my contract",
    "end the contract",
    "want to leave",
    "like to leave",
    "going to leave",
    "thinking of leaving",
    "thinking about leaving",
    "i'm leaving",
    "leave you",
    "leaving you",
    "i'm off",
    "switch provider",
    "switching provider",
    "switching to",
    "moving to",
    "terminate",
)
SARCASM_PHRASES: Final = (
    "oh great",
    "oh brilliant",
    "oh wonderful",
    "oh perfect",
    "oh lovely",
    "oh fantastic",
    "great, another",
    "brilliant, another",
    "just great",
    "just brilliant",
    "just what i need",
    "yeah right",
    "as if",
)
CANCEL_DONE_PHRASES: Final = (
    "i've cancelled",
    "i have cancelled",
    "i've canceled",
    "has been cancelled",
    "has been canceled",
    "have been cancelled",
    "is now cancelled",
    "is cancelled",
    "that's cancelled",
    "that's now cancelled",
    "cancellation is confirmed",
    "cancellation has gone through",
    "cancellation's gone through",
    "processed the cancellation",
    "processed your cancellation",
    "i've closed",
    "has been closed",
    "account is closed",
    "account is now closed",
    "will be cancelled",
    "will be closed",
    "i've put the cancellation through",
    "i've put that cancellation through",
)
ARRANGEMENT_DONE_PHRASES: Final = (
    "set up the payment plan",
    "set up a payment plan",
    "set up the plan",
    "set up the arrangement",
    "set up an arrangement",
    "set that arrangement up",
    "set that plan up",
    "arrangement is in place",
    "arrangement is set up",
    "plan is set up",
    "plan is in place",
    "arrangement is now",
    "plan is now",
    "i've put the arrangement",
    "i've put the plan",
    "i've put that arrangement",
    "i've put a hold",
    "i've paused",
    "i've frozen",
    "first payment of",
    "instalments of",
    "installments of",
)
PAID_DONE_PHRASES: Final = (
    "payment has gone through",
    "payment's gone through",
    "payment went through",
    "payment has been taken",
    "payment's been taken",
    "i've taken the payment",
    "taken the payment",
    "payment is successful",
    "payment was successful",
    "payment's been successful",
    "been paid in full",
    "paid in full",
    "been taken",
    "pounds * taken",
    "back up to date",
    "account is up to date",
    "account's up to date",
    "balance is now zero",
    "balance is now clear",
    "balance is cleared",
    "cleared the balance",
    "account is clear",
    "account is now clear",
    "nothing left to pay",
    "nothing outstanding",
)
APPLIED_PHRASES: Final = (
    "i've applied",
    "i have applied",
    "i've added",
    "i've put you on",
    "i've moved you",
    "i've switched you",
    "i've upgraded",
    "i've renewed",
    "i've changed your",
    "i've set that up",
    "i've set you up",
    "that's all set up",
    "you're all set up",
    "all set up",
    "you're all set",
    "that's all done",
    "all done",
    "is now active",
    "will be active",
    "will start",
    "takes effect",
    "will take effect",
    "is on your account",
    "on your account now",
    "order is placed",
    "i've placed",
    "i've booked",
    "i've stopped the cancellation",
    "cancelled the cancellation",
)
ARRANGEMENT_OFFER_PHRASES: Final = (
    "payment plan",
    "payment arrangement",
    "an arrangement",
    "instalment*",
    "installment*",
    "spread the cost",
    "spread it",
    "spread that",
    "spread the",
    "payment holiday",
    "pay * a month over",
    "a month over",
    "over {num} months",
    "over the next {num} months",
)
COLLECTIONS_PHRASES: Final = (
    "overdue",
    "arrears",
    "outstanding balance",
    "outstanding amount",
    "balance outstanding",
    "missed payment",
    "missed payments",
    "missed * payments",
    "behind on",
    "in debt",
    "the debt",
    "owe",
    "owing",
    "collections",
    "final notice",
    "default notice",
)

_OFFER: Final = compile_phrases(OFFER_PHRASES)
_ACCEPT: Final = compile_phrases(ACCEPT_PHRASES)
_DECLINE: Final = compile_phrases(DECLINE_PHRASES)
_UNDECIDED: Final = compile_phrases(UNDECIDED_PHRASES)
_RELUCTANT: Final = compile_phrases(RELUCTANT_PHRASES)
_PAY_NOW: Final = compile_phrases(PAY_NOW_PHRASES)
_LEAVE: Final = compile_phrases(LEAVE_PHRASES)
_SARCASM: Final = compile_phrases(SARCASM_PHRASES)
_CANCEL_DONE: Final = compile_phrases(CANCEL_DONE_PHRASES)
_ARRANGEMENT_DONE: Final = compile_phrases(ARRANGEMENT_DONE_PHRASES)
_PAID_DONE: Final = compile_phrases(PAID_DONE_PHRASES)
_APPLIED: Final = compile_phrases(APPLIED_PHRASES)
_COLLECTIONS: Final = compile_phrases(COLLECTIONS_PHRASES)
_ARRANGEMENT_OFFER: Final = compile_phrases(ARRANGEMENT_OFFER_PHRASES)


@dataclass(frozen=True, slots=True)
class DecisionCues:
    """What one utterance says about offers and decisions (found once, when it is added)."""

    offer: bool = False  # agent: an offer, a deal, a plan proposed
    accept: bool = False  # customer: yes to something (an acceptance only after an offer)
    reluctant: bool = False  # customer: yes, grudgingly (a decision, not a positive utterance)
    pay_now: bool = False  # customer: will pay in full now
    decline: bool = False  # customer: no to it
    undecided: bool = False  # customer: will think about it
    leave: bool = False  # customer: wants to cancel / leave
    sarcasm: bool = False
    cancel_done: bool = False  # agent: the cancellation went through
    arrangement_done: bool = False  # agent: a payment arrangement is in place
    paid_done: bool = False  # agent: the payment was taken
    applied: bool = False  # agent: the offer / change is applied
    arrangement_offer: bool = False  # agent: the offer is a payment plan (instalments, spreading a bill)
    collections: bool = False  # anyone: an overdue bill or a debt

    @property
    def any(self) -> bool:
        return any(getattr(self, name) for name in self.__slots__)


def decision_cues(text: str, speaker: str, meaning: frozenset[str] = frozenset()) -> DecisionCues:
    """The cues of one utterance; agent cues only for agents, customer cues only for customers
    (mono calls, "unknown", get both: who said what is not known). ``meaning``: the acts the classifiers
    of ``analysis.decision_acts`` found in it (each a field name), counted beside the phrases."""
    agent = speaker in ("agent", "unknown")
    customer = speaker in ("customer", "unknown")

    def found(pattern: re.Pattern[str], act: str = "") -> bool:
        return act in meaning or pattern.search(text) is not None

    return DecisionCues(
        offer=agent and found(_OFFER, "offer"),
        accept=customer and found(_ACCEPT, "accept"),
        reluctant=customer and found(_RELUCTANT, "reluctant"),
        pay_now=customer and found(_PAY_NOW, "pay_now"),
        decline=customer and found(_DECLINE, "decline"),
        undecided=customer and found(_UNDECIDED, "undecided"),
        leave=customer and found(_LEAVE, "leave"),
        sarcasm=found(_SARCASM),
        cancel_done=agent and found(_CANCEL_DONE, "cancel_done"),
        arrangement_done=agent and found(_ARRANGEMENT_DONE, "arrangement_done"),
        paid_done=agent and found(_PAID_DONE, "paid_done"),
        applied=agent and found(_APPLIED, "applied"),
        arrangement_offer=agent and found(_ARRANGEMENT_OFFER),
        collections=found(_COLLECTIONS),
    )


@dataclass(frozen=True, slots=True)
class DecisionTurn:
    """What ``call_decision`` needs of one utterance, in call order."""

    speaker: str
    cues: DecisionCues
    sentiment: str  # the utterance's label
    fixed: bool = False  # an agent utterance that states a fix or next step (analysis.agent_score)


@dataclass(frozen=True, slots=True)
class CallDecision:
    """The call's outcome and where it was decided."""

    outcome: str  # one of OUTCOME_LABELS, or "" (no offer, leaving or payment in the call)
    decision: int | None = None  # index of the customer's deciding utterance
    offer: int | None = None  # index of the offer it answered (the agent's), if any
    confirmation: int | None = None  # index of the agent's confirmation of it, if any
    kind: str = ""  # "offer accepted", "offer declined", "undecided", "cancelled", "payment taken" ...
    incidental: bool = False  # an upsell declined after the problem was settled: not the call's outcome


def is_acceptance(turn: DecisionTurn, offered: bool) -> bool:
    """A customer's clear yes to an offer made in reach: a positive utterance (never sarcastic, reluctant,
    negative, or a no)."""
    cues = turn.cues
    return (
        offered
        and cues.accept
        and not (cues.decline or cues.sarcasm or cues.reluctant)
        and turn.sentiment != "negative"
    )


def is_agreement(turn: DecisionTurn, offered: bool) -> bool:
    """A customer's yes to an offer made in reach, clear or reluctant: a decision."""
    cues = turn.cues
    said_yes = cues.accept or cues.reluctant or cues.pay_now
    return offered and said_yes and not cues.decline and not cues.sarcasm


class Spoken(Protocol):
    """An utterance as far as offers go: who said it and its cues (a ``DecisionTurn``, the analyzer's record)."""

    @property
    def speaker(self) -> str: ...

    @property
    def cues(self) -> DecisionCues: ...


def offer_in_reach(previous: Sequence[Spoken]) -> int | None:
    """The index in ``previous`` of the offer that the customer's next utterance may answer: the latest agent
    offer, unless ``OFFER_REACH`` customer turns have come since it; None when there is none in reach."""
    customer_turns = 0
    for index in range(len(previous) - 1, -1, -1):
        turn = previous[index]
        if turn.speaker != "customer" and turn.cues.offer:
            return index
        if turn.speaker != "agent":
            customer_turns += 1
            if customer_turns >= OFFER_REACH:
                return None
    return None


def call_decision(turns: Sequence[DecisionTurn]) -> CallDecision:
    """The outcome of the call so far (see the module doc)."""
    leave_asked = any(t.cues.leave for t in turns if t.speaker != "agent")
    collections = any(t.cues.collections for t in turns)
    decision: int | None = None
    decided = ""  # accept, decline, undecided
    answered: int | None = None
    pay_now = False
    for index, turn in enumerate(turns):
        if turn.speaker == "agent" or (turn.speaker != "customer" and turn.cues.offer):
            continue
        offer = offer_in_reach(turns[:index])
        offered = offer is not None
        if is_agreement(turn, offered):
            decision, decided, answered = index, "accept", offer
            pay_now = pay_now or turn.cues.pay_now
        elif turn.cues.decline and (offered or turn.cues.leave or leave_asked):
            decision, decided, answered = index, "decline", offer
        elif turn.cues.undecided and not turn.cues.accept and decided != "accept" and (offered or leave_asked):
            decision, decided, answered = index, "undecided", offer
    # An offer declined (or left open) after the agent already said how the problem ends (a fix, a
    # refusal, news) is an upsell on a service call: the decision is recorded, the summary keeps the
    # service outcome.
    incidental = (
        decided in ("decline", "undecided")
        and not leave_asked
        and not collections
        and answered is not None
        and any(t.fixed or (t.speaker == "agent" and t.sentiment == "negative") for t in turns[:answered])
    )
    after = decision if decision is not None else -1
    confirmations = [(i, t.cues) for i, t in enumerate(turns) if i > after and t.speaker != "customer"]
    paid = next((i for i, c in confirmations if c.paid_done), None)
    arranged = next((i for i, c in confirmations if c.arrangement_done), None)
    # a yes to a payment-plan offer, or a yes after one (to the agent's last word on it: "three months is the
    # maximum") that the agent then confirms as a plan set up
    plan_offered = any(t.cues.arrangement_offer for t in turns[:after] if t.speaker != "customer")
    arrangement_offered = (answered is not None and turns[answered].cues.arrangement_offer) or (
        decided == "accept" and arranged is not None and plan_offered
    )
    cancelled = next((i for i, c in confirmations if c.cancel_done), None)
    applied = next((i for i, c in confirmations if c.applied), None)
    arrangement = CallDecision(
        "payment_arrangement",
        decision,
        answered,
        arranged if arranged is not None else applied,
        "payment arrangement agreed",
    )
    agreed_plan = decided == "accept" or (arranged is not None and decided != "decline")
    if collections and (paid is not None or (decided == "accept" and pay_now)):
        return CallDecision("paid_in_full", decision, answered, paid, "payment taken")
    if collections and agreed_plan:
        return arrangement
    if leave_asked and decided == "accept" and cancelled is None:
        return CallDecision("retention_saved", decision, answered, applied, "offer accepted")
    if leave_asked and (cancelled is not None or decided == "decline"):
        return CallDecision("cancelled", decision, answered, cancelled, "cancelled")
    if arrangement_offered and agreed_plan:
        return arrangement
    if decided == "accept":
        return CallDecision("sale_closed", decision, answered, applied, "offer accepted")
    if decided == "decline":
        outcome = "no_agreement" if collections else "sale_declined"
        return CallDecision(outcome, decision, answered, None, "offer declined", incidental)
    if decided == "undecided":
        return CallDecision("undecided", decision, answered, None, "undecided", incidental)
    return CallDecision("")


def describe_outcome(outcome: str) -> str:
    """`retention_saved` -> `retention saved`."""
    return outcome.replace("_", " ")


def offer_sentence(sentences: Sequence[str]) -> str | None:
    """The first sentence with an offer phrase (the agent's offer, for the summary)."""
    return next((sentence for sentence in sentences if _OFFER.search(sentence)), None)
