"""How an utterance sounds: loudness, pitch level and range, measured from its audio, and how far each is
from the speaker's own baseline in this call.

Arousal and dominance are carried by the voice as much as by the words (a furious "fine" and a
relieved "fine"), but a voice's absolute loudness and pitch say little (a phone line's gain, a deep
voice); what moves with arousal is the change against the same speaker earlier in the call. So the
features are z-scores against a running baseline per speaker (``ProsodyBaseline``), zero until the
speaker has said ``MIN_BASELINE`` utterances.

Pitch: ``librosa.yin`` (already a dependency, for Whisper's mel front end). Measured on 3 s of speech at
8 kHz it costs about 6 ms, against about 21 ms for Praat's autocorrelation tracker (praat-parselmouth, a
new 10 MB wheel) and 650 ms for ``librosa.pyin``; YIN has no voicing decision of its own, so frames are
counted as voiced when their energy is within ``VOICED_DB`` of the utterance's loudest frame and the
estimate is inside the search band (not pinned to its edges). Pure: numpy in, numbers out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["MIN_BASELINE", "Prosody", "ProsodyBaseline", "ProsodyChange", "measure"]

FMIN_HZ: Final = 65.0
FMAX_HZ: Final = 400.0
FRAME_S: Final = 0.04  # YIN frame (two periods of 65 Hz fit at 8 kHz)
HOP_S: Final = 0.01
PITCH_RATE: Final = 8000
VOICED_DB: Final = 30.0  # a frame this far below the utterance's loudest is not voiced speech
MIN_VOICED_FRAMES: Final = 5
MIN_BASELINE: Final = 2  # utterances of the speaker before a change is measured
MAX_Z: Final = 3.0


@dataclass(frozen=True, slots=True)
class Prosody:
    """One utterance's voice: ``loudness_db`` (RMS of its voiced frames, dBFS), ``pitch_st`` (median F0
    in semitones re 100 Hz; None without voiced frames), ``pitch_range_st`` (10th to 90th percentile)."""

    loudness_db: float
    pitch_st: float | None
    pitch_range_st: float
    voiced_s: float
    duration_s: float

    def to_json(self) -> dict[str, float | None]:
        return {
            "loudness_db": round(self.loudness_db, 2),
            "pitch_hz": None if self.pitch_st is None else round(100.0 * 2 ** (self.pitch_st / 12), 1),
            "pitch_range_st": round(self.pitch_range_st, 2),
            "voiced_s": round(self.voiced_s, 2),
        }


def measure(samples: npt.NDArray[np.int16] | npt.NDArray[np.float32], rate: int) -> Prosody | None:
    """The utterance's prosody, or None for audio too short or silent to say anything."""
    raw = np.asarray(samples)
    audio = raw.astype(np.float32) / 32768.0 if np.issubdtype(raw.dtype, np.integer) else raw.astype(np.float32)
    if rate > PITCH_RATE and rate % PITCH_RATE == 0:  # pitch needs no more than 8 kHz; YIN costs per sample
        from scipy.signal import resample_poly

        audio = resample_poly(audio, 1, rate // PITCH_RATE).astype(np.float32)
        rate = PITCH_RATE
    frame = max(16, round(FRAME_S * rate))
    hop = max(1, round(HOP_S * rate))
    if audio.size < frame * 2 or not np.any(audio):
        return None
    import librosa  # imported here: the rules-only analysis backend needs no audio stack

    frames = librosa.util.frame(np.pad(audio, (frame // 2, frame // 2)), frame_length=frame, hop_length=hop)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=0)) + 1e-9
    db = 20.0 * np.log10(rms)
    f0 = librosa.yin(audio, fmin=FMIN_HZ, fmax=FMAX_HZ, sr=rate, frame_length=frame, hop_length=hop, center=True)
    count = min(len(f0), len(db))
    f0, db = f0[:count], db[:count]
    loud = db >= db.max() - VOICED_DB
    in_band = (f0 > FMIN_HZ * 1.05) & (f0 < FMAX_HZ * 0.95)
    voiced = loud & in_band
    loudness = float(10.0 * np.log10(np.mean(10.0 ** (db[loud] / 10.0))))
    duration = audio.size / rate
    if int(voiced.sum()) < MIN_VOICED_FRAMES:
        return Prosody(loudness, None, 0.0, float(voiced.sum()) * HOP_S, duration)
    semitones = 12.0 * np.log2(f0[voiced] / 100.0)
    low, median, high = np.percentile(semitones, [10, 50, 90])
    return Prosody(loudness, float(median), float(high - low), float(voiced.sum()) * HOP_S, duration)


@dataclass(frozen=True, slots=True)
class ProsodyChange:
    """z-scores of one utterance against its speaker's baseline (0 where there is no baseline yet)."""

    loudness: float = 0.0
    pitch: float = 0.0
    pitch_range: float = 0.0
    rate: float = 0.0  # words per second against the speaker's own
    measured: bool = False

    def to_json(self) -> dict[str, float | bool]:
        return {
            "loudness_z": round(self.loudness, 2),
            "pitch_z": round(self.pitch, 2),
            "pitch_range_z": round(self.pitch_range, 2),
            "rate_z": round(self.rate, 2),
            "measured": self.measured,
        }


@dataclass
class _Running:
    """Welford's running mean and variance."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (value - self.mean)

    def z(self, value: float, floor: float) -> float:
        """How many (floored) standard deviations ``value`` lies from the mean."""
        spread = math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0
        return max(-MAX_Z, min(MAX_Z, (value - self.mean) / max(spread, floor)))


@dataclass
class ProsodyBaseline:
    """One speaker's voice so far in the call; ``change`` compares an utterance with it, then adds it."""

    _loudness: _Running = field(default_factory=_Running)
    _pitch: _Running = field(default_factory=_Running)
    _range: _Running = field(default_factory=_Running)
    _rate: _Running = field(default_factory=_Running)

    def change(self, prosody: Prosody | None, words_per_s: float | None) -> ProsodyChange:
        """The utterance against the baseline (before it joins it)."""
        found = ProsodyChange()
        if prosody is not None and self._loudness.n >= MIN_BASELINE:
            pitch = prosody.pitch_st
            found = ProsodyChange(
                self._loudness.z(prosody.loudness_db, 2.0),
                self._pitch.z(pitch, 1.0) if pitch is not None and self._pitch.n >= MIN_BASELINE else 0.0,
                self._range.z(prosody.pitch_range_st, 1.0) if self._range.n >= MIN_BASELINE else 0.0,
                self._rate.z(words_per_s, 0.4) if words_per_s is not None and self._rate.n >= MIN_BASELINE else 0.0,
                True,
            )
        if prosody is not None:
            self._loudness.add(prosody.loudness_db)
            if prosody.pitch_st is not None:
                self._pitch.add(prosody.pitch_st)
                self._range.add(prosody.pitch_range_st)
        if words_per_s is not None:
            self._rate.add(words_per_s)
        return found
