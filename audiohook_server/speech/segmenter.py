"""Cutting one channel's audio stream into utterances with webrtcvad.

Frames of any length go in; out come events saying an utterance started, grew, ended (with its
audio and its sample positions on the stream) or was discarded as too short to be speech. The
streaming recognizer follows the growing utterance, and Whisper transcribes each ended one.

The rules, all configurable (`SegmenterConfig`):
- webrtcvad classifies 10/20/30 ms sub-frames (aggressiveness 0-3).
- An utterance starts when `start_ratio` of the last `padding_ms` of frames are voiced; that
  padding is kept as pre-roll so the first syllable is not clipped.
- It ends after `trailing_silence_ms` of unvoiced frames; up to `padding_ms` of that silence is kept.
  What was said can change that (`hint_end`): when a transcription of the utterance through its last
  voiced frame ends a sentence, `sentence_end_silence_ms` of silence ends it; when it stops
  mid-sentence, it takes `mid_sentence_silence_ms`, so a pause for breath does not split the sentence.
- Utterances with less than `min_speech_ms` of voiced frames are discarded as noise.
- An utterance longer than `max_utterance_s` is split, preferably at the last pause in its second
  half, so that Whisper's 30 s window is never exceeded and finals keep flowing in long monologues.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import webrtcvad

VAD_RATES = (8000, 16000, 32000, 48000)
VAD_FRAME_MS = (10, 20, 30)


@dataclass(frozen=True)
class SegmenterConfig:
    aggressiveness: int = 2
    frame_ms: int = 30
    padding_ms: int = 300
    start_ratio: float = 0.6
    min_speech_ms: int = 150
    trailing_silence_ms: int = 600  # without a hint of what was said
    max_utterance_s: float = 20.0
    sentence_end_silence_ms: int = 300  # a transcription through the pause ends a sentence
    mid_sentence_silence_ms: int = 900  # a transcription through the pause stops mid-sentence

    def __post_init__(self) -> None:
        if self.aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"VAD aggressiveness must be 0-3, got {self.aggressiveness}")
        if self.frame_ms not in VAD_FRAME_MS:
            raise ValueError(f"VAD frame must be 10, 20 or 30 ms, got {self.frame_ms}")
        if self.padding_ms < self.frame_ms:
            raise ValueError(f"VAD padding ({self.padding_ms} ms) must be at least one frame ({self.frame_ms} ms)")
        if not 0.0 < self.start_ratio <= 1.0:
            raise ValueError(f"start ratio must be in (0, 1], got {self.start_ratio}")
        for name in ("trailing_silence_ms", "sentence_end_silence_ms", "mid_sentence_silence_ms"):
            if getattr(self, name) < self.frame_ms:
                raise ValueError(f"{name.replace('_', ' ')[:-3]} must be at least one VAD frame ({self.frame_ms} ms)")
        if not 1.0 <= self.max_utterance_s <= 30.0:
            raise ValueError(f"maximum utterance length must be 1-30 s (Whisper's window), got {self.max_utterance_s}")


@dataclass(frozen=True)
class UtteranceStarted:
    index: int
    start_sample: int


@dataclass(frozen=True)
class UtteranceAudio:
    """Audio appended to the open utterance (pre-roll included when it starts)."""

    index: int
    samples: npt.NDArray[np.int16]


@dataclass(frozen=True)
class UtteranceEnded:
    index: int
    start_sample: int
    end_sample: int
    samples: npt.NDArray[np.int16]
    forced: bool  # cut by the maximum length or by a flush, not by silence
    # Its runs of voiced frames, (start, end) stream samples: where the sound is inside the pre-roll
    # and trailing silence that the audio keeps for Whisper (calls.speech_span times finals by them).
    voiced: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class UtteranceDiscarded:
    """The open utterance held too little speech: whatever followed it should be reset."""

    index: int


SegmentEvent = UtteranceStarted | UtteranceAudio | UtteranceEnded | UtteranceDiscarded


@dataclass
class _Frame:
    samples: npt.NDArray[np.int16]
    voiced: bool


@dataclass
class UtteranceSegmenter:
    """Stateful VAD segmenter for one mono channel at one sample rate."""

    rate: int
    config: SegmenterConfig = field(default_factory=SegmenterConfig)
    _vad: webrtcvad.Vad = field(init=False, repr=False)
    _pending: npt.NDArray[np.int16] = field(init=False, repr=False)
    _ring: deque[_Frame] = field(init=False, repr=False)
    _frames: list[_Frame] = field(init=False, repr=False)
    _position: int = 0  # sample index of the next frame to classify
    _utterance_start: int = 0
    _in_speech: bool = False
    _silence_run: int = 0
    _index: int = 0
    _voiced_until: int = 0  # stream position where the open utterance's last voiced frame ends
    # (utterance index, ends a sentence, transcribed through this position): set from another thread
    # (the event loop, when a partial arrives) as one tuple assignment, read once per frame here.
    _hint: tuple[int, bool, int] | None = None

    def __post_init__(self) -> None:
        if self.rate not in VAD_RATES:
            raise ValueError(f"webrtcvad supports {VAD_RATES} Hz, got {self.rate}")
        self._vad = webrtcvad.Vad(self.config.aggressiveness)
        self._pending = np.zeros(0, dtype=np.int16)
        self._ring = deque(maxlen=self.config.padding_ms // self.config.frame_ms)
        self._frames = []

    @property
    def frame_samples(self) -> int:
        return self.rate * self.config.frame_ms // 1000

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def silence_ms(self) -> int:
        """Length of the unvoiced run at the end of the open utterance."""
        return self._silence_run * self.config.frame_ms

    @property
    def voiced_until(self) -> int:
        """Stream position where the open utterance's last voiced frame ends."""
        return self._voiced_until

    @property
    def position(self) -> int:
        """Samples consumed so far (classified or pending)."""
        return self._position + len(self._pending)

    def hint_end(self, index: int, sentence_end: bool, through_sample: int) -> None:
        """What a transcription of utterance `index` through `through_sample` says: it ends a sentence
        (end it after a short silence) or stops mid-sentence (wait longer). Ignored unless it covers
        the utterance's speech so far; forgotten when the speaker goes on."""
        self._hint = (index, sentence_end, through_sample)

    @property
    def silence_to_end_ms(self) -> int:
        """The silence that ends the open utterance now, given what is known of what was said."""
        cfg = self.config
        hint = self._hint
        if hint is None or hint[0] != self._index or hint[2] < self._voiced_until:
            return cfg.trailing_silence_ms
        return cfg.sentence_end_silence_ms if hint[1] else cfg.mid_sentence_silence_ms

    def push(self, samples: npt.NDArray[np.int16]) -> list[SegmentEvent]:
        """Feed mono int16 samples of any length."""
        buf = np.concatenate([self._pending, samples]) if len(self._pending) else np.asarray(samples, np.int16)
        n = self.frame_samples
        usable = len(buf) - len(buf) % n
        self._pending = buf[usable:].copy()
        events: list[SegmentEvent] = []
        grown: list[npt.NDArray[np.int16]] = []
        for offset in range(0, usable, n):
            frame = buf[offset : offset + n]
            voiced = self._vad.is_speech(frame.tobytes(), self.rate)
            self._step(_Frame(frame, voiced), events, grown)
            self._position += n
        if grown and self._in_speech:
            events.append(UtteranceAudio(self._index, np.concatenate(grown)))
        return events

    def flush(self) -> list[SegmentEvent]:
        """End of stream: close the open utterance (the pending sub-frame tail included)."""
        events: list[SegmentEvent] = []
        if self._in_speech:
            if len(self._pending):
                self._frames.append(_Frame(self._pending, False))
            self._position += len(self._pending)
            self._pending = np.zeros(0, dtype=np.int16)
            # As when silence ends it: up to `padding_ms` of the trailing silence, not all of it (Whisper
            # makes words up in a long silent tail: "… shoes, please. I'm going to go ahead and see …").
            unvoiced = next((i for i, f in enumerate(reversed(self._frames)) if f.voiced), len(self._frames))
            keep = len(self._frames) - unvoiced + self.config.padding_ms // self.config.frame_ms
            self._end(events, forced=True, keep_trailing=keep)
        return events

    def skip(self, samples: int) -> list[SegmentEvent]:
        """A discontinuity: audio was paused or discarded. The open utterance ends here, and the stream
        position jumps by `samples`, so later positions stay true to the client's timeline."""
        events = self.flush()
        self._position += len(self._pending) + samples
        self._pending = np.zeros(0, dtype=np.int16)
        self._ring.clear()  # pre-roll must not reach back across the gap
        return events

    # ---- internals ---------------------------------------------------------------------------

    def _step(self, frame: _Frame, events: list[SegmentEvent], grown: list[npt.NDArray[np.int16]]) -> None:
        cfg = self.config
        if not self._in_speech:
            self._ring.append(frame)
            voiced = sum(f.voiced for f in self._ring)
            if len(self._ring) == self._ring.maxlen and voiced >= cfg.start_ratio * len(self._ring):
                self._in_speech = True
                self._index += 1
                self._frames = list(self._ring)
                self._utterance_start = self._position + self.frame_samples - len(self._frames) * self.frame_samples
                self._silence_run = 0
                self._voiced_until = self._position + self.frame_samples
                self._ring.clear()
                events.append(UtteranceStarted(self._index, self._utterance_start))
                grown.extend(f.samples for f in self._frames)
            return

        self._frames.append(frame)
        grown.append(frame.samples)
        if frame.voiced:
            self._silence_run = 0
            self._voiced_until = self._position + self.frame_samples
        else:
            self._silence_run += 1
        if self._silence_run * cfg.frame_ms >= self.silence_to_end_ms:
            if grown:
                events.append(UtteranceAudio(self._index, np.concatenate(grown)))
                grown.clear()
            keep = len(self._frames) - self._silence_run + cfg.padding_ms // cfg.frame_ms
            self._end(events, forced=False, keep_trailing=keep)
        elif len(self._frames) * cfg.frame_ms >= cfg.max_utterance_s * 1000:
            if grown:
                events.append(UtteranceAudio(self._index, np.concatenate(grown)))
                grown.clear()
            self._split(events)

    def _end(self, events: list[SegmentEvent], forced: bool, keep_trailing: int) -> None:
        frames = self._frames[: max(1, min(keep_trailing, len(self._frames)))]
        voiced_ms = sum(f.voiced for f in frames) * self.config.frame_ms
        if voiced_ms >= self.config.min_speech_ms:
            audio = np.concatenate([f.samples for f in frames])
            start = self._utterance_start
            events.append(
                UtteranceEnded(self._index, start, start + len(audio), audio, forced, _voiced_runs(frames, start))
            )
        else:
            events.append(UtteranceDiscarded(self._index))
        self._in_speech = False
        self._frames = []
        self._silence_run = 0
        self._hint = None

    def _split(self, events: list[SegmentEvent]) -> None:
        """Cut a too-long utterance at the last unvoiced frame of its second half (or right here)."""
        half = len(self._frames) // 2
        cut = len(self._frames)
        for i in range(len(self._frames) - 1, half, -1):
            if not self._frames[i].voiced:
                cut = i + 1
                break
        rest = self._frames[cut:]
        self._frames = self._frames[:cut]
        self._end(events, forced=True, keep_trailing=cut)
        if rest:
            # The remainder is still speech: it opens the next utterance at once.
            self._in_speech = True
            self._index += 1
            self._frames = rest
            self._utterance_start = self._position + self.frame_samples - len(rest) * self.frame_samples
            events.append(UtteranceStarted(self._index, self._utterance_start))
            events.append(UtteranceAudio(self._index, np.concatenate([f.samples for f in rest])))


def _voiced_runs(frames: list[_Frame], start: int) -> tuple[tuple[int, int], ...]:
    """The (start, end) stream samples of each run of voiced frames, the first frame at `start`."""
    runs: list[tuple[int, int]] = []
    position = start
    for frame in frames:
        end = position + len(frame.samples)
        if frame.voiced:
            if runs and runs[-1][1] == position:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((position, end))
        position = end
    return tuple(runs)
