"""`audiohook_server.client.audio_input`: every input FFmpeg decodes, its channels kept, in each door's format.

The inputs are encoded here with PyAV (FFmpeg's encoders) from a known stereo signal: a 440 Hz tone on
the left and 1000 Hz on the right, so that a test can tell which channel is which after decoding."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from audiohook_server.client.audio_input import read_audio

RATE = 16000
SECONDS = 2.0


def _stereo() -> npt.NDArray[np.int16]:
    t = np.arange(int(RATE * SECONDS)) / RATE
    left = 8000 * np.sin(2 * np.pi * 440 * t)
    right = 8000 * np.sin(2 * np.pi * 1000 * t)
    return np.stack([left, right], axis=1).astype(np.int16)


def _encode(path: Path, container: str, codec: str, rate: int) -> Path:
    samples = _stereo()
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, layout="stereo")
        assert isinstance(stream, av.AudioStream)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.reshape(1, -1)), format="s16", layout="stereo")
        frame.sample_rate = RATE
        frame.time_base = Fraction(1, RATE)
        frame.pts = 0
        resampler = av.AudioResampler(format=stream.format.name, layout="stereo", rate=rate)
        for converted in resampler.resample(frame):
            for packet in stream.encode(converted):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path


def _dominant_hz(channel: npt.NDArray[np.int16]) -> float:
    spectrum = np.abs(np.fft.rfft(channel.astype(np.float64)))
    return float(np.argmax(spectrum) * RATE / len(channel))


@pytest.mark.parametrize(
    ("name", "container", "codec", "rate"),
    [
        ("call.wav", "wav", "pcm_mulaw", 8000),  # a μ-law WAV, as phone systems export
        ("call-alaw.wav", "wav", "pcm_alaw", 8000),
        ("call.mp3", "mp3", "libmp3lame", 44100),
        ("call.ogg", "ogg", "libopus", 48000),
        ("call.flac", "flac", "flac", 16000),
    ],
)
def test_decodes_with_the_channels_kept(tmp_path: Path, name: str, container: str, codec: str, rate: int) -> None:
    audio = read_audio(_encode(tmp_path / name, container, codec, rate))
    assert audio.channels == 2
    assert abs(audio.duration_s - SECONDS) < 0.15  # codec padding and priming
    middle = audio.samples[RATE // 2 : RATE + RATE // 2]
    assert abs(_dominant_hz(middle[:, 0]) - 440) < 10 and abs(_dominant_hz(middle[:, 1]) - 1000) < 10
    mono = audio.mono_16k()
    assert mono.ndim == 1 and mono.shape[0] == audio.samples.shape[0]
    genesys = audio.genesys_8k((1, 0))  # the right channel first
    assert genesys.shape[1] == 2 and abs(genesys.shape[0] - audio.samples.shape[0] / 2) <= 1
    assert abs(_dominant_hz(genesys[4000:12000, 0]) * 0.5 - 1000) < 10  # 8 kHz samples read at 16 kHz: half


def test_raw_pcm_is_16k_mono(tmp_path: Path) -> None:
    path = tmp_path / "call.pcm"
    path.write_bytes(_stereo()[:, 0].astype("<i2").tobytes())
    audio = read_audio(path)
    assert audio.channels == 1 and audio.duration_s == SECONDS


def test_unreadable_inputs_say_why(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="No such file"):
        read_audio(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="the file is empty"):
        read_audio(tmp_path / "empty.wav")
    (tmp_path / "notes.mp3").write_text("these are my notes, not audio\n" * 100)
    with pytest.raises(ValueError, match=r"^it is not audio we can decode") as info:
        read_audio(tmp_path / "notes.mp3")
    assert "Errno" not in str(info.value)
    audio = read_audio(_encode(tmp_path / "call.wav", "wav", "pcm_mulaw", 8000))
    with pytest.raises(ValueError, match="channel 3 does not exist"):
        audio.genesys_8k((0, 2))
