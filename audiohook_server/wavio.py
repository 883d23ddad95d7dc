"""WAV files in and out, for the command-line client, the tests and the benchmarks.

Test calls and recordings come as WAV files in whatever shape the tool that made them chose:
telephone captures are 8 kHz G.711 μ-law, editors export 32-bit float, recorders write
WAVE_FORMAT_EXTENSIBLE, and speech corpora are 16 kHz PCM16. The stdlib `wave` module reads only
integer PCM, so `read_wav` parses the RIFF chunks itself and turns every supported encoding into
int16 samples shaped (frames, channels). `to_mono_16k` then gives the simple dialect's wire format
(PCM16, 16 kHz, mono), resampling with soxr.

Supported encodings: integer PCM 8 (unsigned), 16, 24 and 32 bit; IEEE float 32 and 64 bit;
G.711 μ-law; and WAVE_FORMAT_EXTENSIBLE wrapping any of them. RF64 files are read too. A data
chunk cut short (a recording that was still being written) is read as far as it goes.
"""

from __future__ import annotations

import os
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

from protocol.audio import decode_ulaw

__all__ = [
    "WAVE_FORMAT_EXTENSIBLE",
    "WAVE_FORMAT_IEEE_FLOAT",
    "WAVE_FORMAT_MULAW",
    "WAVE_FORMAT_PCM",
    "WavFormat",
    "float_to_int16",
    "read_wav",
    "read_wav_format",
    "resample",
    "to_mono_16k",
    "write_wav",
]

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_MULAW = 0x0007
WAVE_FORMAT_EXTENSIBLE = 0xFFFE

TARGET_RATE = 16000

# WAVE_FORMAT_EXTENSIBLE's sub-format GUID is {XXXXXXXX-0000-0010-8000-00AA00389B71}, where the first
# four bytes (little-endian) are the plain format code; these are the other twelve, as stored.
_KSDATAFORMAT_SUFFIX = b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_UNKNOWN_SIZE = 0xFFFFFFFF  # streaming writers and RF64 put this in size fields they cannot fill in

# Names for the format codes people are most likely to run into, for readable error messages.
_FORMAT_NAMES = {
    0x0000: "unknown",
    0x0001: "PCM",
    0x0002: "Microsoft ADPCM",
    0x0003: "IEEE float",
    0x0006: "G.711 A-law",
    0x0007: "G.711 μ-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0040: "G.721 ADPCM",
    0x0050: "MPEG",
    0x0055: "MPEG Layer 3",
    0xFFFE: "extensible",
}
_SUPPORTED = "1 (PCM 8/16/24/32-bit), 3 (IEEE float 32/64-bit), 7 (G.711 μ-law) and 0xFFFE (extensible) wrapping those"


@dataclass(frozen=True)
class WavFormat:
    """What the `fmt ` chunk says, with WAVE_FORMAT_EXTENSIBLE already resolved to its sub-format."""

    format_code: int  # 1 PCM, 3 IEEE float, 7 μ-law (the sub-format's code for extensible files)
    channels: int
    rate: int
    sample_width: int  # bytes per sample in one channel (the container size)
    bits_per_sample: int
    extensible: bool = False

    @property
    def block_align(self) -> int:
        """Bytes per frame (one sample on every channel)."""
        return self.sample_width * self.channels


def _format_name(code: int) -> str:
    name = _FORMAT_NAMES.get(code)
    return f"{code} (0x{code:04X}, {name})" if name else f"{code} (0x{code:04X})"


def _is_chunk_id(data: bytes) -> bool:
    """Chunk ids are four printable ASCII characters."""
    return len(data) == 4 and all(32 <= byte < 127 for byte in data)


