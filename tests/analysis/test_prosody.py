"""analysis.prosody on signals whose loudness and pitch are known (a synthetic voiced tone: the unit of
logic above librosa's YIN, which is the real part and runs here)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from analysis.prosody import MIN_BASELINE, ProsodyBaseline, measure

RATE = 16000


def _voice(f0: float, seconds: float = 1.5, amplitude: float = 0.3) -> npt.NDArray[np.float32]:
    """A vowel-like tone: the fundamental and a few harmonics."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave: npt.NDArray[np.float64] = np.sum([np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 5)], axis=0)
    peak = float(np.max(np.abs(wave)))
    return np.asarray(amplitude * wave / peak, dtype=np.float32)


def _semitones(hz: float) -> float:
    return 12 * math.log2(hz / 100.0)


def test_pitch_and_loudness_of_a_known_tone() -> None:
    low = measure(_voice(120.0), RATE)
    high = measure(_voice(220.0), RATE)
    quiet = measure(_voice(120.0, amplitude=0.03), RATE)
    assert low is not None and high is not None and quiet is not None
    assert low.pitch_st is not None and high.pitch_st is not None
    assert abs(low.pitch_st - _semitones(120.0)) < 0.5
    assert abs(high.pitch_st - _semitones(220.0)) < 0.5
    assert abs(low.loudness_db - quiet.loudness_db - 20.0) < 1.0  # a tenth of the amplitude: 20 dB down
    assert low.voiced_s > 1.0 and math.isclose(low.duration_s, 1.5, abs_tol=0.01)
    assert abs(float(low.to_json()["pitch_hz"] or 0) - 120.0) < 4


def test_int16_samples_and_silence() -> None:
    pcm = (_voice(150.0) * 32767).astype(np.int16)
    found = measure(pcm, RATE)
    assert found is not None and found.pitch_st is not None and abs(found.pitch_st - _semitones(150.0)) < 0.5
    silent = measure(np.zeros(RATE, dtype=np.int16), RATE)
    assert silent is None or silent.pitch_st is None
    assert measure(np.zeros(0, dtype=np.int16), RATE) is None


def test_changes_are_measured_against_the_speakers_own_baseline() -> None:
    baseline = ProsodyBaseline()
    first = baseline.change(measure(_voice(120.0, amplitude=0.1), RATE), 2.5)
    assert not first.measured  # no baseline yet
    for f0 in (118.0, 122.0, 121.0)[: MIN_BASELINE + 1]:
        baseline.change(measure(_voice(f0, amplitude=0.1), RATE), 2.5)
    raised = baseline.change(measure(_voice(200.0, amplitude=0.4), RATE), 3.5)
    assert raised.measured and raised.loudness > 1.0 and raised.pitch > 1.0 and raised.rate > 0
    assert set(raised.to_json()) == {"loudness_z", "pitch_z", "pitch_range_z", "rate_z", "measured"}
