"""The speaker vectors diarization compares, from the real GE2E weights (resemblyzer's wheel) on real
voices: the LibriVox reader (one woman, five clips) and the CMU "cards" speaker (one man, five
clips). The numbers of a whole call are benchmarks/bench_diarization.py's."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from audiohook_server.audio.resampling import to_whisper_audio
from audiohook_server.speech.voice_embedding import (
    EMBEDDERS,
    WINDOW_FRAMES,
    Ge2eEmbedder,
    MfccStatsEmbedder,
    VoiceEmbedding,
    ge2e_network,
    load_embedder,
    voiced_audio,
)
from tests.speech_fixtures import FIXTURES, read_pcm16


@functools.cache
def _ge2e() -> Ge2eEmbedder:
    return Ge2eEmbedder()


def _clips(folder: str, pattern: str) -> list[npt.NDArray[np.float32]]:
    out = []
    for path in sorted(Path(FIXTURES / folder).glob(pattern)):
        samples, rate = read_pcm16(path)
        out.append(to_whisper_audio(samples, rate))
    return out


def _similarities(a: list[VoiceEmbedding], b: list[VoiceEmbedding], same: bool) -> list[float]:
    return [float(x.vector @ y.vector) for i, x in enumerate(a) for j, y in enumerate(b) if not same or j > i]


def test_the_same_voice_is_nearer_than_another() -> None:
    embedder = _ge2e()
    reader = [embedder.embed(c) for c in _clips("librivox", "*.wav")]
    cards = [embedder.embed(c) for c in _clips("commands", "cards-*.wav")]
    same = _similarities(reader, reader, same=True)
    cross = _similarities(reader, cards, same=False)
    assert min(same) > float(np.mean(cross)) + 0.1, (same, cross)
    assert float(np.mean(same)) > float(np.mean(cross)) + 0.15
    # Every reader clip is nearer to the reader's others than to any of the other speaker's clips on average.
    for i, clip in enumerate(reader):
        own = np.mean([clip.vector @ r.vector for j, r in enumerate(reader) if j != i])
        assert own > np.mean([clip.vector @ c.vector for c in cards])


def test_an_utterance_is_read_in_1_6_second_windows() -> None:
    clip = _clips("librivox", "*.wav")[0]  # about 7 s
    embedding = _ge2e().embed(clip)
    assert abs(np.linalg.norm(embedding.vector) - 1) < 1e-5
    assert embedding.seconds == pytest.approx(len(clip) / 16000)
    assert len(embedding.window_vectors) == -(-int(embedding.seconds * 100) // WINDOW_FRAMES)
    assert list(embedding.window_ends) == sorted(embedding.window_ends)
    assert embedding.window_ends[-1] == pytest.approx(embedding.seconds, abs=0.02)
    # The windows' mean is the utterance's vector.
    mean = np.mean(embedding.window_vectors, axis=0)
    assert float(mean @ embedding.vector) / float(np.linalg.norm(mean)) == pytest.approx(1.0, abs=1e-5)


def test_onnx_runtime_gives_the_torch_networks_vectors() -> None:
    """The exported network (what the server runs) is the trained one."""
    import torch

    from audiohook_server.speech.voice_embedding import _mel, _raise_level

    clip = _clips("commands", "cards-005.wav")[0]
    mel = _mel(_raise_level(clip))[:WINDOW_FRAMES]
    with torch.no_grad():
        expected = ge2e_network()(torch.from_numpy(mel[None])).numpy()[0]
    expected /= np.linalg.norm(expected)
    got = _ge2e()._run(mel[None])[0]
    assert np.abs(got - expected).max() < 1e-4


def test_silence_and_blips_do_not_break_it() -> None:
    for embedder in (_ge2e(), MfccStatsEmbedder()):
        for length in (0, 10, 400):
            embedding = embedder.embed(np.zeros(length, np.float32))
            assert embedding.seconds == length / 16000 and np.isfinite(embedding.vector).all()


def test_voiced_audio_joins_the_voiced_runs_at_16_khz() -> None:
    samples = np.arange(8000, dtype=np.int16)  # 1 s at 8 kHz, starting at stream sample 4000
    joined = voiced_audio(samples, 8000, 4000, ((4000, 5000), (6000, 8000)))
    assert len(joined) == 2 * (1000 + 2000)
    assert len(voiced_audio(samples, 8000, 4000, ())) == 16000  # no runs: all of it


def test_unknown_embedders_are_refused() -> None:
    assert EMBEDDERS == ("ge2e", "mfcc")
    with pytest.raises(ValueError, match="ge2e, mfcc"):
        load_embedder("xvector")