def _parse_fmt(body: bytes, where: str) -> WavFormat:
    if len(body) < 16:
        raise ValueError(f"{where}: 'fmt ' chunk is {len(body)} bytes, expected at least 16")
    code, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    extensible = code == WAVE_FORMAT_EXTENSIBLE
    if extensible:
        if len(body) < 40:
            raise ValueError(f"{where}: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is {len(body)} bytes, expected 40")
        guid = body[24:40]
        if guid[4:] != _KSDATAFORMAT_SUFFIX:
            raise ValueError(f"{where}: unsupported WAVE_FORMAT_EXTENSIBLE sub-format GUID {guid.hex()}")
        code = struct.unpack_from("<I", guid)[0]
    if code not in (WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT, WAVE_FORMAT_MULAW):
        prefix = "extensible sub-format" if extensible else "format code"
        raise ValueError(f"{where}: unsupported WAV {prefix} {_format_name(code)}; supported: {_SUPPORTED}")
    if channels == 0:
        raise ValueError(f"{where}: 'fmt ' chunk says 0 channels")
    if rate == 0:
        raise ValueError(f"{where}: 'fmt ' chunk says a sample rate of 0")
    # The container size comes from block_align when it is consistent (it covers 24-bit samples in
    # 32-bit containers and odd bit depths such as 12 or 20 bits); otherwise from the bit depth.
    width = block_align // channels if block_align and block_align % channels == 0 else (bits + 7) // 8
    allowed = {WAVE_FORMAT_PCM: (1, 2, 3, 4), WAVE_FORMAT_IEEE_FLOAT: (4, 8), WAVE_FORMAT_MULAW: (1,)}[code]
    if width not in allowed:
        raise ValueError(
            f"{where}: unsupported sample size for format {_format_name(code)}: {bits} bits in {width}-byte samples"
        )
    return WavFormat(
        format_code=code,
        channels=channels,
        rate=rate,
        sample_width=width,
        bits_per_sample=bits,
        extensible=extensible,
    )


def _parse_riff(raw: bytes, where: str) -> tuple[WavFormat, bytes]:
    """Walk the RIFF chunks: the `fmt ` chunk and the first `data` chunk (cut to whole frames)."""
    if len(raw) < 12 or raw[8:12] != b"WAVE" or raw[:4] not in (b"RIFF", b"RF64", b"RIFX"):
        head = raw[:12]
        raise ValueError(f"{where}: not a WAV file (expected a RIFF/WAVE header, found {head!r})")
    if raw[:4] == b"RIFX":
        raise ValueError(f"{where}: big-endian WAV (RIFX) is not supported")

    fmt: WavFormat | None = None
    data: bytes | None = None
    rf64_data_size: int | None = None
    pos = 12
    while pos + 8 <= len(raw):
        chunk_id = raw[pos : pos + 4]
        size = struct.unpack_from("<I", raw, pos + 4)[0]
        start = pos + 8
        if chunk_id == b"ds64" and size >= 16:
            rf64_data_size = struct.unpack_from("<Q", raw, start + 8)[0] if start + 16 <= len(raw) else None
        elif chunk_id == b"fmt " and fmt is None:
            fmt = _parse_fmt(raw[start : start + size], where)
        elif chunk_id == b"data" and data is None:
            if size == _UNKNOWN_SIZE:
                size = rf64_data_size if rf64_data_size is not None else len(raw) - start
            data = raw[start : start + size]  # a truncated chunk is read as far as it goes
        if size == _UNKNOWN_SIZE:
            break
        next_pos = start + size
        if size & 1:
            # Chunks are padded to an even size with a zero byte. Some writers forget it: a non-zero
            # byte there that starts a chunk id is the next chunk, not padding.
            forgot_pad = raw[next_pos : next_pos + 1] != b"\0" and _is_chunk_id(raw[next_pos : next_pos + 4])
            if not forgot_pad:
                next_pos += 1
        pos = next_pos

    if fmt is None:
        raise ValueError(f"{where}: WAV file has no 'fmt ' chunk")
    if data is None:
        raise ValueError(f"{where}: WAV file has no 'data' chunk")
    usable = len(data) - len(data) % fmt.block_align
    return fmt, data[:usable]


