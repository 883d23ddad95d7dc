"""Which diarized speaker is the agent, from what each says (analysis.roles). Role accuracy over
whole calls is benchmarks/bench_diarization.py's."""

from __future__ import annotations

import json

from analysis.roles import AGENT, CUSTOMER, RoleBook, role_evidence
from tests.speech_fixtures import DIALOGUE


def test_the_agent_greets_offers_and_checks() -> None:
    for said in (
        "Thank you for calling Blue Sky, my name is David, how can I help you?",
        "Let me check that for you.",
        "Is there anything else I can help you with today?",
        "Can I take your account number please?",
    ):
        assert role_evidence(said) > 0, said


def test_the_customer_has_the_problem() -> None:
    for said in (
        "Hi, I'm calling about my bill, I was charged twice.",
        "My internet went down again, it's the third time this week.",
        "I want to cancel my subscription.",
    ):
        assert role_evidence(said) < 0, said
    assert role_evidence("Okay.") == 0 and role_evidence("The weather is nice.") == 0


def test_the_greeter_is_the_agent_even_when_the_customer_spoke_first() -> None:
    book = RoleBook()
    book.add("speaker_1", "Hello?")  # the first speaker is the agent, unless what is said says otherwise
    assert book.roles()["speaker_1"][0] == AGENT
    book.add("speaker_2", "Thank you for calling, you're through to Anna, how can I help?")
    book.add("speaker_1", "Yes hi, I'm calling about my order, it never arrived.")
    roles = book.roles()
    assert roles["speaker_2"][0] == AGENT and roles["speaker_1"][0] == CUSTOMER
    assert 0.5 < roles["speaker_1"][1] <= 1


def test_confidence_grows_with_the_evidence() -> None:
    thin = RoleBook()
    thin.add("speaker_1", "Okay.")
    thin.add("speaker_2", "Right.")
    thick = RoleBook()
    thick.add("speaker_1", "Thank you for calling. How can I help?")
    thick.add("speaker_2", "My bill is wrong again.")
    assert thin.roles()["speaker_1"][0] == AGENT  # nothing said: the first speaker prior decides
    assert thin.roles()["speaker_1"][1] < thick.roles()["speaker_1"][1]
    assert RoleBook().roles() == {}


def test_the_fixture_dialogue_roles() -> None:
    """The scripted call's turns, with its speakers as anonymous labels in its order."""
    script = json.loads((DIALOGUE / "call.json").read_text())
    book = RoleBook()
    label = {"agent": "speaker_1", "customer": "speaker_2"}
    for turn in script["turns"]:
        book.add(label[turn["speaker"]], turn["text"])
    roles = book.roles()
    assert roles["speaker_1"][0] == AGENT and roles["speaker_2"][0] == CUSTOMER
    assert roles["speaker_1"][1] > 0.9
