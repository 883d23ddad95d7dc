"""The held recording: nothing reaches the WAV before its release point, silences land on their
channel only, and closing writes the rest (real WAV files in a temporary directory)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audiohook_server.audio.wav_files import read_wav
from audiohook_server.calls.held_recording import HeldRecording
from audiohook_server.calls.recording import RecordingWriter


def test_held_frames_are_written_only_up_to_the_release_point(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    held = HeldRecording(RecordingWriter(path, 8000, 2))
    audio = np.arange(1, 2001, dtype=np.int16).repeat(2).reshape(-1, 2)
    held.append(audio[:1000])
    held.append(audio[1000:])
    held.release(600)
    assert (held.written, held.held) == (600, 1400)
    assert read_wav(path)[0].shape == (600, 2)
    held.silence(0, 500, 800)  # partly written already: only the held part can be silenced
    held.silence(1, 1500, 1600)
    held.release(5000)  # beyond what was received: everything received
    held.close()
    recorded, rate = read_wav(path)
    assert rate == 8000 and recorded.shape == audio.shape
    assert not recorded[600:800, 0].any() and recorded[600:800, 1].all()
    assert not recorded[1500:1600, 1].any() and recorded[1500:1600, 0].all()
    np.testing.assert_array_equal(recorded[:600], audio[:600])
    np.testing.assert_array_equal(recorded[800:1500, 0], audio[800:1500, 0])
    assert held.silenced_frames == 300


def test_close_writes_what_is_still_held(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    held = HeldRecording(RecordingWriter(path, 16000, 1))
    held.append(np.ones((320, 1), dtype=np.int16))
    assert read_wav(path)[0].shape[0] == 0
    held.close()
    assert read_wav(path)[0].shape == (320, 1)
