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
    _run_windows,
    ge2e_network,
    load_embedder,
    speech_runs,
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
    got = _ge2e()._run([mel])[0]
    assert np.abs(got - expected).max() < 1e-4


def test_windows_of_any_lengths_in_one_batch_give_their_own_vectors() -> None:
    """One padded batch (each window read only as far as its length) gives what each window alone gives."""
    from audiohook_server.speech.voice_embedding import _mel, _raise_level

    mel = _mel(_raise_level(_clips("librivox", "*.wav")[0]))
    windows = [mel[0:WINDOW_FRAMES], mel[200:290], mel[300:330], mel[400:401]]
    together = _ge2e()._run(windows)
    for window, vector in zip(windows, together, strict=True):
        assert np.abs(_ge2e()._run([window])[0] - vector).max() < 1e-5


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


def test_speech_runs_bridge_short_gaps() -> None:
    runs = ((0, 8000), (9000, 20000), (30000, 40000))  # 16 kHz: gaps of 62 ms and 625 ms
    assert speech_runs(runs, 16000) == ((0, 20000), (30000, 40000))
    assert speech_runs((), 16000) == ()


def test_windows_stay_within_their_stretch_of_speech() -> None:
    """No window spans two runs of speech (a turn changes at a pause); a run too short to say whose
    voice it is joins the one before it."""
    frames = 500  # 5 s of mel frames
    windows = _run_windows(frames, [16000 * 2, 16000 * 3])  # runs of 2 s and 3 s
    assert all(b <= 200 or a >= 200 for a, b in windows), windows
    assert windows[0][0] == 0 and windows[-1][1] == frames
    short = _run_windows(575, [16000 * 4, 4000, 24000])  # a 0.25 s run between: it joins the first
    assert all(b <= 425 or a >= 425 for a, b in short) and not any(a == 400 for a, _ in short)
    assert short[-1] == (425, 575)
    assert _run_windows(300, []) == _run_windows(300, [16000 * 3])


def test_an_utterance_read_by_its_runs_weighs_them_by_length() -> None:
    clips = _clips("librivox", "*.wav")[:2]
    joined = np.concatenate(clips)
    embedding = _ge2e().embed(joined, [len(c) for c in clips])
    first = _ge2e().embed(clips[0])
    assert len(embedding.window_vectors) >= 2 and abs(np.linalg.norm(embedding.vector) - 1) < 1e-5
    assert float(embedding.window_vectors[0] @ first.window_vectors[0]) > 0.99  # the same frames
