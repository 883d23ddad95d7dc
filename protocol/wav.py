"""WAV (RIFF/RF64) parsing, sans-I/O: one chunk walker for streamed audio and for whole files.

WAV reaches the server in two ways: streamed over `/ws/transcribe` (the header may arrive split
across frames, anywhere, even inside a size field) and as files (the client, the tests, the
benchmarks, HTTP uploads). Both go through `WavHeaderReader`, which walks the RIFF chunks as bytes
arrive, keeps only the `fmt ` (and RF64 `ds64`) bodies, skips every other chunk as it streams past,
and stops where the `data` chunk begins. `read_wav_bytes` is the same reader fed a whole file.
`decode_frames` turns the data into int16 samples shaped (frames, channels).

What the reader accepts (`WavFormat`): integer PCM of 8 (unsigned), 16, 24 and 32 bits, IEEE float of
32 and 64 bits, G.711 μ-law, and WAVE_FORMAT_EXTENSIBLE wrapping any of them; RIFF and RF64 (with the
`ds64` data size). A front door that takes less (the live dialect takes 16-bit PCM only) checks the
`WavFormat` it gets. Odd-sized chunks are padded to an even size; a writer that forgot the pad byte
is recognised when the next chunk id follows at once. A `data` size of 0 or 0xFFFFFFFF (writers that
cannot know it) means "to the end of the stream".

Errors are `WavError` (a `ValueError`): `unsupported` tells a format we cannot decode (a client
should send something else: 415) from a malformed header (400).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from protocol.audio import decode_ulaw

__all__ = [
    "MAX_FMT_CHUNK_BYTES",
    "MAX_WAV_HEADER_BYTES",
    "WAVE_FORMAT_EXTENSIBLE",
    "WAVE_FORMAT_IEEE_FLOAT",
    "WAVE_FORMAT_MULAW",
    "WAVE_FORMAT_PCM",
    "WavError",
    "WavFormat",
    "WavHeader",
    "WavHeaderReader",
    "decode_frames",
    "float_to_int16",
    "format_name",
    "parse_fmt_chunk",
    "read_wav_bytes",
]

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_MULAW = 0x0007
WAVE_FORMAT_EXTENSIBLE = 0xFFFE

MAX_WAV_HEADER_BYTES = 1 << 20  # a stream whose `data` chunk has not begun by then is refused
MAX_FMT_CHUNK_BYTES = 1024
UNKNOWN_SIZE = 0xFFFFFFFF  # streaming writers and RF64 put this in size fields they cannot fill in

# WAVE_FORMAT_EXTENSIBLE's sub-format GUID is {XXXXXXXX-0000-0010-8000-00AA00389B71}, where the first
# four bytes (little-endian) are the plain format code; these are the other twelve, as stored.
_KSDATAFORMAT_SUFFIX = b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_RIFF_MAGICS = (b"RIFF", b"RF64")

# Names for the format codes people are most likely to run into, for readable error messages.
_FORMAT_NAMES = {
    0x0000: "unknown",
    0x0001: "PCM",
    0x0002: "Microsoft ADPCM",
    0x0003: "IEEE float",
    0x0006: "G.711 A-law",
    0x0007: "G.711 mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0040: "G.721 ADPCM",
    0x0050: "MPEG",
    0x0055: "MPEG Layer 3",
    0xFFFE: "extensible",
}
_SUPPORTED = "1 (PCM 8/16/24/32-bit), 3 (IEEE float 32/64-bit), 7 (G.711 μ-law) and 0xFFFE (extensible) wrapping those"
# Sample container sizes (bytes) each format code can be decoded from.
_WIDTHS = {WAVE_FORMAT_PCM: (1, 2, 3, 4), WAVE_FORMAT_IEEE_FLOAT: (4, 8), WAVE_FORMAT_MULAW: (1,)}


class WavError(ValueError):
    """A WAV header we cannot use; `unsupported` when it is well formed but not a format we decode."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unsupported = unsupported


def format_name(code: int) -> str:
    """`7 (0x0007, G.711 mu-law)`: a format code as an error message names it."""
    name = _FORMAT_NAMES.get(code)
    return f"{code} (0x{code:04X}, {name})" if name else f"{code} (0x{code:04X})"


