"""The call's audio as received (all channels, at the received rate), as a WAV beside its CSV.

Each write is flushed to the operating system with the header already counting it (Python's `wave`
writer patches the header after every write), so a killed server leaves a valid WAV of everything
received.
"""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["RecordingWriter"]


class RecordingWriter:
    """Appends a session's audio to a PCM16 WAV."""

    def __init__(self, path: Path, rate: int, channels: int, mode: int = 0o640) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        os.fchmod(fd, mode)
        self._file = os.fdopen(fd, "wb")
        self._wav = wave.open(self._file, "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)
        self._wav.writeframes(b"")  # the header now: a valid, empty WAV until audio comes (or is released)
        self._file.flush()
        self.frames = 0

    def write(self, samples: npt.NDArray[np.int16]) -> None:
        self._wav.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
        self._file.flush()
        self.frames += samples.shape[0]

    def close(self) -> None:
        self._wav.close()
        self._file.close()
