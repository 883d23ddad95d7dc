"""The Whisper engine behind one small interface.

`Transcriber` is all the pipeline knows about Whisper: audio in (float32, 16 kHz, mono), text with
word timings and a confidence out. `FasterWhisperTranscriber` is the CPU default (CTranslate2, int8,
several times faster than PyTorch); an openai-whisper backend can implement the same protocol.
Implementations must be safe to call from several worker threads at once.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from protocol.events import Word

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transcription:
    text: str
    words: tuple[Word, ...]  # times from the start of the transcribed audio
    confidence: float  # 0..1: mean word probability, else exp(mean avg_logprob)
    language: str


class Transcriber(Protocol):
    name: str
    english_only: bool

    def transcribe(self, audio: npt.NDArray[np.float32], *, language: str | None, final: bool) -> Transcription:
        """Transcribe one utterance. `final` asks for the best quality and word timings; a partial is a
        quick greedy pass without them."""
        ...


def whisper_language(language: str | None, english_only: bool) -> str | None:
    """Map a session language (`en`, `en-US`, `de-DE`, …) to Whisper's code; `.en` models are English."""
    if english_only:
        return "en"
    if not language:
        return None
    return language.split("-")[0].lower()


class FasterWhisperTranscriber:
    """faster-whisper (CTranslate2) on CPU or CUDA; one model instance shared by all sessions."""

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 0,
        num_workers: int = 1,
        beam_size: int = 5,
    ) -> None:
        from faster_whisper import WhisperModel  # heavy import, paid once at start-up

        self.name = f"faster-whisper:{model_dir.name}"
        self.beam_size = beam_size
        self._model = WhisperModel(
            str(model_dir),
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=num_workers,
            local_files_only=True,
        )
        self.english_only = not self._model.model.is_multilingual

    def transcribe(self, audio: npt.NDArray[np.float32], *, language: str | None, final: bool) -> Transcription:
        lang = whisper_language(language, self.english_only)
        segments_iter, info = self._model.transcribe(
            audio,
            language=lang,
            beam_size=self.beam_size if final else 1,
            word_timestamps=final,
            without_timestamps=not final,
            condition_on_previous_text=False,
            vad_filter=False,  # our own VAD already cut the utterance
            temperature=(0.0, 0.2, 0.4, 0.6) if final else 0.0,
        )
        segments = list(segments_iter)
        words = tuple(
            Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
            for segment in segments
            for w in (segment.words or [])
            if w.word.strip()
        )
        text = " ".join(segment.text.strip() for segment in segments if segment.text.strip())
        if words:
            confidence = float(np.mean([w.confidence for w in words]))
        elif segments:
            confidence = math.exp(float(np.mean([s.avg_logprob for s in segments])))
        else:
            confidence = 0.0
        return Transcription(text=text, words=words, confidence=min(1.0, confidence), language=info.language)
