"""One channel's speech pipeline, synchronous: samples in, things to transcribe or show out.

`ChannelPipeline.feed` runs in a worker thread (never on the event loop). It drives the VAD
segmenter and, when configured, the Vosk recognizer, and returns:
- `PartialText`: a streaming partial from Vosk, ready to send;
- `PartialAudio`: the open utterance's audio so far, for a throttled Whisper partial (the caller may
  skip it when Whisper is busy: partials are always the first thing to give up);
- `FinalAudio`: an ended utterance for Whisper to finalize;
- `UtteranceDropped`: the open utterance was noise; drop its partials.
Positions are sample indexes on this channel's stream, at the channel's own rate.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from audiohook_server.speech.segmenter import (
    SegmenterConfig,
    UtteranceAudio,
    UtteranceDiscarded,
    UtteranceEnded,
    UtteranceSegmenter,
    UtteranceStarted,
)
from audiohook_server.speech.streaming import VoskStreamingRecognizer

PARTIAL_PAUSE_MS = 300


class PartialsMode(enum.Enum):
    VOSK = "vosk"
    WHISPER = "whisper"
    OFF = "off"


@dataclass(frozen=True)
class PartialText:
    channel: int
    utterance: int
    text: str
    start_sample: int
    end_sample: int


@dataclass(frozen=True)
class PartialAudio:
    channel: int
    utterance: int
    samples: npt.NDArray[np.int16]
    start_sample: int
    end_sample: int


@dataclass(frozen=True)
class FinalAudio:
    channel: int
    utterance: int
    samples: npt.NDArray[np.int16]
    start_sample: int
    end_sample: int
    forced: bool


@dataclass(frozen=True)
class UtteranceDropped:
    channel: int
    utterance: int


ChannelOutput = PartialText | PartialAudio | FinalAudio | UtteranceDropped


@dataclass
class ChannelPipeline:
    channel: int
    rate: int
    segmenter_config: SegmenterConfig
    partials: PartialsMode = PartialsMode.OFF
    vosk_model: Any = None
    partial_interval_s: float = 1.0
    _segmenter: UtteranceSegmenter = field(init=False, repr=False)
    _vosk: VoskStreamingRecognizer | None = field(init=False, default=None, repr=False)
    _chunks: list[npt.NDArray[np.int16]] = field(init=False, default_factory=list, repr=False)
    _utterance_samples: int = field(init=False, default=0)
    _last_partial_at: int = field(init=False, default=0)
    _start: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._segmenter = UtteranceSegmenter(self.rate, self.segmenter_config)
        if self.partials is PartialsMode.VOSK:
            if self.vosk_model is None:
                raise ValueError("Vosk partials need a Vosk model")
            self._vosk = VoskStreamingRecognizer(self.vosk_model, self.rate)

    def feed(self, samples: npt.NDArray[np.int16]) -> list[ChannelOutput]:
        return self._translate(self._segmenter.push(samples))

    def flush(self) -> list[ChannelOutput]:
        return self._translate(self._segmenter.flush())

    def skip(self, samples: int) -> list[ChannelOutput]:
        """A pause or discarded audio: end the open utterance, advance the position by `samples`."""
        return self._translate(self._segmenter.skip(samples))

    def _translate(self, events: list[Any]) -> list[ChannelOutput]:
        outputs: list[ChannelOutput] = []
        for event in events:
            if isinstance(event, UtteranceStarted):
                self._chunks = []
                self._utterance_samples = 0
                self._last_partial_at = 0
                self._start = event.start_sample
            elif isinstance(event, UtteranceAudio):
                self._on_audio(event, outputs)
            elif isinstance(event, UtteranceEnded):
                outputs.append(
                    FinalAudio(
                        self.channel, event.index, event.samples, event.start_sample, event.end_sample, event.forced
                    )
                )
                self._reset()
            elif isinstance(event, UtteranceDiscarded):
                outputs.append(UtteranceDropped(self.channel, event.index))
                self._reset()
        return outputs

    def _on_audio(self, event: UtteranceAudio, outputs: list[ChannelOutput]) -> None:
        self._utterance_samples += len(event.samples)
        end = self._start + self._utterance_samples
        if self._vosk is not None:
            text = self._vosk.accept(event.samples)
            if text:
                outputs.append(PartialText(self.channel, event.index, text, self._start, end))
        elif self.partials is PartialsMode.WHISPER:
            self._chunks.append(event.samples)
            # No partial while the speaker pauses: the audio since the last one is mostly silence.
            speaking = self._segmenter.silence_ms < PARTIAL_PAUSE_MS
            if speaking and self._utterance_samples - self._last_partial_at >= self.partial_interval_s * self.rate:
                self._last_partial_at = self._utterance_samples
                audio = np.concatenate(self._chunks)
                self._chunks = [audio]
                outputs.append(PartialAudio(self.channel, event.index, audio, self._start, end))

    def _reset(self) -> None:
        self._chunks = []
        self._utterance_samples = 0
        self._last_partial_at = 0
        if self._vosk is not None:
            self._vosk.reset()
