"""Per-speaker cognitive signals (analysis.cognitive): engagement, cognitive load and focus from hand-built
turns, their tags and rationale, and tolerance of garbage input."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from analysis.cognitive import FOCUS_UNKNOWN, CognitiveSignals, CognitiveTracker, CognitiveTurn
from analysis.text import count_words

DIM = 384
ISSUE = "I was charged twice on my bill this month for the same order."


def _turn(
    uid: str,
    speaker: str,
    text: str,
    start: float,
    seconds: float | None = None,
    *,
    embedding: npt.NDArray[np.float32] | None = None,
    gaps: tuple[float, ...] = (),
) -> CognitiveTurn:
    """A turn of ``text`` at 2.5 words a second unless ``seconds`` says how long it took."""
    n = count_words(text)
    duration = n / 2.5 if seconds is None else seconds
    return CognitiveTurn(uid, speaker, text, start, start + duration, n, embedding, gaps)


def _unit(*axes: tuple[int, float]) -> npt.NDArray[np.float32]:
    """A unit vector in DIM dimensions with the given (axis, weight) components."""
    vector = np.zeros(DIM, dtype=np.float32)
    for axis, weight in axes:
        vector[axis] = weight
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _signals(tracker: CognitiveTracker, speaker: str, **kwargs: float) -> CognitiveSignals:
    result = tracker.signals(speaker, **kwargs)
    assert result is not None
    return result


def _in_unit_range(s: CognitiveSignals) -> None:
    for value in (s.engagement, s.cognitive_load, s.focus):
        assert 0.0 <= value <= 1.0
        assert math.isfinite(value)


def test_hedging_restarting_pausing_speaker_has_higher_load_than_a_fluent_one() -> None:
    tracker = CognitiveTracker()
    fluent = [
        "My card was charged twice for the same order last week.",
        "The order number is on the email you sent me.",
        "Yes, the refund should go back to the same card.",
    ]
    struggling = [
        "I think it was, maybe, last week? I'm not sure.",
        "The the order number is, I- I mean, it should be on the email.",
        "I don't know, probably the same card, I guess.",
    ]
    t = 0.0
    for i, (a, b) in enumerate(zip(fluent, struggling, strict=True)):
        tracker.add(_turn(f"a{i}", "fluent", a, t))
        tracker.add(_turn(f"b{i}", "struggling", b, t + 10, gaps=(0.2, 1.6, 0.1, 2.4)))
        t += 20
    calm, busy = _signals(tracker, "fluent"), _signals(tracker, "struggling")
    assert calm.cognitive_load < 0.2
    assert busy.cognitive_load > 0.6
    assert busy.cognitive_load > calm.cognitive_load + 0.4
    assert {"hedging", "restarts", "long_pauses"} <= set(busy.signals)
    assert not {"hedging", "restarts", "long_pauses", "disfluent"} & set(calm.signals)
    assert busy.rationale.startswith("Cognitive load high:")
    assert '"I\'m not sure"' in busy.rationale or '"I think"' in busy.rationale
    assert '"I- I mean' in busy.rationale or '"The the' in busy.rationale
    assert "long pauses (longest 2.4 s)" in busy.rationale
    _in_unit_range(busy)
    _in_unit_range(calm)


def test_load_moves_on_each_cue_alone_without_fillers() -> None:
    """Whisper drops fillers: hedges, restarts and pauses must each move the score on their own."""
    base = "The order number should be on the email you sent me yesterday."
    variants = {
        "plain": (base, ()),
        "hedge": ("I think the order number should be on the email, I'm not sure.", ()),
        "restart": ("The the order number should- should be on the email you sent.", ()),
        "pauses": (base, (0.1, 1.5, 0.2, 1.8)),
    }
    loads: dict[str, float] = {}
    for name, (text, gaps) in variants.items():
        tracker = CognitiveTracker()
        tracker.add(_turn("1", "customer", text, 0.0, gaps=gaps))
        loads[name] = _signals(tracker, "customer").cognitive_load
    assert loads["plain"] == 0.0
    for name in ("hedge", "restart", "pauses"):
        assert loads[name] > loads["plain"] + 0.2, (name, loads)


def test_slowing_speech_adds_load_and_is_quoted_as_a_percentage() -> None:
    tracker = CognitiveTracker()
    text = "The order number should be on the email you sent me."  # 11 words
    t = 0.0
    for i in range(3):
        tracker.add(_turn(f"f{i}", "customer", text, t, seconds=11 / 3.0))  # 3 words/s
        t += 10
    before = _signals(tracker, "customer")
    for i in range(3):
        tracker.add(_turn(f"s{i}", "customer", text, t, seconds=11 / 1.8))  # 1.8 words/s: 40 % slower
        t += 10
    after = _signals(tracker, "customer")
    assert "slowing" not in before.signals
    assert "slowing" in after.signals
    assert after.cognitive_load > before.cognitive_load + 0.1
    assert "40 % slower than earlier" in after.rationale


def test_questioning_quick_talkative_speaker_is_more_engaged_than_a_monosyllabic_slow_one() -> None:
    lively = CognitiveTracker()
    flat = CognitiveTracker()
    lively_turns = [
        "Can you tell me why the bill went up by twenty dollars this month?",
        "When will the refund show up on my card, and do I need to do anything?",
        "That makes sense, and could you also check whether the discount is still applied?",
    ]
    t = 0.0
    for i, text in enumerate(lively_turns):
        lively.add(_turn(f"a{i}", "agent", "Let me look at the account for you now.", t))
        lively.add(_turn(f"c{i}", "customer", text, t + 5))
        flat.add(_turn(f"a{i}", "agent", "Let me look at the account for you now.", t))
        flat.add(_turn(f"c{i}", "customer", ("Yes.", "Ok.", "Mm.")[i], t + 5))
        t += 20
    high = _signals(lively, "customer", talk_share=0.6, latency_s=0.7)
    low = _signals(flat, "customer", talk_share=0.08, latency_s=4.5)
    assert high.engagement > 0.8
    assert low.engagement < 0.2
    assert "asks_questions" in high.signals
    assert {"quiet", "slow_to_answer"} <= set(low.signals)
    assert "asks_questions" not in low.signals
    assert "Engagement high" in high.rationale
    assert "Engagement low" in low.rationale
    assert '"Yes."' in low.rationale or '"Ok."' in low.rationale or "slow to answer (4.5 s)" in low.rationale
    # Without the caller's dynamics the word share stands in for the talk share.
    assert _signals(lively, "customer").engagement > _signals(flat, "customer").engagement


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("You charged me twice?", True),
        ("So when will the refund arrive.", True),
        ("Okay, can you check that for me", True),
        ("What I want is a refund.", False),
        ("When I called yesterday they said it was fixed.", False),
        ("Is fine.", False),
    ],
)
def test_question_detection(text: str, asks: bool) -> None:
    tracker = CognitiveTracker()
    tracker.add(_turn("1", "customer", text, 0.0))
    assert ("asks_questions" in _signals(tracker, "customer").signals) is asks


def test_latency_alone_moves_engagement() -> None:
    tracker = CognitiveTracker()
    tracker.add(_turn("1", "customer", "The bill went up by twenty dollars this month.", 0.0))
    quick = _signals(tracker, "customer", talk_share=0.5, latency_s=0.5)
    slow = _signals(tracker, "customer", talk_share=0.5, latency_s=5.0)
    assert quick.engagement > slow.engagement
    assert "slow_to_answer" in slow.signals and "slow_to_answer" not in quick.signals


def test_focus_on_topic_embeddings_score_higher_than_orthogonal_ones() -> None:
    issue_vec = _unit((0, 1.0))
    on_topic = _unit((0, 0.9), (1, 0.1))
    off_topic = _unit((5, 1.0))  # orthogonal to the issue
    tracker = CognitiveTracker()
    tracker.add(_turn("1", "customer", ISSUE, 0.0, embedding=issue_vec))
    tracker.add(_turn("2", "focused", "Let me pull up the duplicate payment on your statement.", 6, embedding=on_topic))
    tracker.add(
        _turn("3", "drifting", "Did you watch the football game last night by any chance?", 12, embedding=off_topic)
    )
    tracker.add(_turn("4", "drifting", "Yes.", 18, embedding=off_topic))  # too short to carry a topic
    focused, drifting = _signals(tracker, "focused"), _signals(tracker, "drifting")
    assert focused.focus > 0.9
    assert drifting.focus < 0.1
    assert "off_topic" in drifting.signals and "off_topic" not in focused.signals
    assert "football game" in drifting.rationale
    # The issue turns themselves count as focused.
    assert _signals(tracker, "customer").focus == 1.0


def test_issue_turns_count_as_focused_even_when_they_disagree() -> None:
    tracker = CognitiveTracker()
    tracker.add(_turn("1", "customer", ISSUE, 0.0, embedding=_unit((0, 1.0))))
    tracker.add(
        _turn("2", "customer", "And my internet keeps dropping every evening.", 6, embedding=_unit((0, -0.9), (1, 0.2)))
    )
    assert _signals(tracker, "customer").focus == 1.0


def test_focus_falls_back_to_content_words_without_embeddings() -> None:
    tracker = CognitiveTracker()
    tracker.add(_turn("0", "agent", "Thanks for calling, how can I help?", 0.0))
    tracker.add(_turn("1", "customer", ISSUE, 3.0))
    tracker.add(_turn("2", "agent", "I can see the two charges on this month's bill for that order.", 8.0))
    tracker.add(_turn("3", "other", "Did you watch the football game last night by any chance?", 14.0))
    agent, other = _signals(tracker, "agent"), _signals(tracker, "other")
    assert agent.focus > 0.8
    assert other.focus < 0.2
    assert "off_topic" in other.signals


def test_issue_is_the_first_speakers_without_a_customer_label() -> None:
    tracker = CognitiveTracker()
    tracker.add(_turn("1", "speaker_0", ISSUE, 0.0))
    tracker.add(_turn("2", "speaker_1", "Did you watch the football game last night by any chance?", 6.0))
    assert _signals(tracker, "speaker_0").focus == 1.0
    assert _signals(tracker, "speaker_1").focus < 0.2


def test_focus_is_unknown_before_the_issue_is_stated() -> None:
    tracker = CognitiveTracker()
    tracker.add(_turn("1", "agent", "Thanks for calling, how can I help you today?", 0.0))
    tracker.add(_turn("2", "customer", "Hi there.", 3.0))
    agent = _signals(tracker, "agent")
    assert agent.focus == FOCUS_UNKNOWN
    assert "off_topic" not in agent.signals
    assert "focus unknown" in agent.rationale


def test_rationale_quotes_evidence_on_one_line() -> None:
    tracker = CognitiveTracker()
    tracker.add(_turn("1", "customer", ISSUE, 0.0))
    text = 'I\'m not sure,\nmaybe the "second"\r\ncharge\x00 was\u2028mine? ' + "and the rest of it " * 10
    tracker.add(_turn("2", "customer", text, 6.0))
    s = _signals(tracker, "customer")
    assert '"I\'m not sure"' in s.rationale
    assert "\n" not in s.rationale and "\r" not in s.rationale
    assert all(ch.isprintable() for ch in s.rationale)
    assert s.rationale.count(".") >= 1
    quotes = s.rationale.split('"')[1::2]
    assert quotes and all(len(q) <= 60 for q in quotes)


def test_none_before_any_words_and_speakers_in_order() -> None:
    tracker = CognitiveTracker()
    assert tracker.signals("customer") is None
    tracker.add(_turn("1", "customer", "", 0.0))
    tracker.add(_turn("2", "customer", "  ...  ", 1.0))
    assert tracker.signals("customer") is None
    assert not tracker.speakers
    tracker.add(_turn("3", "agent", "Hello, how can I help?", 2.0))
    tracker.add(_turn("4", "customer", "Hi.", 4.0))
    assert tracker.speakers == ("agent", "customer")
    assert tracker.signals("customer") is not None
    assert tracker.signals("nobody") is None


def test_to_json_keys_and_rounding() -> None:
    tracker = CognitiveTracker()
    tracker.add(_turn("1", "customer", "I think maybe it was charged twice, I'm not sure.", 0.0))
    data = _signals(tracker, "customer", talk_share=1 / 3, latency_s=1.2345).to_json()
    assert list(data) == ["speaker_id", "engagement", "cognitive_load", "focus", "signals", "rationale"]
    assert data["speaker_id"] == "customer"
    assert isinstance(data["signals"], list)
    for key in ("engagement", "cognitive_load", "focus"):
        value = data[key]
        assert isinstance(value, float)
        assert value == round(value, 3)
    assert isinstance(data["rationale"], str) and data["rationale"]


def test_backchannels_and_ordinary_phrases_are_not_fillers() -> None:
    tracker = CognitiveTracker()
    tracker.add(
        _turn("1", "customer", "Uh-huh. Uh huh, mm-hmm. Do you know what kind of plan I have? I'll let you know.", 0.0)
    )
    tracker.add(_turn("2", "speller", "My number is 5 5 5, two two, and that that is it.", 5.0))
    assert _signals(tracker, "customer").cognitive_load == 0.0
    assert _signals(tracker, "speller").cognitive_load == 0.0


def test_repeated_utterance_id_is_ignored() -> None:
    tracker = CognitiveTracker()
    turn = _turn("1", "customer", "I think maybe, I'm not sure, I guess.", 0.0)
    tracker.add(turn)
    once = _signals(tracker, "customer")
    tracker.add(turn)
    assert _signals(tracker, "customer") == once


@pytest.mark.parametrize(
    "turn",
    [
        CognitiveTurn("1", "customer", "", 0.0, 1.0, 0),
        CognitiveTurn("2", "customer", "I think so", 5.0, 1.0, 3),  # end before start
        CognitiveTurn("3", "customer", "maybe", math.nan, math.nan, 1),
        CognitiveTurn("4", "customer", "it is what it is", math.inf, -math.inf, -4),
        CognitiveTurn("5", "customer", "the the bill", 0.0, 1e-9, 10**6),
        CognitiveTurn("6", "customer", "nan gaps", 0.0, 1.0, 2, None, (math.nan, -1.0, math.inf, 3.0)),
        CognitiveTurn("7", "customer", "bad vector here", 0.0, 1.0, 3, np.full(DIM, np.nan, dtype=np.float32)),
        CognitiveTurn("8", "customer", "zero vector here", 0.0, 1.0, 3, np.zeros(DIM, dtype=np.float32)),
        CognitiveTurn("9", "customer", "odd shape vector", 0.0, 1.0, 3, np.ones((2, 3), dtype=np.float32)),
        CognitiveTurn("10", "customer", "\x00\x1b[31m\n\t", 0.0, 1.0, 0),
    ],
)
def test_garbage_input_does_not_crash(turn: CognitiveTurn) -> None:
    tracker = CognitiveTracker()
    tracker.add(_turn("issue", "customer", ISSUE, 0.0, embedding=_unit((0, 1.0))))
    tracker.add(turn)
    tracker.add(_turn("after", "agent", "Did you watch the football game last night?", 9.0, embedding=_unit((0, 1.0))))
    for speaker in tracker.speakers:
        for kwargs in ({}, {"talk_share": math.nan, "latency_s": math.nan}, {"talk_share": 7.0, "latency_s": -3.0}):
            s = _signals(tracker, speaker, **kwargs)
            _in_unit_range(s)
            assert "\n" not in s.rationale
            assert s.to_json()["speaker_id"] == speaker
