"""The moment rules of analysis.moments on scripted turns, with the packaged phrase lists."""

from __future__ import annotations

from analysis.categories import default_matcher
from analysis.decisions import decision_cues
from analysis.moments import MOMENT_CATEGORY, MomentTracker, MomentTurn


def _turn(index: int, speaker: str, text: str, sentiment: str = "neutral", emotion: str = "neutral") -> MomentTurn:
    start = 5.0 * index
    hits = default_matcher().match(text, start, speaker)
    return MomentTurn(
        f"u{index}", speaker, text, start, start + 4.0, hits, sentiment, emotion, decision_cues(text, speaker)
    )


def _moments(turns: list[tuple[str, str, str, str]]) -> list[list[str]]:
    tracker = MomentTracker()
    found = []
    for index, (speaker, text, sentiment, emotion) in enumerate(turns):
        added = tracker.add(_turn(index, speaker, text, sentiment, emotion))
        found.append([m.category for m in added if m.labels[0] == MOMENT_CATEGORY])  # the seven, not category hits
    return found


def test_a_retention_call_has_its_threat_objection_commitment_and_resolution() -> None:
    found = _moments(
        [
            ("agent", "Thanks for calling, how can I help?", "positive", "satisfied"),
            ("customer", "I want my PAC code, I'm moving to another network.", "neutral", "neutral"),
            ("agent", "I can offer you the thirty gig plan for twenty-six pounds a month.", "neutral", "neutral"),
            ("customer", "Twenty-six is still more than I pay with them. Why would I stay?", "negative", "frustrated"),
            (
                "agent",
                "I can do unlimited data for twenty-two pounds a month. Shall I put that through?",
                "neutral",
                "neutral",
            ),
            ("customer", "Yeah, go on then, put me on that one.", "positive", "satisfied"),
            ("agent", "That's booked. Your next bill will be twenty-two pounds.", "neutral", "neutral"),
        ]
    )
    assert found[1] == ["cancellation_threat"]
    assert found[3] == ["objection"]
    assert "cta_commit" in found[5]
    assert found[6] == ["resolution"]
    assert found[0] == [] and found[2] == []


def test_the_customers_moments_are_never_the_agents() -> None:
    found = _moments(
        [
            ("agent", "I'll ask my supervisor, and if you want to cancel my team can do it.", "neutral", "neutral"),
            ("customer", "Okay, thanks.", "neutral", "neutral"),
        ]
    )
    assert found[0] == []  # an agent naming a supervisor or a cancellation is not an escalation or a threat


def test_a_yes_counts_as_a_commitment_only_after_a_proposal() -> None:
    without = _moments(
        [
            ("agent", "Am I speaking to Mr Kowalski?", "neutral", "neutral"),
            ("customer", "Yes please.", "neutral", "neutral"),
        ]
    )
    with_ = _moments(
        [
            ("agent", "Shall I send it to the address on file?", "neutral", "neutral"),
            ("customer", "Yes please.", "neutral", "neutral"),
        ]
    )
    assert "cta_commit" not in without[1]
    assert "cta_commit" in with_[1]


def test_a_complaint_is_reported_once_and_its_repetition_is_not() -> None:
    found = _moments(
        [
            ("agent", "How can I help?", "neutral", "neutral"),
            ("customer", "My broadband has dropped out again, the third time this week.", "negative", "frustrated"),
            ("agent", "Can I take the postcode?", "neutral", "neutral"),
            (
                "customer",
                "It dropped out again last night as well, broadband gone for hours.",
                "negative",
                "frustrated",
            ),
            ("agent", "I see.", "neutral", "neutral"),
            ("customer", "And I've been charged twice for the router, nobody told me about that.", "negative", "angry"),
        ]
    )
    assert found[1] == ["complaint"]
    assert "complaint" not in found[3]  # the same complaint again
    assert "complaint" in found[5]  # a new one


def test_threats_and_escalations_are_alerts_and_are_not_repeated() -> None:
    tracker = MomentTracker()
    first = tracker.add(
        _turn(1, "customer", "I want to speak to your manager, this is ridiculous.", "negative", "angry")
    )
    again = tracker.add(_turn(3, "customer", "Put me through to your manager now.", "negative", "angry"))
    assert [m.category for m in first] == ["escalation_request", "escalation"]  # the moment, then the category hit
    assert first[0].alert and "manager" in first[0].reason and not first[1].alert
    assert "escalation_request" not in [m.category for m in again]


