"""A call's recording held in memory until the speech in it has been transcribed and redacted.

With recording redaction on, no sample of a card number may reach the disk, and which samples those
are is known only once Whisper's final for the utterance has been read by the redactor. So audio is
written only up to the *release point*: the call core moves it forward to where every utterance
before it has its final (and its redacted spans silenced). The recording therefore trails the call
by the time an utterance takes to end and be finalized: the open utterance (at most the segmenter's
20 s maximum) plus the final's latency, and, for an utterance that ends in digits nothing has claimed
yet, until its speaker's next final says what they were (`calls.core`: at most 10 s of wall clock
or 20 s of call). Everything is written at the end of the call however it ends, after the last
final. What a killed process held in memory is lost, by design: writing it unredacted is what the
policy forbids (the transcript journal has every final written so far).

Silencing replaces a span of one channel with zeros, with the margin the caller gives it (word
timings are approximate). Thread-safe: the audio worker appends and releases, the finals worker
silences and releases.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from audiohook_server.calls.recording import RecordingWriter

__all__ = ["HeldRecording"]


@dataclass
class HeldRecording:
    writer: RecordingWriter
    _held: list[npt.NDArray[np.int16]] = field(default_factory=list)
    _held_start: int = 0  # the frame index of the first held frame (= frames written)
    _held_frames: int = 0
    _silences: list[tuple[int, int, int]] = field(default_factory=list)  # (channel, start, end) frames
    _lock: threading.Lock = field(default_factory=threading.Lock)
    silenced_frames: int = 0

    @property
    def written(self) -> int:
        return self._held_start

    @property
    def held(self) -> int:
        """Frames received and not yet written."""
        return self._held_frames

    def append(self, samples: npt.NDArray[np.int16]) -> None:
        with self._lock:
            self._held.append(np.array(samples, dtype=np.int16, copy=True))
            self._held_frames += samples.shape[0]

    def silence(self, channel: int, start: int, end: int) -> None:
        """Frames `start`..`end` of `channel` become silence (those already written cannot: the release
        point never passes an utterance that has no final yet, so a caller never asks for them)."""
        with self._lock:
            start = max(start, 0)
            if end > start:
                self._silences.append((channel, start, end))

    def release(self, upto: int) -> None:
        """Write every held frame before `upto` (silenced where asked)."""
        with self._lock:
            self._write(min(upto, self._held_start + self._held_frames))

    def close(self) -> None:
        with self._lock:
            self._write(self._held_start + self._held_frames)
            self.writer.close()

    def _write(self, upto: int) -> None:
        count = upto - self._held_start
        if count <= 0:
            return
        audio = np.concatenate(self._held) if len(self._held) > 1 else self._held[0]
        out, rest = audio[:count].copy(), audio[count:]
        begin = self._held_start
        for channel, start, end in self._silences:
            a, b = max(start, begin) - begin, min(end, upto) - begin
            if a < b and channel < out.shape[1]:
                out[a:b, channel] = 0
                self.silenced_frames += b - a
        self._silences = [s for s in self._silences if s[2] > upto]
        self.writer.write(out)
        self._held = [rest] if rest.shape[0] else []
        self._held_start = upto
        self._held_frames -= count