@dataclass(frozen=True)
class WavFormat:
    """What the `fmt ` chunk says, with WAVE_FORMAT_EXTENSIBLE already resolved to its sub-format."""

    format_code: int  # 1 PCM, 3 IEEE float, 7 μ-law (the sub-format's code for extensible files)
    channels: int
    rate: int
    sample_width: int  # bytes per sample in one channel (the container size)
    bits_per_sample: int
    extensible: bool = False
    declared_block_align: int = 0  # as written in the header (a strict reader may insist it is consistent)

    @property
    def block_align(self) -> int:
        """Bytes per frame (one sample on every channel)."""
        return self.sample_width * self.channels

    @property
    def name(self) -> str:
        return _FORMAT_NAMES.get(self.format_code, f"format 0x{self.format_code:04x}")


def parse_fmt_chunk(body: bytes) -> WavFormat:
    """The format of a `fmt ` chunk body; WavError for one we cannot decode or that is malformed."""
    if len(body) < 16:
        raise WavError(f"'fmt ' chunk is {len(body)} bytes, expected at least 16")
    code, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    extensible = code == WAVE_FORMAT_EXTENSIBLE
    if extensible:
        if len(body) < 40:
            raise WavError(f"WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is {len(body)} bytes, expected 40")
        guid = body[24:40]
        if guid[4:] != _KSDATAFORMAT_SUFFIX:
            raise WavError(f"unsupported WAVE_FORMAT_EXTENSIBLE sub-format GUID {guid.hex()}", unsupported=True)
        code = struct.unpack_from("<I", guid)[0]
    if code not in _WIDTHS:
        prefix = "extensible sub-format" if extensible else "format code"
        raise WavError(f"unsupported WAV {prefix} {format_name(code)}; supported: {_SUPPORTED}", unsupported=True)
    if channels == 0:
        raise WavError("'fmt ' chunk says 0 channels")
    if rate == 0:
        raise WavError("'fmt ' chunk says a sample rate of 0")
    # The container size comes from block_align when it is consistent (it covers 24-bit samples in
    # 32-bit containers and odd bit depths such as 12 or 20 bits); otherwise from the bit depth.
    width = block_align // channels if block_align and block_align % channels == 0 else (bits + 7) // 8
    if width not in _WIDTHS[code]:
        raise WavError(
            f"unsupported sample size for format {format_name(code)}: {bits} bits in {width}-byte samples",
            unsupported=True,
        )
    return WavFormat(code, channels, rate, width, bits, extensible, block_align)


@dataclass(frozen=True)
class WavHeader:
    """Where the audio begins: its format, the data chunk's size (None: to the end of the stream) and the
    first bytes of audio that arrived with the header."""

    format: WavFormat
    data_size: int | None
    first_audio: bytes


def _is_chunk_id(data: bytes | bytearray) -> bool:
    """Chunk ids are four printable ASCII characters."""
    return len(data) == 4 and all(32 <= byte < 127 for byte in data)


