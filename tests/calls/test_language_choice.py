"""calls.language_choice: each channel's language, named or detected, and when it is checked again."""

from __future__ import annotations

from audiohook_server.calls.language_choice import (
    DECIDE_AFTER,
    LOW_CONFIDENCE,
    RECHECK_EVERY,
    ChannelLanguage,
    call_fallback,
)
from audiohook_server.speech.transcriber import Transcription


def said(language: str, probability: float | None, confidence: float = 0.9) -> Transcription:
    return Transcription("words", (), confidence, language, language_probability=probability)


def test_a_named_language_is_always_used_and_never_detected() -> None:
    channel = ChannelLanguage("de")
    for _ in range(10):
        assert channel.for_final() == "de" and channel.current == "de"
        channel.observe(said("de", None, confidence=0.1), 3.0, 6)
    assert channel.reported_probability(said("de", None)) is None


def test_auto_detects_until_two_confident_utterances_agree() -> None:
    channel = ChannelLanguage()
    assert channel.for_final() is None and channel.current == "en"  # nothing to go on: the fallback
    channel.observe(said("it", 0.95), 3.0, 6)
    assert channel.for_final() is None and channel.current == "it"  # leading, not decided
    channel.observe(said("it", 0.9), 2.0, 5)
    assert channel.decided == "it" and channel.for_final() == "it"
    assert channel.reported_probability(said("it", None)) == 1.0  # the decision's share of the evidence


def test_short_or_undetected_utterances_are_no_evidence() -> None:
    channel = ChannelLanguage()
    for _ in range(10):
        channel.observe(said("de", 0.99), 0.5, 1)  # "Ja." says little
        channel.observe(said("en", None), 3.0, 6)  # not detected (too short for the recognizer to trust)
    assert channel.decided is None and not channel.evidence


def test_mixed_evidence_decides_for_the_leader_after_a_few_utterances() -> None:
    channel = ChannelLanguage()
    for language in ("de", "en", "de", "nl")[:DECIDE_AFTER]:
        channel.observe(said(language, 0.6), 2.0, 4)
    assert channel.decided == "de" and channel.probability is not None and channel.probability < 0.75


def test_a_fixed_channel_is_rechecked_now_and_then_and_after_a_poor_final() -> None:
    channel = ChannelLanguage()
    channel.observe(said("en", 0.99), 3.0, 6)
    channel.observe(said("en", 0.99), 3.0, 6)
    assert channel.for_final() == "en"
    for _ in range(RECHECK_EVERY - 1):
        channel.observe(said("en", None), 3.0, 6)
        assert channel.for_final() == "en"
    channel.observe(said("en", None), 3.0, 6)
    assert channel.for_final() is None  # the periodic check
    channel.observe(said("en", 0.98), 3.0, 6)
    assert channel.for_final() == "en"
    channel.observe(said("en", None, confidence=LOW_CONFIDENCE - 0.1), 3.0, 6)
    assert channel.for_final() is None  # the English model struggling: is it still English?


def test_two_rechecks_in_a_row_switch_the_language_one_does_not() -> None:
    channel = ChannelLanguage()
    channel.observe(said("en", 0.99), 3.0, 6)
    channel.observe(said("en", 0.99), 3.0, 6)
    channel.observe(said("en", None, confidence=0.3), 3.0, 6)
    channel.observe(said("es", 0.95), 3.0, 6)  # one odd utterance
    assert channel.decided == "en" and channel.for_final() is None  # the next one is checked too
    channel.observe(said("en", 0.9), 3.0, 6)
    assert channel.decided == "en" and channel.for_final() == "en"
    channel.observe(said("en", None, confidence=0.3), 3.0, 6)
    channel.observe(said("es", 0.95), 3.0, 6)
    channel.observe(said("es", 0.92), 3.0, 6)
    assert channel.decided == "es" and channel.for_final() == "es"


def test_an_update_starts_over() -> None:
    channel = ChannelLanguage()
    channel.observe(said("en", 0.99), 3.0, 6)
    channel.observe(said("en", 0.99), 3.0, 6)
    channel.set_requested("fr")
    assert channel.for_final() == "fr" and channel.decided is None
    channel.set_requested("auto")
    assert channel.for_final() is None and not channel.evidence


def test_a_channel_with_nothing_to_go_on_borrows_the_other_channels_language() -> None:
    agent, customer = ChannelLanguage(), ChannelLanguage()
    assert call_fallback([customer, agent], 0) == "en"  # nobody has said anything yet
    agent.observe(said("it", 0.97), 3.0, 8)
    assert call_fallback([customer, agent], 0) == "it"  # "Buongiorno." is too short to tell on its own
    customer.observe(said("de", 0.9), 2.0, 5)
    assert call_fallback([customer, agent], 0) == "de"  # its own evidence wins
