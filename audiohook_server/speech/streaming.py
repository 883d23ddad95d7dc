"""Streaming partial transcripts from Vosk (Kaldi), one recognizer per channel.

Vosk decodes as audio arrives, at the channel's own rate (8 kHz telephone audio included), so
partials appear within a frame or two of the words. Whisper still produces the finals. Vosk's own
endpointing may close a segment inside one of our utterances, so the recognizer keeps the text it
already committed and prefixes it to the running partial.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def load_vosk_model(path: Path) -> Any:
    """Load a Vosk model once per process (it is shared by every recognizer)."""
    import vosk

    vosk.SetLogLevel(-1)
    return vosk.Model(str(path))


class VoskStreamingRecognizer:
    """Partial text for the open utterance of one channel."""

    def __init__(self, model: Any, rate: int) -> None:
        import vosk

        self._recognizer = vosk.KaldiRecognizer(model, float(rate))
        self._committed: list[str] = []
        self._last = ""

    def accept(self, samples: npt.NDArray[np.int16]) -> str | None:
        """Feed utterance audio; return the utterance's partial text when it changed, else None."""
        if self._recognizer.AcceptWaveform(samples.astype("<i2", copy=False).tobytes()):
            text = json.loads(self._recognizer.Result()).get("text", "")
            if text:
                self._committed.append(text)
            current = " ".join(self._committed)
        else:
            partial = json.loads(self._recognizer.PartialResult()).get("partial", "")
            current = " ".join([*self._committed, partial]) if partial else " ".join(self._committed)
        if current and current != self._last:
            self._last = current
            return current
        return None

    def reset(self) -> None:
        """The utterance ended: start the next one from a clean state."""
        self._recognizer.Reset()
        self._committed = []
        self._last = ""
