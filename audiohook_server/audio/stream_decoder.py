"""Decoding an upload while it is still arriving: any container FFmpeg reads, into 16 kHz PCM16.

Browsers' `MediaRecorder` produces WebM/Opus (Chrome, Firefox) or MP4 (Safari); softphones send WAV
or raw PCM; people upload MP3 and Ogg/Opus. PyAV (FFmpeg's demuxers and decoders, already installed
with faster-whisper) reads them from a growing stream: `StreamDecoder` runs one decoder thread per
upload, fed through `GrowingBuffer` (whose `read` waits for more bytes until the upload is finished),
and hands out int16 samples shaped (frames, channels) at 16 kHz, mono or stereo as the source was
(more channels are downmixed). Raw PCM16 16 kHz mono (`.pcm`, `.raw`, no container) needs no decoder.

Some files cannot be decoded before they are complete: an MP4 whose index (`moov`) is at its end, for
one. When FFmpeg cannot start on the growing stream, the decoder says so (`waits_for_complete_file`),
and the caller decodes the whole file once it is finalized (`decode_file`). Bytes that are not audio
at all end in `MediaError` with a message for the client.

The container is told from the first bytes (magic numbers); FFmpeg probes the rest. The client's suffix
only decides for headerless PCM (`.pcm`, `.raw`), which has no magic to tell it by.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

__all__ = [
    "OUTPUT_RATE",
    "GrowingBuffer",
    "MediaError",
    "StreamDecoder",
    "container_of",
    "decode_file",
]

log = logging.getLogger(__name__)

OUTPUT_RATE = 16000
# FFmpeg may read on and on into bytes it cannot make sense of (it waits for more of a stream that
# is still growing): this much of an upload with no audio out of it is not audio.
MAX_BYTES_WITHOUT_AUDIO = 2 << 20
RAW_SUFFIXES = (".pcm", ".raw", ".s16", ".s16le", ".l16")
# What FFmpeg needs to read before it can start (kept small: a live upload comes 64 KiB at a time).
_OPEN_OPTIONS = {"probesize": "32768", "analyzeduration": "0", "fpsprobesize": "0"}


class MediaError(Exception):
    """The upload is not audio we can decode; the message is for the client."""


def container_of(head: bytes, suffix: str) -> str | None:
    """The FFmpeg demuxer for an upload from its first bytes, else its suffix: `raw` for headerless PCM16,
    None to let FFmpeg probe."""
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2):
        return "mp3"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"  # ADTS
    if suffix.lower() in RAW_SUFFIXES:
        return "raw"
    return None  # FFmpeg probes the content (a wrong suffix must not make text look like MP3)


class GrowingBuffer(io.RawIOBase):
    """A read-only stream over bytes that are still arriving: `read` waits until it has some, or until
    `finish()` (then it returns what is left, and b"" at the end), or `abort()`."""

    def __init__(self) -> None:
        super().__init__()
        self._data = bytearray()
        self._position = 0
        self._finished = False
        self._aborted = False
        self._consumed = 0
        self.audio_seen = False  # set by the decoder once audio came out
        self._ready = threading.Condition()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def feed(self, data: bytes) -> None:
        with self._ready:
            self._data += data
            self._ready.notify_all()

    def finish(self) -> None:
        with self._ready:
            self._finished = True
            self._ready.notify_all()

    def abort(self) -> None:
        with self._ready:
            self._aborted = True
            self._ready.notify_all()

    def peek(self, size: int = 4096) -> bytes:
        """The first bytes, once there are `size` of them (or the upload is complete)."""
        with self._ready:
            while len(self._data) < size and not (self._finished or self._aborted):
                self._ready.wait()
            return bytes(self._data[:size])

    def readinto(self, target: Any) -> int:
        view = memoryview(target).cast("B")
        with self._ready:
            while self._position >= len(self._data) and not (self._finished or self._aborted):
                self._ready.wait()
            if self._aborted:
                raise MediaError("the upload was cancelled")
            if not self.audio_seen and self._consumed > MAX_BYTES_WITHOUT_AUDIO:
                raise MediaError(f"no audio found in the first {MAX_BYTES_WITHOUT_AUDIO >> 20} MiB of the upload")
            n = min(len(view), len(self._data) - self._position)
            self._consumed += n
            view[:n] = self._data[self._position : self._position + n]
            self._position += n
            # What FFmpeg has read is not needed again (the upload is kept on disk by the caller).
            if self._position > 1 << 20:
                del self._data[: self._position]
                self._position = 0
            return n


def _looks_like_text(head: bytes) -> bool:
    """Mostly printable ASCII (and line ends): a document or a log, not audio (which is binary)."""
    if len(head) < 256:
        return False
    printable = sum(1 for byte in head if 32 <= byte < 127 or byte in (9, 10, 13))
    return printable / len(head) > 0.97


def _layout(channels: int) -> tuple[str, int]:
    return ("stereo", 2) if channels == 2 else ("mono", 1)


def _frames(container: Any, deliver: Callable[[npt.NDArray[np.int16]], None]) -> None:
    """Decode the first audio stream of an open container, delivering 16 kHz int16 (frames, channels)."""
    streams = container.streams.audio
    if not streams:
        raise MediaError("the upload holds no audio stream")
    stream = streams[0]
    layout, channels = _layout(stream.codec_context.channels or 1)
    resampler = av.AudioResampler(format="s16", layout=layout, rate=OUTPUT_RATE)
    for packet in container.demux(stream):
        for frame in packet.decode():
            for out in resampler.resample(frame):
                deliver(_samples(out, channels))
    for out in resampler.resample(None):
        deliver(_samples(out, channels))


def _samples(frame: Any, channels: int) -> npt.NDArray[np.int16]:
    array = frame.to_ndarray()  # packed s16: shape (1, frames * channels)
    return np.ascontiguousarray(array.reshape(-1, channels).astype(np.int16, copy=False))


def _describe(error: Exception) -> str:
    text = str(error).split(":")[0] if isinstance(error, av.error.FFmpegError) else str(error)
    return text[:200] or type(error).__name__


def decode_file(path: Path, container: str | None, deliver: Callable[[npt.NDArray[np.int16]], None]) -> None:
    """Decode a whole file (seekable: MP4 with its index at the end works); MediaError if it is not audio."""
    if container == "raw":
        raw = path.read_bytes()
        usable = len(raw) - len(raw) % 2
        if usable:
            deliver(np.frombuffer(raw[:usable], dtype="<i2").astype(np.int16).reshape(-1, 1))
        return
    try:
        with av.open(str(path), "r", format=container) as opened:
            _frames(opened, deliver)
    except MediaError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise MediaError(f"the upload is not audio we can decode ({_describe(exc)})") from exc


def _raw_pcm(source: GrowingBuffer, deliver: Callable[[npt.NDArray[np.int16]], None]) -> None:
    """Headerless PCM16 16 kHz mono: bytes to samples, an odd byte kept for the next read."""
    carry = b""
    while data := source.read(1 << 16):
        buffer = carry + data
        usable = len(buffer) - len(buffer) % 2
        carry = buffer[usable:]
        if usable:
            deliver(np.frombuffer(buffer[:usable], dtype="<i2").astype(np.int16).reshape(-1, 1))


class StreamDecoder:
    """One upload's decoder thread. `deliver` is called from that thread with each block of samples
    (it may block: that is the decoder's backpressure); `failed` with a `MediaError`, `finished` at the
    end of the stream. Container `None` lets FFmpeg probe."""

    def __init__(
        self,
        container: str | None,
        deliver: Callable[[npt.NDArray[np.int16]], None],
        finished: Callable[[MediaError | None], None],
        name: str = "decoder",
    ) -> None:
        self.container = container
        self._deliver = deliver
        self._finished = finished
        self._buffer = GrowingBuffer()
        self.waits_for_complete_file = False  # FFmpeg could not start on the growing stream
        self.aborted = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def feed(self, data: bytes) -> None:
        self._buffer.feed(data)

    def finish(self) -> None:
        """The upload is complete."""
        self._buffer.finish()

    def abort(self) -> None:
        self.aborted = True
        self._buffer.abort()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        error: MediaError | None = None
        delivered = False

        def deliver(samples: npt.NDArray[np.int16]) -> None:
            nonlocal delivered
            delivered = self._buffer.audio_seen = True
            self._deliver(samples)

        try:
            if self.container is None and _looks_like_text(self._buffer.peek()):
                raise MediaError("the upload looks like text, not audio")
            if self.container == "raw":
                _raw_pcm(self._buffer, deliver)
            else:
                with av.open(self._buffer, "r", format=self.container, options=_OPEN_OPTIONS) as opened:
                    _frames(opened, deliver)
        except MediaError as exc:
            error = None if self.aborted else exc
        except (av.error.FFmpegError, ValueError, OSError, EOFError) as exc:
            if self.aborted:
                pass
            elif not delivered and self.container == "mp4":
                self.waits_for_complete_file = True  # its index may be at the end: decode it once complete
            elif not delivered:
                error = MediaError(f"the upload is not audio we can decode ({_describe(exc)})")
            else:
                log.warning("decoding stopped early: %s", _describe(exc))
        self._finished(error)
