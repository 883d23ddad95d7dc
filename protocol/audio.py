"""Audio codecs: the media formats a client may offer, and decoding binary frames into samples.

A binary frame holds interleaved samples in the order of the selected channels. Frames have no
fixed length and may even split a sample (an odd byte count for PCM16), so `AudioDecoder` carries
the incomplete tail over to the next frame instead of dropping or misaligning it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from protocol.errors import CLOSE_UNSUPPORTED_DATA, ProtocolError

SUPPORTED_RATES = (8000, 16000)
# Bytes per sample for each encoding.
SAMPLE_WIDTH = {"L16": 2, "PCMU": 1}


def _ulaw_table() -> npt.NDArray[np.int16]:
    """G.711 μ-law → linear PCM16 lookup table (ITU-T G.711, the same as audioop.ulaw2lin)."""
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


_ULAW_TO_PCM16 = _ulaw_table()


def decode_ulaw(data: bytes) -> npt.NDArray[np.int16]:
    """Decode μ-law bytes to PCM16 samples (vectorized table lookup)."""
    return _ULAW_TO_PCM16[np.frombuffer(data, dtype=np.uint8)]


@dataclass(frozen=True)
class MediaFormat:
    """The audio format of a session: encoding, sample rate and the channel names in frame order."""

    encoding: str = "L16"  # "L16" (PCM16 little-endian) or "PCMU" (G.711 μ-law)
    rate: int = 16000
    channels: tuple[str, ...] = ("mono",)

    @property
    def bytes_per_frame(self) -> int:
        """Bytes for one sample on every channel."""
        return SAMPLE_WIDTH[self.encoding] * len(self.channels)

    def offer(self) -> dict[str, Any]:
        """The media entry echoed back in `opened` (the simple dialect's shape)."""
        return {
            "type": "audio",
            "codec": "audio/pcm" if self.encoding == "L16" else "audio/pcmu",
            "format": self.encoding,
            "rate": self.rate,
            "channels": list(self.channels),
        }


SIMPLE_DEFAULT_MEDIA = MediaFormat()


def media_from_offer(offer: Any) -> MediaFormat:
    """Interpret one media offer; raise `ProtocolError` 415 when it is not something we can decode.

    Accepts the simple dialect's `{"type": "audio", "codec": "audio/pcm"}` (PCM16, 16 kHz, mono unless
    said otherwise) and Genesys-style `{"type": "audio", "format": "PCMU"|"L16", "rate": 8000,
    "channels": [...]}`.
    """
    if not isinstance(offer, dict):
        raise ProtocolError(400, f"a media offer must be an object, got {type(offer).__name__}")
    if offer.get("type", "audio") != "audio":
        raise ProtocolError(415, f"unsupported media type {offer.get('type')!r}", CLOSE_UNSUPPORTED_DATA)

    codec = offer.get("format", offer.get("codec", "audio/pcm"))
    if not isinstance(codec, str):
        raise ProtocolError(400, "media 'codec'/'format' must be a string")
    normalized = codec.lower().removeprefix("audio/")
    if normalized in {"pcm", "l16", "pcm16", "s16le", "linear16"}:
        encoding = "L16"
    elif normalized in {"pcmu", "ulaw", "mulaw", "basic"}:
        encoding = "PCMU"
    else:
        raise ProtocolError(
            415, f"unsupported audio codec {codec!r} (supported: audio/pcm, L16, PCMU)", CLOSE_UNSUPPORTED_DATA
        )

    rate = offer.get("rate", 16000 if encoding == "L16" else 8000)
    if not isinstance(rate, int) or isinstance(rate, bool):
        raise ProtocolError(400, f"media 'rate' must be an integer, got {rate!r}")
    if rate not in SUPPORTED_RATES:
        raise ProtocolError(
            415, f"unsupported sample rate {rate} (supported: {SUPPORTED_RATES})", CLOSE_UNSUPPORTED_DATA
        )

    channels_field = offer.get("channels", ["mono"])
    if isinstance(channels_field, int) and not isinstance(channels_field, bool):
        channels = tuple(f"channel{i}" for i in range(channels_field)) if channels_field != 1 else ("mono",)
    elif isinstance(channels_field, list) and all(isinstance(c, str) for c in channels_field):
        channels = tuple(channels_field)
    else:
        raise ProtocolError(400, "media 'channels' must be a list of channel names or a count")
    if not 1 <= len(channels) <= 2:
        raise ProtocolError(415, f"unsupported channel count {len(channels)} (1 or 2)", CLOSE_UNSUPPORTED_DATA)
    return MediaFormat(encoding=encoding, rate=rate, channels=channels)


@dataclass
class AudioDecoder:
    """Turns binary frames of any length into int16 arrays shaped (samples, channels).

    Bytes that do not complete a sample frame are kept and prepended to the next frame, so a frame
    boundary that splits a sample loses nothing and never shifts the channel interleaving.
    """

    media: MediaFormat
    _carry: bytes = field(default=b"", repr=False)

    @property
    def pending_bytes(self) -> int:
        """Bytes held back because they do not yet make a whole sample frame."""
        return len(self._carry)

    def decode(self, data: bytes) -> npt.NDArray[np.int16]:
        buf = self._carry + data if self._carry else data
        usable = len(buf) - len(buf) % self.media.bytes_per_frame
        self._carry = bytes(buf[usable:])
        body = buf[:usable]
        if self.media.encoding == "PCMU":
            samples = decode_ulaw(body)
        else:
            samples = np.frombuffer(body, dtype="<i2").astype(np.int16, copy=False)
        return samples.reshape(-1, len(self.media.channels))


# Genesys names the customer's channel "external" and the agent/IVR/ACD's "internal".
_SPEAKERS = {"external": "customer", "internal": "agent"}


def speaker_for_channel(name: str) -> str:
    """customer, agent, or unknown (mono and unnamed channels)."""
    return _SPEAKERS.get(name.lower(), "unknown")
