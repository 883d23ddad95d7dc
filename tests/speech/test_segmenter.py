"""VAD segmentation on real read speech: utterance boundaries land where the clips are."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import webrtcvad

from audiohook_server.speech.segmenter import (
    SegmenterConfig,
    UtteranceAudio,
    UtteranceDiscarded,
    UtteranceEnded,
    UtteranceSegmenter,
    UtteranceStarted,
)
from tests.speech_fixtures import librivox_call, librivox_clips


def _run(samples: np.ndarray, config: SegmenterConfig, frame: int) -> list[object]:
    segmenter = UtteranceSegmenter(16000, config)
    events: list[object] = []
    for i in range(0, len(samples), frame):
        events += segmenter.push(samples[i : i + frame])
    return events + segmenter.flush()


@pytest.mark.parametrize("frame", [8000, 4801, 333])  # 500 ms frames, odd sizes, tiny frames
def test_one_utterance_per_clip_with_true_positions(frame: int) -> None:
    samples, spans = librivox_call(gap_s=1.5)
    events = _run(samples, SegmenterConfig(trailing_silence_ms=900), frame)
    ended = [e for e in events if isinstance(e, UtteranceEnded)]
    assert len(ended) == len(spans)
    for utterance, (start, end, _) in zip(ended, spans, strict=True):
        assert abs(utterance.start_sample / 16000 - start) < 0.5
        assert abs(utterance.end_sample / 16000 - end) < 0.8
        assert utterance.end_sample - utterance.start_sample == len(utterance.samples)
        # The utterance audio is exactly the stream's audio at those positions.
        assert np.array_equal(utterance.samples, samples[utterance.start_sample : utterance.end_sample])


@pytest.mark.parametrize("frame", [8000, 333])
def test_voiced_runs_say_where_the_sound_is_inside_the_utterance(frame: int) -> None:
    """The runs that time a final (calls/speech_span.py): inside the utterance, in order, apart, on the
    voiced frames; the pre-roll's leading silence and the kept trailing silence are outside them."""
    samples, _ = librivox_call(gap_s=1.5)
    config = SegmenterConfig(trailing_silence_ms=900)
    ended = [e for e in _run(samples, config, frame) if isinstance(e, UtteranceEnded)]
    assert ended
    vad = webrtcvad.Vad(config.aggressiveness)  # stateful: fed every frame of the stream, in order
    step = 16000 * config.frame_ms // 1000
    voiced = [vad.is_speech(samples[i : i + step].tobytes(), 16000) for i in range(0, len(samples) - step + 1, step)]
    for utterance in ended:
        runs = utterance.voiced
        assert runs and all(a < b for a, b in runs)
        assert all(b1 < a2 for (_, b1), (a2, _) in itertools.pairwise(runs))  # apart: adjacent frames join
        assert utterance.start_sample <= runs[0][0] and runs[-1][1] <= utterance.end_sample
        assert runs[-1][1] < utterance.end_sample  # the trailing silence is kept, and not voiced
        for a, b in runs:
            assert (a - utterance.start_sample) % step == 0 and (b - a) % step == 0
            assert all(voiced[i // step] for i in range(a, b, step))
            assert a == utterance.start_sample or not voiced[a // step - 1]  # a whole run, not part of one
            assert b == utterance.end_sample or not voiced[b // step]


def test_streamed_audio_adds_up_to_the_utterance() -> None:
    samples, _ = librivox_call()
    events = _run(samples, SegmenterConfig(), 8000)
    grown: dict[int, int] = {}
    for e in events:
        if isinstance(e, UtteranceAudio):
            grown[e.index] = grown.get(e.index, 0) + len(e.samples)
    for e in events:
        if isinstance(e, UtteranceEnded):
            assert grown[e.index] >= len(e.samples)  # streaming saw at least the whole utterance
    starts = [e.index for e in events if isinstance(e, UtteranceStarted)]
    assert starts == sorted(set(starts))


def test_silence_and_faint_noise_make_no_utterance() -> None:
    rng = np.random.default_rng(0)
    quiet = (rng.normal(0, 30, 16000 * 5)).astype(np.int16)
    events = _run(quiet, SegmenterConfig(aggressiveness=3), 8000)
    assert not [e for e in events if isinstance(e, UtteranceEnded)]


def test_short_blip_is_discarded() -> None:
    samples, spans = librivox_call()
    start = int(spans[0][0] * 16000)
    blip = np.concatenate(
        [np.zeros(16000, np.int16), samples[start + 8000 : start + 8000 + 3200], np.zeros(16000, np.int16)]
    )
    events = _run(blip, SegmenterConfig(min_speech_ms=500, padding_ms=90, start_ratio=0.6), 8000)
    assert not [e for e in events if isinstance(e, UtteranceEnded)]
    assert [e for e in events if isinstance(e, UtteranceDiscarded)]


def test_long_speech_is_split_below_the_maximum() -> None:
    samples, _ = librivox_call(gap_s=0.1)  # barely any pauses: one long monologue
    events = _run(samples, SegmenterConfig(max_utterance_s=6.0, trailing_silence_ms=900), 8000)
    ended = [e for e in events if isinstance(e, UtteranceEnded)]
    assert len(ended) >= 4
    assert all(len(e.samples) <= 6.0 * 16000 for e in ended)
    # Consecutive pieces of a split follow each other without losing audio.
    forced = [(a, b) for a, b in itertools.pairwise(ended) if a.forced]
    assert forced and all(b.start_sample == a.end_sample for a, b in forced)


def test_flush_closes_an_utterance_cut_off_mid_speech() -> None:
    samples, spans = librivox_call()
    cut = int((spans[0][0] + 2.0) * 16000)
    events = _run(samples[:cut], SegmenterConfig(), 8000)
    ended = [e for e in events if isinstance(e, UtteranceEnded)]
    assert len(ended) == 1 and ended[0].forced and ended[0].end_sample == cut


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"aggressiveness": 4}, "aggressiveness"),
        ({"frame_ms": 25}, "10, 20 or 30"),
        ({"max_utterance_s": 45}, "1-30 s"),
        ({"padding_ms": 10}, "at least one frame"),
    ],
)
def test_invalid_config_is_explained(kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        SegmenterConfig(**kwargs)  # type: ignore[arg-type]


def test_unsupported_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="webrtcvad supports"):
        UtteranceSegmenter(44100)


