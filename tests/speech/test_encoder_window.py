"""The encoder window's size and the guards that send a fitted decode back to the full window.

Pure logic (no model; `decode_in_window` gets a stand-in decode): the decodes that trip them are real
ones the benchmark saw (benchmarks/bench_encoder_window.py); tests/speech/test_transcriber.py runs the
real model through them.
"""

from __future__ import annotations

import pytest

from audiohook_server.speech.encoder_window import FULL_WINDOW_FRAMES, EncoderWindow, token_budget, trip_reason
from audiohook_server.speech.transcriber import Decode, Transcription, decode_in_window


def test_the_fitted_window_is_the_utterance_plus_the_margin_never_under_the_minimum() -> None:
    window = EncoderWindow("fit", margin_s=2.0, minimum_s=10.0)
    assert window.frames(1.2) == 1000  # the minimum: 10 s of 10 ms mel frames
    assert window.frames(9.5) == 1150  # 11.5 s
    assert window.frames(9.505) == 1152  # rounded up to an even count (the encoder's stride is 2)
    assert window.frames(28.5) is None  # as long as the full window: the full window
    assert EncoderWindow("full").frames(1.0) is None
    assert all(window.frames(s / 10) in (None, *range(1000, FULL_WINDOW_FRAMES, 2)) for s in range(300))


@pytest.mark.parametrize(
    ("mode", "margin", "minimum"), [("fast", 1.0, 3.0), ("fit", -1.0, 3.0), ("fit", 1.0, 0.0), ("fit", 1.0, 31.0)]
)
def test_impossible_windows_are_refused(mode: str, margin: float, minimum: float) -> None:
    with pytest.raises(ValueError, match="encoder"):
        EncoderWindow(mode, margin, minimum)


def test_the_token_budget_grows_with_the_audio_up_to_whispers_bound() -> None:
    assert token_budget(1.0) == 26
    assert token_budget(10.0) == 116
    assert token_budget(29.0) == 224


@pytest.mark.parametrize(
    ("text", "duration", "reason"),
    [
        # tiny.en on 1.1 s of "ten of clubs" over the telephone, with a 3 s window
        ("10 of clubs. 10 of clubs. 10 of clubs. 10", 1.1, "repetition"),
        ("Four queen of clothes. Four queen of clothes.", 2.0, "repetition"),
        ("Go forward 10 meters. " * 20, 2.8, "too_many_words"),
        ("no " * 12, 3.0, "repetition"),
        ("ha ha ha ha", 3.0, "repetition"),
    ],
)
def test_loops_trip_a_guard(text: str, duration: float, reason: str) -> None:
    assert trip_reason(text, duration, [20], token_budget(duration)) == reason


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("Thank you for calling Blue Sky. My name is David. How can I help you?", 5.3),
        ("Thank you, thank you.", 1.5),
        ("No, no, no.", 1.5),
        ("Okay, what's happened next?", 2.7),
        ("", 1.0),
    ],
)
def test_speech_does_not_trip_a_guard(text: str, duration: float) -> None:
    assert trip_reason(text, duration, [len(text.split()) + 4], token_budget(duration), [duration - 0.2]) is None


def test_a_decode_that_used_its_token_budget_or_ran_past_the_audio_trips() -> None:
    budget = token_budget(2.0)
    assert trip_reason("a long sentence", 2.0, [budget - 10, 10], budget) == "token_budget"
    assert trip_reason("go forward", 2.0, [6], budget, [0.8, 2.7]) == "beyond_audio"
    assert trip_reason("go forward", 2.0, [6], budget, [0.8, 2.3]) is None


def test_text_that_compresses_like_a_loop_trips() -> None:
    text = "the account the account number the account the number account the account number the account"
    assert trip_reason(text, 12.0, [30], token_budget(12.0)) in ("repetition", "compression_ratio")
    assert trip_reason("abc" * 40, 12.0, [30], token_budget(12.0)) == "compression_ratio"  # one "word"


def _decoder(texts: dict[int | None, str]) -> tuple[Decode, list[tuple[int | None, int | None]]]:
    """A stand-in decode (logic test: no model) answering `texts[frames]`, recording its calls."""
    calls: list[tuple[int | None, int | None]] = []

    def decode(frames: int | None, budget: int | None) -> tuple[Transcription, list[int]]:
        calls.append((frames, budget))
        text = texts[frames]
        return Transcription(text, (), 0.9, "en"), [len(text.split())]

    return decode, calls


def test_a_fitted_decode_that_passes_the_guards_is_kept() -> None:
    window = EncoderWindow("fit", 2.0, 10.0)
    decode, calls = _decoder({1000: "Go forward ten meters."})
    result = decode_in_window(window, 2.8, decode)
    assert (result.text, result.window, result.fallback) == ("Go forward ten meters.", "fit", None)
    assert calls == [(1000, token_budget(2.8))]


def test_a_fitted_decode_that_loops_is_decoded_again_with_the_full_window() -> None:
    window = EncoderWindow("fit", 1.0, 3.0)
    decode, calls = _decoder({380: "Go forward ten meters. " * 8, None: "Go forward ten meters."})
    result = decode_in_window(window, 2.8, decode)
    assert (result.text, result.window, result.fallback) == ("Go forward ten meters.", "full", "too_many_words")
    assert calls == [(380, token_budget(2.8)), (None, None)]


def test_the_full_window_mode_decodes_once_without_a_budget() -> None:
    decode, calls = _decoder({None: "Hello."})
    result = decode_in_window(EncoderWindow("full"), 2.0, decode)
    assert (result.window, result.fallback, calls) == ("full", None, [(None, None)])
