"""WAV files in and out, for the command-line client, the tests and the benchmarks.

Test calls and recordings come as WAV files in whatever shape the tool that made them chose:
telephone captures are 8 kHz G.711 μ-law, editors export 32-bit float, recorders write
WAVE_FORMAT_EXTENSIBLE, and speech corpora are 16 kHz PCM16. The stdlib `wave` module reads only
integer PCM, so `read_wav` uses the project's one RIFF reader (`protocol.wav`, the same that parses
WAV streamed to `/ws/transcribe`) and turns every supported encoding into int16 samples shaped
(frames, channels). `audio.resampling.to_mono_16k` then gives the simple dialect's wire format.

Supported encodings: integer PCM 8 (unsigned), 16, 24 and 32 bit; IEEE float 32 and 64 bit;
G.711 μ-law; and WAVE_FORMAT_EXTENSIBLE wrapping any of them. RF64 files are read too. A data
chunk cut short (a recording that was still being written) is read as far as it goes.
"""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from audiohook_server.audio.resampling import as_frames
from protocol.wav import WavError, WavFormat, decode_frames, read_wav_bytes

__all__ = ["read_wav", "read_wav_format", "write_wav"]


def _read(path: str | os.PathLike[str]) -> tuple[WavFormat, bytes]:
    try:
        return read_wav_bytes(Path(path).read_bytes())
    except WavError as exc:
        raise ValueError(f"{path}: {exc.message}") from None


def read_wav_format(path: str | os.PathLike[str]) -> WavFormat:
    """The format of a WAV file, without decoding its samples."""
    return _read(path)[0]


def read_wav(path: str | os.PathLike[str]) -> tuple[npt.NDArray[np.int16], int]:
    """Read a WAV file: (int16 samples shaped (frames, channels), sample rate).

    Raises `ValueError` for files that are not WAV or use an unsupported encoding (the message names
    the file and the format code) and `OSError` when the file cannot be read.
    """
    fmt, data = _read(path)
    return decode_frames(fmt, data), fmt.rate


def write_wav(path: str | os.PathLike[str], samples: npt.NDArray[np.int16], rate: int) -> None:
    """Write int16 samples (1-D for mono, or (frames, channels)) as a PCM16 WAV file."""
    if np.asarray(samples).dtype != np.int16:
        raise TypeError(f"write_wav expects int16 samples, got {np.asarray(samples).dtype}")
    array = as_frames(samples, rate)
    with wave.open(os.fspath(path), "wb") as out:
        out.setnchannels(array.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.ascontiguousarray(array, dtype="<i2").tobytes())
