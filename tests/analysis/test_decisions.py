"""`analysis.decisions`: offers and the customer's decision, from the cues of each utterance in call order."""

from __future__ import annotations

import pytest

from analysis.decisions import (
    CallDecision,
    DecisionTurn,
    call_decision,
    decision_cues,
    is_acceptance,
    is_agreement,
    offer_sentence,
)


def _turns(*said: tuple[str, str, str]) -> list[DecisionTurn]:
    return [DecisionTurn(speaker, decision_cues(text, speaker), sentiment) for speaker, text, sentiment in said]


def _decide(*said: tuple[str, str, str]) -> CallDecision:
    return call_decision(_turns(*said))


def test_cues_belong_to_their_speaker() -> None:
    offer = "What I can do is put you on a new contract at twenty seven pounds a month."
    assert decision_cues(offer, "agent").offer and not decision_cues(offer, "customer").offer
    assert decision_cues("Go on then, put me on that one.", "customer").accept
    assert not decision_cues("Go on then, put me on that one.", "agent").accept
    mono = decision_cues("Yes please, let's do that.", "unknown")
    assert mono.accept  # who said it is not known on a mono call
    assert decision_cues("Oh great, another price rise.", "customer").sarcasm
    assert decision_cues("I suppose so, if it's the same cover.", "customer").reluctant
    assert decision_cues("I'm behind on my council tax", "customer").collections
    assert decision_cues("I've cancelled that for you.", "agent").cancel_done
    assert not decision_cues("Hello, how can I help?", "agent").any


@pytest.mark.parametrize(
    ("text", "sentiment", "clear", "agreed"),
    [
        ("Go on then, put me on that one.", "neutral", True, True),
        ("Fine, sign me up.", "neutral", True, True),
        ("Yes please, put me on that one.", "positive", True, True),
        ("Oh great, another price rise. Sign me up, I suppose.", "negative", False, False),  # sarcasm
        ("I suppose so. Go ahead and renew it.", "neutral", False, True),  # grudging: a decision, not a yes
        ("That's kind of you, but no thanks.", "neutral", False, False),
    ],
)
def test_acceptance_and_agreement(text: str, sentiment: str, clear: bool, agreed: bool) -> None:
    [turn] = _turns(("customer", text, sentiment))
    assert is_acceptance(turn, offered=True) is clear
    assert is_agreement(turn, offered=True) is agreed
    assert not is_acceptance(turn, offered=False) and not is_agreement(turn, offered=False)


def test_retention_saved_after_a_declined_first_offer() -> None:
    decided = _decide(
        ("customer", "I want to cancel my broadband, the bill's jumped to fifty two pounds.", "negative"),
        ("agent", "I can upgrade you to Fibre Max at no extra cost.", "neutral"),
        ("customer", "No, I don't need faster. It's the price.", "negative"),
        ("agent", "What I can do is put you on twenty seven pounds a month.", "neutral"),
        ("customer", "Go on then, put me on that one.", "positive"),
        ("agent", "Lovely, that starts from your next bill.", "positive"),
        ("customer", "Cheers. Bye.", "positive"),  # a farewell after the decision is not the outcome
    )
    assert (decided.outcome, decided.decision, decided.offer, decided.kind) == (
        "retention_saved",
        4,
        3,
        "offer accepted",
    )


def test_cancelled_when_every_offer_is_declined() -> None:
    decided = _decide(
        ("customer", "I'd like to cancel my subscription, please.", "neutral"),
        ("agent", "I can offer you three months at half price.", "neutral"),
        ("customer", "That's kind of you, but no thanks.", "neutral"),
        ("agent", "Of course. I've cancelled that for you.", "positive"),
        ("customer", "Perfect, thank you.", "positive"),
    )
    assert (decided.outcome, decided.decision, decided.confirmation) == ("cancelled", 2, 3)


