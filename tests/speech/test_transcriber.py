"""Whisper (faster-whisper, tiny.en from its package) on real read speech, 16 kHz and telephone 8 kHz,
with the encoder window fitted to the utterance (the default) and the full 30 s window."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from audiohook_server.audio.resampling import to_whisper_audio
from audiohook_server.speech.encoder_window import EncoderWindow, token_budget, trip_reason
from audiohook_server.speech.model_files import resolve_whisper_model
from audiohook_server.speech.transcriber import FasterWhisperTranscriber, Transcription, whisper_language
from benchmarks.wer import normalize_text, word_error_rate
from protocol.audio import decode_ulaw
from tests.speech_fixtures import command_clips, librivox_clips


@pytest.fixture(scope="module")
def transcriber() -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(resolve_whisper_model("tiny.en"), cpu_threads=2)


def test_final_transcripts_of_read_speech(transcriber: FasterWhisperTranscriber) -> None:
    refs, hyps = [], []
    for _, samples, reference in librivox_clips():
        result = transcriber.transcribe(to_whisper_audio(samples, 16000), language="en-US", final=True)
        refs.append(reference)
        hyps.append(result.text)
        assert 0.3 < result.confidence <= 1.0
        assert result.words, "finals carry word timings"
        starts = [w.start for w in result.words]
        assert starts == sorted(starts)
        assert all(0 <= w.start <= w.end <= len(samples) / 16000 + 0.5 for w in result.words)
        assert normalize_text(" ".join(w.text for w in result.words)) == normalize_text(result.text)
    assert word_error_rate(refs, hyps) <= 0.10


def _telephone(samples: np.ndarray) -> np.ndarray:
    """16 kHz → 8 kHz μ-law → decoded: what a phone line does to the audio."""
    narrow = soxr.resample(samples.astype(np.float32) / 32768, 16000, 8000)
    pcm = np.clip(narrow * 32768, -32768, 32767).astype(np.int16)
    # μ-law encode via the decoder's table: the nearest code for each sample.
    table = decode_ulaw(bytes(range(256))).astype(np.int32)
    order = np.argsort(table)
    idx = np.clip(np.searchsorted(table[order], pcm), 1, 255)
    lower, upper = order[idx - 1], order[idx]
    codes = np.where(np.abs(table[lower] - pcm) <= np.abs(table[upper] - pcm), lower, upper).astype(np.uint8)
    return decode_ulaw(codes.tobytes())


def test_telephone_audio_is_resampled_for_whisper(transcriber: FasterWhisperTranscriber) -> None:
    refs, hyps = [], []
    for _, samples, reference in librivox_clips():
        phone = _telephone(samples)
        audio = to_whisper_audio(phone, 8000)
        assert abs(len(audio) - len(samples)) <= 16
        refs.append(reference)
        hyps.append(transcriber.transcribe(audio, language="en", final=True).text)
    assert word_error_rate(refs, hyps) <= 0.15


def test_partial_pass_is_quick_and_has_no_word_timings(transcriber: FasterWhisperTranscriber) -> None:
    _, samples, reference = librivox_clips()[0]
    result = transcriber.transcribe(to_whisper_audio(samples, 16000), language="en", final=False)
    assert result.words == ()
    assert word_error_rate([reference], [result.text]) <= 0.25


def test_silence_gives_no_text_worth_sending(transcriber: FasterWhisperTranscriber) -> None:
    result = transcriber.transcribe(np.zeros(16000 * 2, np.float32), language="en", final=True)
    assert len(result.text.split()) <= 2


def test_language_mapping() -> None:
    assert whisper_language("de-DE", english_only=False) == "de"
    assert whisper_language("de-DE", english_only=True) == "en"
    assert whisper_language(None, english_only=False) is None


@pytest.fixture(scope="module")
def full_window() -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(resolve_whisper_model("tiny.en"), cpu_threads=2, window=EncoderWindow("full"))


def _finals(transcriber: FasterWhisperTranscriber, clips: list[tuple[str, np.ndarray, str]]) -> list[Transcription]:
    return [transcriber.transcribe(to_whisper_audio(s, 16000), language="en", final=True) for _, s, _ in clips]


def test_the_fitted_window_reads_what_the_full_window_reads(
    transcriber: FasterWhisperTranscriber, full_window: FasterWhisperTranscriber
) -> None:
    clips = librivox_clips() + command_clips()
    fitted, full = _finals(transcriber, clips), _finals(full_window, clips)
    assert all(r.window == "full" and r.fallback is None for r in full)
    assert all(r.window == "fit" or r.fallback is not None for r in fitted)
    assert sum(r.window == "fit" for r in fitted) >= len(clips) - 1
    references = [text for _, _, text in clips]
    assert (
        word_error_rate(references, [r.text for r in fitted])
        <= word_error_rate(references, [r.text for r in full]) + 0.03
    )
    for (name, samples, _), result in zip(clips, fitted, strict=True):
        # The word alignment ran on the shorter encoder output: every word inside the audio, in order.
        assert result.words, name
        assert all(0 <= w.start <= w.end <= len(samples) / 16000 + 0.5 for w in result.words), name
        assert [w.start for w in result.words] == sorted(w.start for w in result.words), name


def test_the_encoder_gets_the_fitted_window(
    transcriber: FasterWhisperTranscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faster_whisper import WhisperModel

    seen: list[int] = []
    encode = WhisperModel.encode

    def spy(self: WhisperModel, features: np.ndarray) -> object:
        seen.append(features.shape[-1])
        return encode(self, features)

    monkeypatch.setattr(WhisperModel, "encode", spy)
    _, samples, _ = librivox_clips()[1]  # 3 s: the window is the 8 s minimum
    result = transcriber.transcribe(to_whisper_audio(samples, 16000), language="en", final=True)
    assert result.window == "fit", result.fallback
    assert seen == [transcriber.window.frames(len(samples) / 16000)] == [800]


def test_a_window_too_short_to_trust_falls_back_to_the_full_window() -> None:
    """With 1 s of margin and 3 s of context tiny.en loops on short commands ("5 5 5 5", "Go forward 10
    meters." over and over: benchmarks/bench_encoder_window.py). What comes back through the window
    either passes every guard or is the full window's decode, saying which guard sent it there.
    (Decodes are not compared word for word: an unsure final is sampled by Whisper's temperature
    fallback, differently from one run to the next.)"""
    short = FasterWhisperTranscriber(
        resolve_whisper_model("tiny.en"), cpu_threads=2, window=EncoderWindow("fit", 1.0, 3.0)
    )
    reasons = []
    for name, samples, _ in command_clips():
        audio = to_whisper_audio(samples, 16000)
        duration = len(audio) / 16000
        result = short.transcribe(audio, language="en", final=True)
        if result.window == "fit":
            assert result.fallback is None, name
            ends = [w.end for w in result.words]
            assert trip_reason(result.text, duration, (), token_budget(duration), ends) is None, name
        else:
            assert result.fallback in {
                "too_many_words",
                "beyond_audio",
                "token_budget",
                "repetition",
                "compression_ratio",
            }, name
            reasons.append(result.fallback)
        assert "go forward ten meters go forward" not in normalize_text(result.text), name
    assert reasons, "no guard tripped: the loops this test is about did not happen on this machine"


def test_partials_use_the_fitted_window_too(transcriber: FasterWhisperTranscriber) -> None:
    _, samples, _ = librivox_clips()[0]
    result = transcriber.transcribe(to_whisper_audio(samples[: 2 * 16000], 16000), language="en", final=False)
    assert result.window == "fit" and result.words == ()
