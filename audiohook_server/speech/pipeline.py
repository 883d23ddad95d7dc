"""One channel's speech pipeline, synchronous: samples in, things to transcribe or show out.

`ChannelPipeline.feed` runs in a worker thread (never on the event loop). It drives the VAD
segmenter and, when configured, the Vosk recognizer, and returns:
- `PartialText`: a streaming partial from Vosk, ready to send;
- `PartialAudio`: the open utterance's audio so far, for a throttled Whisper partial (the caller may
  skip it when Whisper is busy: partials are always the first thing to give up);
- `FinalAudio`: an ended utterance for Whisper to finalize;
- `UtteranceDropped`: the open utterance was noise; drop its partials.
Positions are sample indexes on this channel's stream, at the channel's own rate.

With Whisper partials, a pause of `PROBE_PAUSE_MS` asks for one more partial of the utterance so far;
its text (`hint_text`, from any partial) tells the segmenter whether the pause ends a sentence, so a
clear sentence end is finalized after a short silence and a mid-sentence pause waits longer.
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
PROBE_PAUSE_MS = 90  # silence after which one partial asks whether the utterance is over
SENTENCE_ENDS = (".", "?", "!")


def ends_sentence(text: str) -> bool:
    """Whisper punctuates: a text ending in . ? or ! (not an ellipsis: trailing off) ends a sentence."""
    stripped = text.rstrip().rstrip("\"')\u201d\u2019")
    return stripped.endswith(SENTENCE_ENDS) and not stripped.endswith(("...", "\u2026"))


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
    voiced: tuple[tuple[int, int], ...] = ()  # the segmenter's runs of voiced frames (stream samples)
    part: int = 0  # the utterance cut into sentences (sentence_split): which one this is
    last_part: bool = True


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
    text_endpointing: bool = True  # probe pauses with a partial and let its text set the silence
    _segmenter: UtteranceSegmenter = field(init=False, repr=False)
    _vosk: VoskStreamingRecognizer | None = field(init=False, default=None, repr=False)
    _chunks: list[npt.NDArray[np.int16]] = field(init=False, default_factory=list, repr=False)
    _utterance_samples: int = field(init=False, default=0)
    _last_partial_at: int = field(init=False, default=0)
    _start: int = field(init=False, default=0)
    _probed_until: int = field(init=False, default=-1)  # the voiced end the last pause probe covered
    _position: int = field(init=False, default=0)  # samples fed and skipped
    _open_start: int | None = field(init=False, default=None)  # the open utterance's first sample

    def __post_init__(self) -> None:
        self._segmenter = UtteranceSegmenter(self.rate, self.segmenter_config)
        if self.partials is PartialsMode.VOSK:
            if self.vosk_model is None:
                raise ValueError("Vosk partials need a Vosk model")
            self._vosk = VoskStreamingRecognizer(self.vosk_model, self.rate)

    def feed(self, samples: npt.NDArray[np.int16]) -> list[ChannelOutput]:
        self._position += len(samples)
        return self._translate(self._segmenter.push(samples))

    @property
    def sentence_pause_s(self) -> float | None:
        """With text endpointing, the pause after a sentence end that ends an utterance: a final whose
        words show one inside it is cut there (`sentence_split`); None when only silence decides."""
        return self.segmenter_config.sentence_end_silence_ms / 1000 if self.text_endpointing else None

    @property
    def settled(self) -> int:
        """The sample before which no utterance is open or can still start: the open utterance's start,
        else the position less the segmenter's look-back (its padding ring and a partial frame)."""
        if self._open_start is not None:
            return self._open_start
        cfg = self.segmenter_config
        look_back = (cfg.padding_ms + 2 * cfg.frame_ms) * self.rate // 1000
        return max(0, self._position - look_back)

    def hint_text(self, utterance: int, text: str, end_sample: int) -> None:
        """A partial of `utterance` through `end_sample` said `text` (called from the event loop)."""
        if self.text_endpointing and text.strip():
            self._segmenter.hint_end(utterance, ends_sentence(text), end_sample)

    def flush(self) -> list[ChannelOutput]:
        return self._translate(self._segmenter.flush())

    def skip(self, samples: int) -> list[ChannelOutput]:
        """A pause or discarded audio: end the open utterance, advance the position by `samples`."""
        outputs = self._translate(self._segmenter.skip(samples))
        self._position += samples
        return outputs

    def _translate(self, events: list[Any]) -> list[ChannelOutput]:
        outputs: list[ChannelOutput] = []
        for event in events:
            if isinstance(event, UtteranceStarted):
                self._chunks = []
                self._utterance_samples = 0
                self._last_partial_at = 0
                self._start = event.start_sample
                self._open_start = event.start_sample
            elif isinstance(event, UtteranceAudio):
                self._on_audio(event, outputs)
            elif isinstance(event, UtteranceEnded):
                outputs.append(
                    FinalAudio(
                        self.channel,
                        event.index,
                        event.samples,
                        event.start_sample,
                        event.end_sample,
                        event.forced,
                        event.voiced,
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
            silence = self._segmenter.silence_ms
            due = self._utterance_samples - self._last_partial_at >= self.partial_interval_s * self.rate
            # Except one at the start of a pause, whose text says whether the utterance is over.
            voiced_until = self._segmenter.voiced_until
            probe = self.text_endpointing and silence >= PROBE_PAUSE_MS and self._probed_until < voiced_until
            if (silence < PARTIAL_PAUSE_MS and due) or probe:
                self._last_partial_at = self._utterance_samples
                if probe:
                    self._probed_until = voiced_until
                audio = np.concatenate(self._chunks)
                self._chunks = [audio]
                outputs.append(PartialAudio(self.channel, event.index, audio, self._start, end))

    def _reset(self) -> None:
        self._open_start = None
        self._probed_until = -1
        self._chunks = []
        self._utterance_samples = 0
        self._last_partial_at = 0
        if self._vosk is not None:
            self._vosk.reset()
