"""The real-speech fixtures under tests/fixtures/ exist and are what tests/fixtures/README.md says.

Regenerate them with ``.venv/bin/python scripts/make_fixtures.py``.
"""

from __future__ import annotations

import json
import struct
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
LIBRIVOX = FIXTURES / "librivox"
DIALOGUE = FIXTURES / "dialogue"
MONO = DIALOGUE / "call_mono16k.wav"
STEREO = DIALOGUE / "call_stereo8k_ulaw.wav"
CALL_JSON = DIALOGUE / "call.json"

WAVE_FORMAT_MULAW = 7
MAX_FIXTURE_BYTES = 6_500_000  # "a few MB" in all (about 6.0 MB)


def read_riff(path: Path) -> tuple[dict[str, int], bytes]:
    """Minimal RIFF/WAVE reader (the stdlib ``wave`` module only reads PCM): (fmt fields, data bytes)."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE", f"{path} is not a RIFF/WAVE file"
    fmt: dict[str, int] | None = None
    data: bytes | None = None
    pos = 12
    while pos + 8 <= len(raw):
        chunk_id, size = raw[pos : pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        body = raw[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            tag, channels, rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", body)
            fmt = {
                "format": tag,
                "channels": channels,
                "rate": rate,
                "byte_rate": byte_rate,
                "block_align": align,
                "bits": bits,
            }
        elif chunk_id == b"data":
            data = body
        pos += 8 + size + (size & 1)
    assert fmt is not None and data is not None, f"{path}: missing fmt or data chunk"
    return fmt, data


def mulaw_decode(codes: np.ndarray) -> np.ndarray:
    """G.711 mu-law bytes -> float samples in [-1, 1)."""
    u = ~codes.astype(np.uint8)
    exponent = (u >> 4) & 0x07
    mantissa = (u & 0x0F).astype(np.int32)
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.float64) / 32768.0


def read_pcm16(path: Path) -> tuple[np.ndarray, int, int]:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2
        rate, channels = w.getframerate(), w.getnchannels()
        frames = w.readframes(w.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0
    return samples.reshape(-1, channels), rate, channels


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


@pytest.fixture(scope="module")
def call() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CALL_JSON.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def stereo() -> np.ndarray:
    fmt, data = read_riff(STEREO)
    codes = np.frombuffer(data, dtype=np.uint8)
    return mulaw_decode(codes).reshape(-1, fmt["channels"])


# --- LibriVox --------------------------------------------------------------------------------------


def test_librivox_clips_are_16k_mono_pcm16() -> None:
    clips = sorted(LIBRIVOX.glob("*.wav"))
    assert len(clips) == 5
    for clip in clips:
        with wave.open(str(clip), "rb") as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000), clip.name
            assert 2.0 < w.getnframes() / w.getframerate() < 10.0, clip.name


def test_every_librivox_clip_has_a_transcript() -> None:
    transcripts = json.loads((LIBRIVOX / "transcripts.json").read_text(encoding="utf-8"))
    assert set(transcripts) == {p.name for p in LIBRIVOX.glob("*.wav")}
    for name, text in transcripts.items():
        assert text and text == text.lower() and text == " ".join(text.split()), name
        assert "<s>" not in text and "</s>" not in text and "(" not in text, name
    # The reference keeps the reader's disfluency (see README).
    assert "a more a amiable" in transcripts["sense_and_sensibility_01_austen_64kb-0920.wav"]


def test_command_clips_are_short_16k_mono_pcm16_with_transcripts() -> None:
    commands = FIXTURES / "commands"
    transcripts = json.loads((commands / "transcripts.json").read_text(encoding="utf-8"))
    assert set(transcripts) == {p.name for p in commands.glob("*.wav")} and len(transcripts) == 6
    for name, text in transcripts.items():
        with wave.open(str(commands / name), "rb") as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000), name
            assert 1.0 < w.getnframes() / w.getframerate() < 4.0, name
        assert text and text == text.lower() and text == " ".join(text.split()), name


# --- Scripted call -----------------------------------------------------------------------------------


def test_mono_call_format(call: dict[str, Any]) -> None:
    samples, rate, channels = read_pcm16(MONO)
    assert (rate, channels) == (16000, 1)
    duration = samples.shape[0] / rate
    assert 45.0 <= duration <= 60.0
    assert duration == pytest.approx(call["duration_s"], abs=0.01)


def test_stereo_call_format(call: dict[str, Any]) -> None:
    fmt, data = read_riff(STEREO)
    assert fmt["format"] == WAVE_FORMAT_MULAW
    assert (fmt["channels"], fmt["rate"], fmt["bits"], fmt["block_align"]) == (2, 8000, 8, 2)
    assert len(data) % 2 == 0
    assert len(data) / 2 / 8000 == pytest.approx(call["duration_s"], abs=0.01)


def test_call_turns_are_ordered_and_within_the_audio(call: dict[str, Any]) -> None:
    turns = call["turns"]
    assert 10 <= len(turns) <= 12
    assert turns[0]["speaker"] == "agent"
    assert {t["speaker"] for t in turns} == {"agent", "customer"}
    assert set(call["voices"]) == {"agent", "customer"}
    assert call["voices"]["agent"] != call["voices"]["customer"]
    previous_end = 0.0
    for prev, turn in zip([None, *turns], turns, strict=False):
        if prev is not None:
            assert turn["speaker"] != prev["speaker"], "speakers alternate"
        assert turn["channel_stereo"] == {"customer": 0, "agent": 1}[turn["speaker"]]
        assert turn["text"].strip()
        assert previous_end < turn["start"] < turn["end"], turn
        previous_end = turn["end"]
    assert previous_end <= call["duration_s"]


def test_each_turn_has_speech_in_the_mono_mix(call: dict[str, Any]) -> None:
    samples, rate, _ = read_pcm16(MONO)
    mono = samples[:, 0]
    lead_in = mono[: int(call["turns"][0]["start"] * rate)]
    assert rms(lead_in) < 1e-4
    for turn in call["turns"]:
        assert rms(mono[int(turn["start"] * rate) : int(turn["end"] * rate)]) > 0.02, turn["text"]


def test_each_turn_is_on_its_own_stereo_channel(call: dict[str, Any], stereo: np.ndarray) -> None:
    rate = 8000
    for turn in call["turns"]:
        segment = stereo[int(turn["start"] * rate) : int(turn["end"] * rate)]
        own, other = turn["channel_stereo"], 1 - turn["channel_stereo"]
        own_rms, other_rms = rms(segment[:, own]), rms(segment[:, other])
        assert own_rms > 0.01, turn["text"]
        assert other_rms < own_rms / 100, turn["text"]


def test_fixtures_stay_small() -> None:
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert total < MAX_FIXTURE_BYTES