def test_a_threat_taken_back_is_not_a_threat() -> None:
    found = _moments([("customer", "Brilliant. Forget the PAC code then.", "positive", "happy")])
    assert "cancellation_threat" not in found[0]


def test_category_hits_are_moments_of_their_label_and_moment_events_are_json() -> None:
    tracker = MomentTracker()
    found = tracker.add(_turn(0, "agent", "Let me put you on hold for a moment.", "neutral", "neutral"))
    assert [m.category for m in found] == ["hold"]
    event = found[0].to_json()
    assert event["labels"] == ["process_issues", "hold"] and event["start_ms"] == 0 and event["utterance_ids"] == ["u0"]
    assert set(event) >= {"moment_id", "category", "speaker_id", "start_ms", "end_ms", "summary", "confidence", "alert"}
    assert all(m.labels[0] != MOMENT_CATEGORY or m.category != "hold" for m in found)


def test_dead_air_of_ten_seconds_is_an_alert() -> None:
    tracker = MomentTracker()
    assert not tracker.dead_air(10.0, 16.0).alert
    long = tracker.dead_air(20.0, 32.5)
    assert long.alert and long.category == "dead_air" and "12" in long.summary
    assert [m.moment_id for m in tracker.moments] == ["m1", "m2"]


def test_text_that_breaks_nothing() -> None:
    tracker = MomentTracker()
    for index, text in enumerate(["", "\n\x00=HYPERLINK()", "no " * 2000]):
        for moment in tracker.add(_turn(index, "customer", text, "negative", "angry")):
            assert "\n" not in moment.summary


def test_a_worried_first_statement_that_blames_the_company_is_a_complaint_and_hardship_is_not() -> None:
    found = _moments(
        [
            ("agent", "Good morning, claims team, how can I help?", "positive", "satisfied"),
            (
                "customer",
                "I put a claim in three weeks ago for a leak and honestly nothing's happened since.",
                "negative",
                "anxious",
            ),
        ]
    )
    assert found[1] == ["complaint"]
    hardship = _moments(
        [
            ("agent", "Thanks for calling, how can I help?", "positive", "satisfied"),
            (
                "customer",
                "I've been made redundant, so the membership is one of the things that has to go.",
                "negative",
                "frustrated",
            ),
            ("agent", "I'm sorry. I can offer you off-peak at twenty-two pounds a month.", "neutral", "neutral"),
            (
                "customer",
                "I lost my job, so twenty-two a month just isn't, you know. But there we are.",
                "negative",
                "sad",
            ),
        ]
    )
    assert "complaint" not in hardship[1] and "objection" not in hardship[3]


def test_a_plain_yes_to_a_proposal_is_a_commitment_even_without_a_question() -> None:
    found = _moments(
        [
            ("agent", "I can email you the final figure and how to pay it, if that would help.", "neutral", "neutral"),
            ("customer", "Yes, that would actually be useful. Send it to the email you've got.", "neutral", "neutral"),
            ("agent", "I'll look into it. Is there anything else?", "neutral", "neutral"),
            ("customer", "Okay, that's fair enough, let me have a proper look and compare.", "neutral", "neutral"),
        ]
    )
    assert "cta_commit" in found[1]
    assert "cta_commit" not in found[3]  # still deciding


def test_asking_again_to_leave_after_a_new_offer_is_a_new_threat() -> None:
    found = _moments(
        [
            ("agent", "Thanks for calling, how can I help?", "positive", "satisfied"),
            ("customer", "I want to cancel my membership, please.", "neutral", "neutral"),
            ("agent", "I can offer you three months at half price.", "neutral", "neutral"),
            ("customer", "No, really, I want to cancel it. Please.", "negative", "frustrated"),
        ]
    )
    assert found[1] == ["cancellation_threat"]
    assert "cancellation_threat" in found[3]


def test_strong_pushback_is_an_objection_whatever_the_agent_said() -> None:
    found = _moments(
        [
            ("agent", "Your renewal covers the boiler, the controls and the annual service.", "neutral", "neutral"),
            (
                "customer",
                "Well, I've had a quote from another company for sixteen a month for the same cover.",
                "negative",
                "frustrated",
            ),
        ]
    )
    assert "objection" in found[1]
