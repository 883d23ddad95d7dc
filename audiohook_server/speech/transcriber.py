"""The Whisper engine behind one small interface.

`Transcriber` is all the pipeline knows about Whisper: audio in (float32, 16 kHz, mono), text with
word timings and a confidence out. `FasterWhisperTranscriber` is the CPU default (CTranslate2, int8,
several times faster than PyTorch); an openai-whisper backend can implement the same protocol.
Implementations must be safe to call from several worker threads at once.

Both size the encoder's input to the utterance (`encoder_window`): a fitted decode that trips a guard
is decoded again with the full 30 s window, and the `Transcription` says which window gave it.

A multilingual faster-whisper model also detects the language of an utterance (`detect`, among the
languages the server supports) and translates it into English (`translate`, Whisper's own task), so
that the English text models can analyse calls in other languages.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from audiohook_server.speech.encoder_window import EncoderWindow, token_budget, trip_reason
from protocol.events import Word

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transcription:
    text: str
    words: tuple[Word, ...]  # times from the start of the transcribed audio
    confidence: float  # 0..1: mean word probability, else exp(mean avg_logprob)
    language: str
    window: str = "full"  # the encoder window that gave it: "fit" or "full"
    fallback: str | None = None  # why a fitted decode was refused and decoded again with the full window
    language_probability: float | None = None  # detected: how sure (None: the language was given)
    translation: str | None = None  # not English: Whisper's English translation (for the analysis)


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


# One decode: (mel frames for the encoder or None for the full window, token budget or None) ->
# the transcription and the token count of each of its segments.
Decode = Callable[[int | None, int | None], tuple[Transcription, list[int]]]


def decode_in_window(window: EncoderWindow, duration_s: float, decode: Decode) -> Transcription:
    """Decode with the encoder window fitted to `duration_s` of audio; a result that trips a guard is
    decoded again with the full window (its `fallback` says why). Every backend goes through here."""
    frames = window.frames(duration_s)
    if frames is None:
        return decode(None, None)[0]
    budget = token_budget(duration_s)
    fitted, tokens = decode(frames, budget)
    reason = trip_reason(fitted.text, duration_s, tokens, budget, [word.end for word in fitted.words])
    if reason is None:
        return replace(fitted, window="fit")
    # Never the text itself: the logs carry no transcript (calls/redaction.py, `logs`).
    log.debug(
        "fitted encoder window refused (%s, %d characters); decoding with the full window", reason, len(fitted.text)
    )
    return replace(decode(None, None)[0], fallback=reason)


@cache
def _fitted_model_class() -> type[Any]:
    """faster-whisper's WhisperModel whose encoder gets the mel frames the calling thread asked for.

    faster-whisper pads every segment's features to 3000 frames before `encode`; this drops the
    padding beyond `frames.value` (set per call, per thread: one model serves every worker thread).
    Everything after the encoder (decoding, the word alignment on the encoder output) is unchanged:
    it already works on the segment's real length."""
    from faster_whisper import WhisperModel

    class FittedWhisperModel(WhisperModel):  # type: ignore[misc]
        frames = threading.local()

        def encode(self, features: npt.NDArray[np.float32]) -> Any:
            limit: int | None = getattr(self.frames, "value", None)
            if limit is not None and features.shape[-1] > limit:
                features = np.ascontiguousarray(features[..., :limit])
            return super().encode(features)

    return FittedWhisperModel


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
        window: EncoderWindow | None = None,
    ) -> None:
        self.name = f"faster-whisper:{model_dir.name}"
        self.beam_size = beam_size
        self.window = window or EncoderWindow()
        self._model = _fitted_model_class()(  # heavy import, paid once at start-up
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
        return decode_in_window(
            self.window, len(audio) / 16000, lambda frames, budget: self._decode(audio, lang, final, frames, budget)
        )

    def detect(self, audio: npt.NDArray[np.float32], languages: Collection[str]) -> tuple[str, float]:
        """The most likely of `languages` for this speech and its probability among them (Whisper's
        language-token probabilities renormalised over `languages`): one encoder pass on the fitted
        window and one decoder step, no transcription."""
        if self.english_only:
            return "en", 1.0
        features = self._model.feature_extractor(audio)
        self._model.frames.value = self.window.frames(len(audio) / 16000)
        try:
            _, _, probabilities = self._model.detect_language(features=features)
        finally:
            self._model.frames.value = None
        among = [(code, p) for code, p in probabilities if code in languages]
        if not among:
            return next(iter(languages)), 0.0
        total = sum(p for _, p in among)
        code, p = max(among, key=lambda pair: pair[1])
        return code, (p / total if total > 0 else 0.0)

    def translate(self, audio: npt.NDArray[np.float32], language: str) -> str:
        """Whisper's English translation of one utterance spoken in `language` (its `translate` task)."""
        translated = decode_in_window(
            self.window,
            len(audio) / 16000,
            lambda frames, budget: self._decode(audio, language, False, frames, budget, task="translate"),
        )
        return translated.text

    def _decode(
        self,
        audio: npt.NDArray[np.float32],
        lang: str | None,
        final: bool,
        frames: int | None,
        budget: int | None,
        task: str = "transcribe",
    ) -> tuple[Transcription, list[int]]:
        """One faster-whisper decode with the encoder on `frames` mel frames (None: the full window);
        the transcription and the number of tokens of each segment."""
        self._model.frames.value = frames
        try:
            segments_iter, info = self._model.transcribe(
                audio,
                language=lang,
                task=task,
                beam_size=self.beam_size if final or task == "translate" else 1,
                word_timestamps=final,
                without_timestamps=not final,
                condition_on_previous_text=False,
                vad_filter=False,  # our own VAD already cut the utterance
                temperature=(0.0, 0.2, 0.4, 0.6) if final else 0.0,  # translate: greedy, no retries (cost)
                max_new_tokens=budget,
            )
            segments = list(segments_iter)
        finally:
            self._model.frames.value = None
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
        transcription = Transcription(text=text, words=words, confidence=min(1.0, confidence), language=info.language)
        return transcription, [len(segment.tokens) for segment in segments]
