"""Media offers and frame decoding: μ-law against the standard table, split samples, channel order."""

from __future__ import annotations

import numpy as np
import pytest

from protocol.audio import AudioDecoder, MediaFormat, decode_ulaw, media_from_offer, speaker_for_channel
from protocol.errors import ProtocolError


def _reference_ulaw(code: int) -> int:
    """ITU-T G.711 μ-law decoding written out sample by sample, as in the standard's reference code."""
    code = ~code & 0xFF
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 7, code & 0x0F
    value = ((mantissa << 3) + 0x84) << exponent
    value -= 0x84
    return -value if sign else value


def test_ulaw_decoding_matches_g711_for_every_code() -> None:
    decoded = decode_ulaw(bytes(range(256)))
    assert decoded.dtype == np.int16
    assert decoded.tolist() == [_reference_ulaw(c) for c in range(256)]
    # Known anchors: 0xFF and 0x7F are the two zeros, 0x00 is the most negative value.
    assert decoded[0xFF] == 0 and decoded[0x7F] == 0 and decoded[0x00] == -32124 and decoded[0x80] == 32124


def test_pcm16_frames_that_split_a_sample_lose_nothing() -> None:
    samples = np.arange(-500, 500, dtype=np.int16)
    data = samples.astype("<i2").tobytes()
    decoder = AudioDecoder(MediaFormat())
    pieces = [data[:3], data[3:4], data[4:1001], data[1001:]]  # odd-sized frames
    out = np.concatenate([decoder.decode(p) for p in pieces])
    assert out.shape == (1000, 1)
    assert out[:, 0].tolist() == samples.tolist()
    assert decoder.pending_bytes == 0


def test_stereo_frames_keep_channel_order_across_split_frames() -> None:
    left = np.arange(100, dtype=np.int16)
    right = -np.arange(100, dtype=np.int16)
    interleaved = np.stack([left, right], axis=1).astype("<i2").tobytes()
    decoder = AudioDecoder(MediaFormat("L16", 8000, ("external", "internal")))
    out = np.concatenate([decoder.decode(interleaved[i : i + 7]) for i in range(0, len(interleaved), 7)])
    assert out[:, 0].tolist() == left.tolist()
    assert out[:, 1].tolist() == right.tolist()


def test_pcmu_stereo_decoding() -> None:
    decoder = AudioDecoder(MediaFormat("PCMU", 8000, ("internal", "external")))
    out = decoder.decode(bytes([0x00, 0xFF, 0x80, 0x7F, 0x10]))
    assert out.tolist() == [[-32124, 0], [32124, 0]]
    assert decoder.pending_bytes == 1


@pytest.mark.parametrize(
    ("offer", "expected"),
    [
        ({"type": "audio", "codec": "audio/pcm"}, MediaFormat("L16", 16000, ("mono",))),
        ({"type": "audio", "format": "PCMU", "rate": 8000, "channels": ["external", "internal"]},
         MediaFormat("PCMU", 8000, ("external", "internal"))),
        ({"format": "L16", "rate": 8000, "channels": ["internal"]}, MediaFormat("L16", 8000, ("internal",))),
        ({"codec": "audio/pcm", "channels": 1}, MediaFormat("L16", 16000, ("mono",))),
    ],
)  # fmt: skip
def test_media_offers(offer: dict[str, object], expected: MediaFormat) -> None:
    assert media_from_offer(offer) == expected


@pytest.mark.parametrize(
    ("offer", "code", "fragment"),
    [
        ({"type": "video"}, 415, "unsupported media type"),
        ({"codec": "audio/opus"}, 415, "unsupported audio codec 'audio/opus'"),
        ({"codec": "audio/pcm", "rate": 44100}, 415, "unsupported sample rate 44100"),
        ({"codec": "audio/pcm", "rate": "16000"}, 400, "'rate' must be an integer"),
        ({"codec": "audio/pcm", "channels": ["a", "b", "c"]}, 415, "unsupported channel count 3"),
        ({"codec": "audio/pcm", "channels": "stereo"}, 400, "'channels' must be a list"),
        ("audio/pcm", 400, "must be an object"),
    ],
)
def test_unsupported_offers_are_named(offer: object, code: int, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        media_from_offer(offer)
    assert info.value.code == code
    assert fragment in info.value.message


def test_speakers_follow_channel_names_not_positions() -> None:
    assert [speaker_for_channel(c) for c in ("internal", "external", "mono")] == ["agent", "customer", "unknown"]
