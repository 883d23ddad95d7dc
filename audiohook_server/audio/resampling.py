"""Resampling and downmixing, in one place: Whisper's 16 kHz input, the simple dialect's wire format.

Telephone audio arrives at 8 kHz and client WAVs at any rate; Whisper takes float32 at 16 kHz and the
simple dialect PCM16 16 kHz mono. Every conversion goes through soxr's high-quality filter (a
maintained resampler with good anti-aliasing; `scipy.signal.resample` rings and `numpy.interp`
aliases), on floats, quantizing to int16 once at the end with clipping.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

__all__ = ["WHISPER_RATE", "as_frames", "resample", "resample_float", "to_mono_16k", "to_whisper_audio"]

WHISPER_RATE = 16000


def resample_float(samples: npt.NDArray[np.float32], from_rate: int, to_rate: int) -> npt.NDArray[np.float32]:
    """Resample float samples (1-D or (frames, channels)); unchanged when the rates are equal."""
    if from_rate == to_rate or not samples.shape[0]:
        return samples
    return np.asarray(soxr.resample(samples, from_rate, to_rate, quality="HQ"), dtype=np.float32)


def _quantize(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    return np.clip(np.rint(samples), -32768, 32767).astype(np.int16)


def resample(samples: npt.NDArray[np.integer], from_rate: int, to_rate: int) -> npt.NDArray[np.int16]:
    """Resample int16 audio (1-D, or (frames, channels)), clipping to int16."""
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    array = np.asarray(samples)
    if array.ndim not in (1, 2):
        raise ValueError(f"expected 1-D or (frames, channels) samples, got shape {array.shape}")
    if from_rate == to_rate:
        return array.astype(np.int16, copy=True)
    if array.shape[0] == 0:
        return np.zeros((0, *array.shape[1:]), dtype=np.int16)
    return _quantize(resample_float(array.astype(np.float32), from_rate, to_rate))


def as_frames(samples: npt.NDArray[Any], rate: int) -> npt.NDArray[Any]:
    """Samples as (frames, channels): 1-D is mono; ValueError for any other shape or a rate <= 0."""
    array = np.asarray(samples)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"expected 1-D or (frames, channels) samples, got shape {np.asarray(samples).shape}")
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    return array


def to_mono_16k(samples: npt.NDArray[np.integer], rate: int) -> npt.NDArray[np.int16]:
    """Downmix to mono (mean of the channels) and resample to 16 kHz: the simple dialect's wire format."""
    array = as_frames(samples, rate)
    if array.shape[1] == 1 and rate == WHISPER_RATE:
        return array[:, 0].astype(np.int16, copy=True)
    mono = array.astype(np.float32).mean(axis=1, dtype=np.float32)
    return _quantize(resample_float(mono, rate, WHISPER_RATE))


def to_whisper_audio(samples: npt.NDArray[np.int16], rate: int) -> npt.NDArray[np.float32]:
    """int16 at any rate → float32 in [-1, 1) at 16 kHz, the only input Whisper takes."""
    return resample_float(samples.astype(np.float32) / 32768.0, rate, WHISPER_RATE)