def _decode(fmt: WavFormat, data: bytes) -> npt.NDArray[np.int16]:
    """Decode interleaved sample bytes into int16 shaped (frames, channels)."""
    width = fmt.sample_width
    samples: npt.NDArray[np.int16]
    if fmt.format_code == WAVE_FORMAT_MULAW:
        samples = decode_ulaw(data)
    elif fmt.format_code == WAVE_FORMAT_IEEE_FLOAT:
        floats = np.frombuffer(data, dtype="<f4" if width == 4 else "<f8")
        samples = float_to_int16(floats)
    elif width == 1:  # 8-bit PCM is unsigned, 128 is silence
        samples = ((np.frombuffer(data, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    elif width == 2:
        samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
    elif width == 3:
        # Keep the two most significant bytes of each little-endian 24-bit sample.
        triplets = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3)
        samples = (triplets[:, 1].astype(np.uint16) | (triplets[:, 2].astype(np.uint16) << 8)).view(np.int16)
    else:  # width == 4
        samples = (np.frombuffer(data, dtype="<i4") >> 16).astype(np.int16)
    return np.ascontiguousarray(samples.reshape(-1, fmt.channels))


def float_to_int16(samples: npt.NDArray[np.floating]) -> npt.NDArray[np.int16]:
    """Float samples in [-1, 1] to int16 (x * 32768, rounded, clipped; NaN becomes 0).

    The scale is the inverse of the usual int16 / 32768, so int16 → float → int16 is exact.
    """
    scaled = np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0, posinf=1.0, neginf=-1.0) * 32768.0
    return np.clip(np.rint(scaled), -32768, 32767).astype(np.int16)


def read_wav_format(path: str | os.PathLike[str]) -> WavFormat:
    """The format of a WAV file, without decoding its samples."""
    return _parse_riff(Path(path).read_bytes(), str(path))[0]


def read_wav(path: str | os.PathLike[str]) -> tuple[npt.NDArray[np.int16], int]:
    """Read a WAV file: (int16 samples shaped (frames, channels), sample rate).

    Raises `ValueError` for files that are not WAV or use an unsupported encoding (the message names
    the format code) and `OSError` when the file cannot be read.
    """
    fmt, data = _parse_riff(Path(path).read_bytes(), str(path))
    return _decode(fmt, data), fmt.rate


def resample(samples: npt.NDArray[np.integer], from_rate: int, to_rate: int) -> npt.NDArray[np.int16]:
    """Resample int16 audio (1-D, or (frames, channels)) with soxr's high-quality filter, clipping to int16."""
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    array = np.asarray(samples)
    if array.ndim not in (1, 2):
        raise ValueError(f"expected 1-D or (frames, channels) samples, got shape {array.shape}")
    if from_rate == to_rate:
        return array.astype(np.int16, copy=True)
    if array.shape[0] == 0:
        return np.zeros((0, *array.shape[1:]), dtype=np.int16)
    return _resample_float(array.astype(np.float32), from_rate, to_rate)


def _resample_float(samples: npt.NDArray[np.float32], from_rate: int, to_rate: int) -> npt.NDArray[np.int16]:
    """Resample float samples in the int16 scale and quantize once, with clipping."""
    if from_rate != to_rate and samples.shape[0]:
        samples = np.asarray(soxr.resample(samples, from_rate, to_rate, quality="HQ"), dtype=np.float32)
    return np.clip(np.rint(samples), -32768, 32767).astype(np.int16)


def to_mono_16k(samples: npt.NDArray[np.integer], rate: int) -> npt.NDArray[np.int16]:
    """Downmix to mono (mean of the channels) and resample to 16 kHz: the simple dialect's wire format."""
    array = np.asarray(samples)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"expected 1-D or (frames, channels) samples, got shape {np.asarray(samples).shape}")
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    if array.shape[1] == 1 and rate == TARGET_RATE:
        return array[:, 0].astype(np.int16, copy=True)
    mono = array.astype(np.float32).mean(axis=1, dtype=np.float32)
    return _resample_float(mono, rate, TARGET_RATE)


def write_wav(path: str | os.PathLike[str], samples: npt.NDArray[np.int16], rate: int) -> None:
    """Write int16 samples (1-D for mono, or (frames, channels)) as a PCM16 WAV file."""
    array = np.asarray(samples)
    if array.dtype != np.int16:
        raise TypeError(f"write_wav expects int16 samples, got {array.dtype}")
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"expected 1-D or (frames, channels) samples, got shape {np.asarray(samples).shape}")
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    with wave.open(os.fspath(path), "wb") as out:
        out.setnchannels(array.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.ascontiguousarray(array, dtype="<i2").tobytes())
