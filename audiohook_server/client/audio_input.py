"""The audio the client sends: any file FFmpeg can decode, with its channels kept, in each door's wire format.

People try the server with what they have: a PCM WAV, a μ-law or A-law WAV exported from a phone
system, an MP3, an Opus voice note. All of them go through PyAV (FFmpeg's decoders, the same path
the server's HTTP door decodes uploads with, `audio.stream_decoder.decode_file`), which gives 16 kHz
PCM16 with the source's channels (mono or stereo; more are downmixed). Headerless PCM (`.pcm`,
`.raw`) is read as the simple dialect's 16 kHz mono. From there each door takes its own format: the
simple and JWT doors mono 16 kHz, Genesys 8 kHz with one column per channel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from audiohook_server.audio.resampling import WHISPER_RATE, resample, to_mono_16k
from audiohook_server.audio.stream_decoder import MediaError, container_of, decode_file

__all__ = ["DecodedAudio", "read_audio"]

GENESYS_RATE = 8000


@dataclass(frozen=True)
class DecodedAudio:
    """A decoded input file: int16 samples at 16 kHz shaped (frames, channels)."""

    samples: npt.NDArray[np.int16]

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return float(self.samples.shape[0] / WHISPER_RATE)

    def mono_16k(self) -> npt.NDArray[np.int16]:
        """Downmixed to mono: the simple dialect's and the JWT door's format."""
        return to_mono_16k(self.samples, WHISPER_RATE)

    def genesys_8k(self, order: tuple[int, ...]) -> npt.NDArray[np.int16]:
        """At 8 kHz, one column per Genesys channel: `order[i]` is the file's channel sent as channel i."""
        for index in order:
            if not 0 <= index < self.channels:
                raise ValueError(f"the file has {self.channels} channel(s); channel {index + 1} does not exist")
        return resample(self.samples[:, list(order)], WHISPER_RATE, GENESYS_RATE)


def read_audio(path: str | Path) -> DecodedAudio:
    """Decode a whole file; `ValueError` with a readable reason when it cannot be read or is not audio."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            head = file.read(64)
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    if not head:
        raise ValueError("the file is empty")
    parts: list[npt.NDArray[np.int16]] = []
    try:
        decode_file(path, container_of(head, path.suffix.lower()), parts.append)
    except MediaError as exc:
        reason = re.sub(r"\[Errno -?\d+\] ", "", str(exc)).replace("the upload is", "it is")
        raise ValueError(reason) from None
    if not parts:
        raise ValueError("it holds no audio")
    widths = {part.shape[1] for part in parts}
    if len(widths) > 1:  # a stream whose layout changes midway: keep what is common, mono
        parts = [part.mean(axis=1, keepdims=True).astype(np.int16) for part in parts]
    return DecodedAudio(np.ascontiguousarray(np.concatenate(parts, axis=0), dtype=np.int16))