def test_sales_collections_and_undecided() -> None:
    closed = _decide(
        ("agent", "You've got two options: Standard at twenty six pounds a month, or Plus.", "neutral"),
        ("customer", "Go on then, sign me up for Plus.", "positive"),
        ("agent", "That's gone through. You're on Plus now.", "positive"),  # a card payment of a sale: not a debt
    )
    assert closed.outcome == "sale_closed"
    declined = _decide(
        ("agent", "Would you be interested in our cashback card?", "neutral"),
        ("customer", "No. I said no. Please take me off your list.", "negative"),
    )
    assert declined.outcome == "sale_declined"
    arrangement = _decide(
        ("customer", "I've had a letter saying I'm behind on my council tax.", "negative"),
        ("agent", "We can spread the arrears to the end of March, about sixty eight pounds a month.", "neutral"),
        ("customer", "Yes please, let's do that.", "positive"),
    )
    assert arrangement.outcome == "payment_arrangement"
    paid = _decide(
        ("agent", "Your minimum payment is overdue. If you clear it today I can remove the late fee.", "neutral"),
        ("customer", "Fair enough. Let's just pay the hundred and twenty six forty now.", "positive"),
        ("agent", "Thank you. That's one hundred and twenty six pounds forty taken.", "positive"),
    )
    assert (paid.outcome, paid.confirmation) == ("paid_in_full", 2)
    refused = _decide(
        ("customer", "I've had another letter saying I owe you six hundred in arrears.", "negative"),
        ("agent", "What I can offer is to clear the arrears over six months.", "neutral"),
        ("customer", "I'm not paying you a penny until someone sorts that gearbox.", "negative"),
    )
    assert refused.outcome == "no_agreement"
    undecided = _decide(
        ("agent", "What I can do is knock ten pounds a month off your bill.", "neutral"),
        ("customer", "Let me have a think about it and talk to my partner.", "neutral"),
    )
    assert (undecided.outcome, undecided.decision) == ("undecided", 1)


def test_a_service_call_has_no_decision() -> None:
    assert _decide(
        ("customer", "My internet keeps dropping.", "negative"),
        ("agent", "I've reset the line, it should be stable now.", "positive"),
        ("customer", "That works, thanks.", "positive"),  # "that works" with no offer before it: not a sale
    ) == CallDecision("")


def test_an_acceptance_must_answer_an_offer_in_reach() -> None:
    far = _decide(
        ("agent", "I can offer you a discount.", "neutral"),
        ("customer", "Hmm.", "neutral"),
        ("customer", "Let me see.", "neutral"),
        ("customer", "My address is ten Mill Street.", "neutral"),
        ("customer", "Sounds good.", "positive"),  # four customer turns later: about something else
    )
    assert far.outcome == ""


def test_offer_sentence() -> None:
    sentences = ("Thanks for holding.", "What I can do is put you on a new contract.", "It starts in June.")
    assert offer_sentence(sentences) == sentences[1]
    assert offer_sentence(("Thanks for holding.",)) is None


def test_a_yes_the_agent_then_confirms_as_a_payment_plan_is_an_arrangement() -> None:
    """The yes answered the agent's last word on it ("three months is the maximum"), not the plan's offer;
    the plan set up after it says what was agreed."""
    decided = _decide(
        ("customer", "I can't pay three hundred pounds in one go. Can I spread it out?", "negative"),
        ("agent", "I can set up a payment plan over three months.", "neutral"),
        ("customer", "Can it be longer, like six months?", "neutral"),
        ("agent", "Three months is the maximum I can offer.", "neutral"),
        ("customer", "Fine, I suppose I'll take the three months.", "neutral"),
        ("agent", "Okay, the three month plan is set up, the first payment goes out on the fifth.", "neutral"),
    )
    assert (decided.outcome, decided.decision, decided.confirmation) == ("payment_arrangement", 4, 5)


def test_acts_found_by_meaning_count_on_their_speakers_side_only() -> None:
    text = "Then I'll take my number elsewhere."
    assert not decision_cues(text, "customer").leave  # no phrase for it
    assert decision_cues(text, "customer", frozenset({"leave"})).leave
    assert not decision_cues(text, "agent", frozenset({"leave"})).leave  # a customer act, said by the agent
    assert decision_cues("Tell you what, a fiver off.", "agent", frozenset({"offer"})).offer
    assert not decision_cues("Tell you what, a fiver off.", "customer", frozenset({"offer"})).offer


def test_a_plan_set_up_is_an_arrangement_only_after_a_payment_plan_was_offered_and_accepted() -> None:
    service = _decide(
        ("customer", "My broadband has been dropping out all week.", "negative"),
        ("agent", "I've reset the line and your plan is set up again.", "positive"),
    )
    assert service.outcome == ""  # no offer, no yes: no decision
    sale = _decide(
        ("agent", "Would you like to add the data bundle for five pounds a month?", "neutral"),
        ("customer", "Go on then, add it.", "positive"),
        ("agent", "Lovely, your new plan is set up.", "positive"),
    )
    assert sale.outcome == "sale_closed"  # a plan of the product, not a payment plan
