"""The recording: a valid WAV after every write, so a killed server leaves one."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from audiohook_server.calls.recording import RecordingWriter


def test_recording_is_a_valid_wav_after_every_write(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path / "r.wav", 8000, 2)
    chunk = np.arange(1600, dtype=np.int16).reshape(800, 2)
    for n in range(1, 4):
        writer.write(chunk)
        # Read it while it is still open, as after a crash: the header already counts every frame.
        with wave.open(str(tmp_path / "r.wav")) as w:
            assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, 8000, 800 * n)
    writer.close()
    with wave.open(str(tmp_path / "r.wav")) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.array_equal(data, np.concatenate([chunk] * 3))