@dataclass
class WavHeaderReader:
    """Walks a WAV header incrementally: `feed` bytes as they come until it returns the `WavHeader`.

    Only the `fmt ` and `ds64` chunk bodies are buffered; other chunks are skipped as they stream past.
    WavError for a stream that is not WAV, a malformed header, or one with no `data` chunk within
    `max_header_bytes`; `finish()` says what is wrong with a stream that ended before its audio.
    """

    max_header_bytes: int = MAX_WAV_HEADER_BYTES
    _buffer: bytearray = field(default_factory=bytearray, repr=False)
    _skip: int = 0  # bytes of a skipped chunk still to come
    _pad_pending: bool = False  # the skipped chunk was odd-sized: a pad byte may follow
    _fed: int = 0
    _riff_seen: bool = False
    _format: WavFormat | None = None
    _rf64_data_size: int | None = None

    @property
    def bytes_fed(self) -> int:
        return self._fed

    def feed(self, data: bytes) -> WavHeader | None:
        self._fed += len(data)
        self._buffer += data
        header = self._walk(final=False)
        if header is None and self._fed > self.max_header_bytes:
            raise WavError(f"no 'data' chunk in the first {self.max_header_bytes} bytes")
        return header

    def finish(self) -> WavHeader:
        """The stream ended: its header if the data chunk began, else WavError saying what was missing."""
        header = self._walk(final=True)
        if header is not None:
            return header
        if not self._riff_seen:
            raise WavError(f"not a WAV file (expected a RIFF/WAVE header, found {bytes(self._buffer[:12])!r})")
        if self._format is None:
            raise WavError("WAV file has no 'fmt ' chunk")
        raise WavError("WAV file has no 'data' chunk")

    def _walk(self, final: bool) -> WavHeader | None:
        buf = self._buffer
        while True:
            if self._skip:
                skipped = min(self._skip, len(buf))
                del buf[:skipped]
                self._skip -= skipped
                if self._skip:
                    return None
            if self._pad_pending:
                # A pad byte follows an odd-sized chunk, unless the writer forgot it: then a non-zero
                # byte that starts a chunk id is the next chunk, not padding.
                if len(buf) < 5 and not final:
                    return None
                self._pad_pending = False
                if buf[:1] == b"\0" or not _is_chunk_id(buf[:4]):
                    del buf[:1]
            if not self._riff_seen:
                if len(buf) < 12:
                    return None
                self._check_riff(bytes(buf[:12]))
                self._riff_seen = True
                del buf[:12]
            if len(buf) < 8:
                return None
            chunk_id = bytes(buf[:4])
            size: int = struct.unpack_from("<I", buf, 4)[0]
            if chunk_id == b"data":
                if self._format is None:
                    raise WavError("'data' chunk before the 'fmt ' chunk (no 'fmt ' chunk precedes the audio)")
                rest = bytes(buf[8:])
                buf.clear()
                if size == UNKNOWN_SIZE and self._rf64_data_size is not None:
                    size = self._rf64_data_size
                return WavHeader(self._format, None if size in (0, UNKNOWN_SIZE) else size, rest)
            if chunk_id == b"fmt " and size > MAX_FMT_CHUNK_BYTES:
                raise WavError(f"'fmt ' chunk of {size} bytes (at most {MAX_FMT_CHUNK_BYTES})")
            if chunk_id == b"fmt " or (chunk_id == b"ds64" and 16 <= size <= MAX_FMT_CHUNK_BYTES):
                if len(buf) < 8 + size:
                    return None
                body = bytes(buf[8 : 8 + size])
                if chunk_id == b"ds64":
                    self._rf64_data_size = struct.unpack_from("<Q", body, 8)[0]
                elif self._format is None:
                    self._format = parse_fmt_chunk(body)
                del buf[: 8 + size]
            else:
                del buf[:8]
                self._skip = size
            self._pad_pending = bool(size & 1)

    @staticmethod
    def _check_riff(head: bytes) -> None:
        if head[:4] == b"RIFX":
            raise WavError("big-endian WAV (RIFX) is not supported", unsupported=True)
        if head[:4] not in _RIFF_MAGICS:
            raise WavError(f"not a WAV file (expected a RIFF/WAVE header, found {head!r})")
        if head[8:12] != b"WAVE":
            form = head[8:12].decode("latin-1")
            raise WavError(f"not a WAV file: a RIFF stream of form {form!r} is not WAV audio", unsupported=True)


def read_wav_bytes(raw: bytes) -> tuple[WavFormat, bytes]:
    """A whole WAV file: its format and the audio bytes, cut to whole frames (a data chunk cut short,
    as by a recording still being written, is read as far as it goes)."""
    reader = WavHeaderReader(max_header_bytes=len(raw) + 1)
    header = reader.feed(raw) or reader.finish()
    data = header.first_audio if header.data_size is None else header.first_audio[: header.data_size]
    usable = len(data) - len(data) % header.format.block_align
    return header.format, data[:usable]


def float_to_int16(samples: npt.NDArray[np.floating]) -> npt.NDArray[np.int16]:
    """Float samples in [-1, 1] to int16 (x * 32768, rounded, clipped; NaN becomes 0).

    The scale is the inverse of the usual int16 / 32768, so int16 → float → int16 is exact.
    """
    scaled = np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0, posinf=1.0, neginf=-1.0) * 32768.0
    return np.clip(np.rint(scaled), -32768, 32767).astype(np.int16)


def decode_frames(fmt: WavFormat, data: bytes) -> npt.NDArray[np.int16]:
    """Decode interleaved sample bytes (whole frames) into int16 shaped (frames, channels)."""
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
