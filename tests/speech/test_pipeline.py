"""The channel pipeline's end-of-utterance probe: one Whisper partial at the start of a pause, whose
text (a sentence end or not) sets how much silence ends the utterance. Real read speech, no model:
the partial's text is given as the engine would give it."""

from __future__ import annotations

import numpy as np
import pytest

from audiohook_server.speech.pipeline import (
    PROBE_PAUSE_MS,
    ChannelPipeline,
    FinalAudio,
    PartialAudio,
    PartialsMode,
    ends_sentence,
)
from audiohook_server.speech.segmenter import SegmenterConfig
from tests.speech_fixtures import librivox_clips

CONFIG = SegmenterConfig(trailing_silence_ms=600, sentence_end_silence_ms=240, mid_sentence_silence_ms=1200)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'd like to cancel my card.", True),
        ("Can you hear me?", True),
        ("Great!", True),
        ('He said "stop."', True),
        ("so I was wondering", False),
        ("and then...", False),
        ("and then\u2026", False),
        ("Mr", False),
        ("", False),
    ],
)
def test_what_ends_a_sentence(text: str, expected: bool) -> None:
    assert ends_sentence(text) is expected


def _feed(pipeline: ChannelPipeline, text: str | None) -> tuple[list[PartialAudio], float]:
    """A clip, then 3 s of silence, 10 ms at a time; each probe partial gets `text` back (None: no
    answer, as when Whisper is busy). Returns the pause's partial requests and the silence (s) after
    the clip's end when the final was cut."""
    _, clip, _ = librivox_clips()[1]
    samples = np.concatenate([clip, np.zeros(3 * 16000, np.int16)])
    in_pause: list[PartialAudio] = []
    for i in range(0, len(samples), 160):
        for out in pipeline.feed(samples[i : i + 160]):
            if isinstance(out, PartialAudio) and i >= len(clip):
                in_pause.append(out)
                if text is not None:
                    pipeline.hint_text(out.utterance, text, out.end_sample)
            if isinstance(out, FinalAudio):
                return in_pause, (i + 160 - len(clip)) / 16000
    raise AssertionError("no final")


def test_a_pause_is_probed_once_and_a_sentence_end_cuts_it_short() -> None:
    pipeline = ChannelPipeline(0, 16000, CONFIG, PartialsMode.WHISPER, text_endpointing=True)
    probes, pause = _feed(pipeline, "And that was the end of it.")
    assert len(probes) == 1
    assert probes[0].end_sample == probes[0].start_sample + len(probes[0].samples)  # the utterance so far
    assert pause <= 0.24 + 0.1


def test_a_pause_mid_sentence_waits_for_the_longer_silence() -> None:
    pipeline = ChannelPipeline(0, 16000, CONFIG, PartialsMode.WHISPER, text_endpointing=True)
    _, pause = _feed(pipeline, "and that was the")
    assert pause >= 1.2 - 0.1


def test_without_an_answer_the_plain_trailing_silence_applies() -> None:
    pipeline = ChannelPipeline(0, 16000, CONFIG, PartialsMode.WHISPER, text_endpointing=True)
    _, pause = _feed(pipeline, None)
    assert 0.6 - 0.1 <= pause <= 0.6 + 0.1


def test_silence_endpointing_ignores_what_was_said() -> None:
    pipeline = ChannelPipeline(0, 16000, CONFIG, PartialsMode.WHISPER, text_endpointing=False)
    _, pause = _feed(pipeline, "And that was the end of it.")
    assert 0.6 - 0.1 <= pause <= 0.6 + 0.1


def test_the_probe_waits_for_the_pause() -> None:
    assert 30 < PROBE_PAUSE_MS < CONFIG.sentence_end_silence_ms
