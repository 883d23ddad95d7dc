"""Loading the committed real-speech fixtures (see tests/fixtures/README.md) for the tests."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

FIXTURES = Path(__file__).parent / "fixtures"
LIBRIVOX = FIXTURES / "librivox"
DIALOGUE = FIXTURES / "dialogue"
COMMANDS = FIXTURES / "commands"


def read_pcm16(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16), w.getframerate()


def librivox_clips() -> list[tuple[str, npt.NDArray[np.int16], str]]:
    """(name, 16 kHz mono samples, reference transcript) for each LibriVox clip."""
    return _clips(LIBRIVOX)


def command_clips() -> list[tuple[str, npt.NDArray[np.int16], str]]:
    """(name, 16 kHz mono samples, reference transcript) for each short spoken command (1-3.5 s)."""
    return _clips(COMMANDS)


def _clips(folder: Path) -> list[tuple[str, npt.NDArray[np.int16], str]]:
    transcripts: dict[str, str] = json.loads((folder / "transcripts.json").read_text())
    clips = []
    for name in sorted(transcripts):
        samples, rate = read_pcm16(folder / name)
        assert rate == 16000
        clips.append((name, samples, transcripts[name]))
    return clips


def librivox_call(gap_s: float = 1.5) -> tuple[npt.NDArray[np.int16], list[tuple[float, float, str]]]:
    """All clips in one 16 kHz stream with silence between them, and (start, end, text) per clip."""
    gap = np.zeros(int(gap_s * 16000), dtype=np.int16)
    parts: list[npt.NDArray[np.int16]] = [gap]
    spans = []
    position = len(gap)
    for _, samples, text in librivox_clips():
        spans.append((position / 16000, (position + len(samples)) / 16000, text))
        parts += [samples, gap]
        position += len(samples) + len(gap)
    return np.concatenate(parts), spans
