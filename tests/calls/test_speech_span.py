"""A final's span is its speech: the stretch of voiced frames that holds its first word to the one
that holds its last, with the words fitted inside (calls/speech_span.py). Pure logic over the two
sources; the real thing is checked against labelled turns in tests/server/test_genesys_door.py."""

from __future__ import annotations

import numpy as np
import pytest

from audiohook_server.calls.speech_span import JOIN_GAP_S, speech_span
from audiohook_server.speech.pipeline import FinalAudio
from protocol.events import Word

RATE = 8000


def final(start_s: float, end_s: float, voiced: list[tuple[float, float]]) -> FinalAudio:
    """An utterance whose audio runs start_s..end_s (stream seconds), voiced where `voiced` says."""
    samples = np.zeros(int((end_s - start_s) * RATE), np.int16)
    runs = tuple((int(a * RATE), int(b * RATE)) for a, b in voiced)
    return FinalAudio(0, 1, samples, int(start_s * RATE), int(end_s * RATE), False, runs)


def words(*times: tuple[str, float, float]) -> tuple[Word, ...]:
    return tuple(Word(text, a, b, 0.9) for text, a, b in times)


def test_the_first_word_pinned_in_the_pre_roll_starts_with_the_sound() -> None:
    # audio 10.0-12.0 s; speech 10.12-11.4 s; Whisper puts "Hi" at 0.0 of the audio.
    out = final(10.0, 12.0, [(10.12, 10.5), (10.6, 11.4)])
    span = speech_span(out, words(("Hi,", 0.0, 0.45), ("David.", 0.6, 1.7)), RATE)
    assert (span.start, span.end) == pytest.approx((10.12, 11.4))
    assert span.words[0].start == pytest.approx(10.12) and span.words[-1].end == pytest.approx(11.4)


def test_a_first_word_placed_late_starts_where_its_sound_does() -> None:
    out = final(70.2, 75.2, [(70.33, 71.4), (71.5, 74.7)])
    span = speech_span(out, words(("Unbelievable.", 0.68, 1.2), ("Three", 1.4, 1.7), ("sat.", 1.8, 4.5)), RATE)
    assert span.start == pytest.approx(70.33) and span.end == pytest.approx(74.7)


def test_a_cough_before_the_first_word_is_not_speech() -> None:
    out = final(5.0, 8.0, [(5.1, 5.3), (5.3 + JOIN_GAP_S + 0.2, 7.0)])
    span = speech_span(out, words(("Yes.", 0.85, 1.3), ("Fine.", 1.4, 2.0)), RATE)
    assert span.start == pytest.approx(5.8)


def test_a_breath_inside_a_phrase_does_not_cut_the_stretch() -> None:
    out = final(0.0, 3.0, [(0.1, 0.5), (0.5 + JOIN_GAP_S - 0.05, 2.2)])
    span = speech_span(out, words(("It", 0.0, 0.3), ("is", 0.3, 0.45), ("fine.", 0.9, 2.6)), RATE)
    assert (span.start, span.end) == pytest.approx((0.1, 2.2))


def test_a_last_word_that_runs_into_the_silence_ends_with_the_sound() -> None:
    out = final(1.0, 4.0, [(1.1, 3.2)])
    span = speech_span(out, words(("Thank", 0.0, 0.5), ("you.", 0.6, 2.95)), RATE)
    assert span.end == pytest.approx(3.2)
    assert span.words[-1] == Word("you.", 1.6, 3.2, 0.9)


def test_every_word_is_inside_the_span_in_order() -> None:
    out = final(0.0, 2.0, [(0.2, 1.0)])
    span = speech_span(out, words(("a", 0.0, 0.3), ("b", 0.4, 0.9), ("c", 1.5, 1.9)), RATE)
    assert span.words[0].start == span.start and span.words[-1].end == span.end
    assert all(span.start <= w.start <= w.end <= span.end for w in span.words)
    assert [w.start for w in span.words] == sorted(w.start for w in span.words)


def test_a_word_repeated_into_the_silence_is_not_speech() -> None:
    # "Right." 23.78-24.08 s, voiced to 24.18; Whisper wrote "Right. Right. Right." over the padding.
    out = final(23.5, 24.5, [(23.76, 24.18)])
    span = speech_span(out, words(("Right.", 0.2, 0.5), ("Right.", 0.75, 0.85), ("Right.", 0.9, 0.96)), RATE)
    assert (span.start, span.end) == pytest.approx((23.76, 24.18))


def test_a_new_last_word_with_no_sound_under_it_keeps_whisper_s_time() -> None:
    out = final(0.0, 3.0, [(0.1, 1.2)])  # a quiet "thanks" the VAD did not mark
    span = speech_span(out, words(("Yes", 0.1, 0.5), ("please,", 0.6, 1.2), ("thanks.", 1.5, 1.9)), RATE)
    assert span.end == pytest.approx(1.9)


def test_without_voiced_frames_the_words_decide() -> None:
    span = speech_span(final(2.0, 4.0, []), words(("Okay.", 0.2, 0.9)), RATE)
    assert (span.start, span.end) == pytest.approx((2.2, 2.9))


def test_words_no_sound_overlaps_keep_whisper_s_times() -> None:
    out = final(0.0, 3.0, [(2.5, 2.9)])
    span = speech_span(out, words(("Okay.", 0.2, 0.9)), RATE)
    assert (span.start, span.end) == pytest.approx((0.2, 0.9))


def test_without_words_the_voiced_frames_are_the_span() -> None:
    span = speech_span(final(2.0, 4.0, [(2.3, 2.6), (3.2, 3.5)]), (), RATE)
    assert (span.start, span.end) == pytest.approx((2.3, 3.5)) and span.words == ()


def test_with_neither_the_whole_audio() -> None:
    span = speech_span(final(2.0, 4.0, []), (), RATE)
    assert (span.start, span.end) == pytest.approx((2.0, 4.0))


def test_word_times_beyond_the_audio_are_clamped_to_it() -> None:
    span = speech_span(final(1.0, 2.0, []), words(("late", 0.5, 1.7)), RATE)
    assert (span.start, span.end) == pytest.approx((1.5, 2.0))
    assert span.words == (Word("late", 1.5, 2.0, 0.9),)