def _end_after_pause(hint: tuple[bool, int] | None, config: SegmenterConfig) -> float:
    """Silence (s) between a clip's last voiced frame and the utterance's end, feeding 10 ms at a time;
    `hint` = (ends a sentence, offset from the voiced end) is given once the final pause reaches 90 ms,
    as a pause probe's partial would."""
    _, clip, _ = librivox_clips()[0]
    samples = np.concatenate([clip, np.zeros(3 * 16000, np.int16)])
    segmenter = UtteranceSegmenter(16000, config)
    hinted = False
    index = -1
    for i in range(0, len(samples), 160):
        events = segmenter.push(samples[i : i + 160])
        index = next((e.index for e in events if isinstance(e, UtteranceStarted)), index)
        if hint is not None and not hinted and i >= len(clip) and segmenter.silence_ms >= 90:
            segmenter.hint_end(index, hint[0], segmenter.voiced_until + hint[1])
            hinted = True
        if any(isinstance(e, UtteranceEnded) for e in events):
            return (segmenter.position - segmenter.voiced_until) / 16000
    raise AssertionError("the utterance never ended")


HINTED = SegmenterConfig(trailing_silence_ms=600, sentence_end_silence_ms=240, mid_sentence_silence_ms=1200)


def test_a_sentence_end_ends_the_utterance_after_a_short_pause() -> None:
    assert _end_after_pause(None, HINTED) == pytest.approx(0.6, abs=0.04)
    assert _end_after_pause((True, 0), HINTED) == pytest.approx(0.24, abs=0.04)


def test_a_pause_mid_sentence_waits_longer() -> None:
    assert _end_after_pause((False, 0), HINTED) == pytest.approx(1.2, abs=0.04)


def test_a_hint_that_does_not_cover_the_speech_so_far_is_ignored() -> None:
    # Transcribed through 100 ms before the last voiced frame: what came after is unknown.
    assert _end_after_pause((True, -1600), HINTED) == pytest.approx(0.6, abs=0.04)


def test_hints_belong_to_their_utterance() -> None:
    segmenter = UtteranceSegmenter(16000, HINTED)
    _, clip, _ = librivox_clips()[0]
    started = [e for e in segmenter.push(clip[:16000]) if isinstance(e, UtteranceStarted)]
    assert len(started) == 1
    segmenter.hint_end(started[0].index + 1, True, 10**9)  # an utterance that is not the open one
    assert segmenter.silence_to_end_ms == 600
    segmenter.hint_end(started[0].index, False, 10**9)
    assert segmenter.silence_to_end_ms == 1200


def test_hint_silences_are_validated() -> None:
    with pytest.raises(ValueError, match="sentence end silence must be at least one VAD frame"):
        SegmenterConfig(sentence_end_silence_ms=10)
