"""`audiohook_server.audio` and `protocol.wav`: reading every WAV encoding the client meets, resampling, writing.

Files are built byte by byte here (numpy + struct) so that each encoding and each oddity of the
RIFF container (padding, truncation, extensible headers, RF64) is exercised on purpose.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soxr

from audiohook_server.audio.resampling import resample, to_mono_16k
from audiohook_server.audio.wav_files import read_wav, read_wav_format, write_wav
from protocol.audio import decode_ulaw
from protocol.wav import WAVE_FORMAT_EXTENSIBLE, WAVE_FORMAT_IEEE_FLOAT, WAVE_FORMAT_MULAW, WAVE_FORMAT_PCM

LIBRIVOX = Path(__file__).parent.parent / "fixtures" / "librivox"
KSDATAFORMAT_SUFFIX = b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


# ---- building WAV files ----------------------------------------------------------------------


def chunk(chunk_id: bytes, payload: bytes, *, declared_size: int | None = None, pad: bool = True) -> bytes:
    size = len(payload) if declared_size is None else declared_size
    padding = b"\0" if pad and len(payload) % 2 else b""
    return chunk_id + struct.pack("<I", size) + payload + padding


def riff(*chunks: bytes, form: bytes = b"RIFF") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return form + struct.pack("<I", len(body)) + body


def fmt_chunk(code: int, channels: int, rate: int, bits: int, *, cb_size: bool = False) -> bytes:
    width = (bits + 7) // 8
    payload = struct.pack("<HHIIHH", code, channels, rate, rate * channels * width, channels * width, bits)
    if cb_size:
        payload += struct.pack("<H", 0)
    return chunk(b"fmt ", payload)


def extensible_fmt_chunk(
    sub_code: int, channels: int, rate: int, bits: int, valid_bits: int | None = None, guid_suffix: bytes = b""
) -> bytes:
    width = (bits + 7) // 8
    guid = struct.pack("<I", sub_code) + (guid_suffix or KSDATAFORMAT_SUFFIX)
    payload = struct.pack(
        "<HHIIHHHHI",
        WAVE_FORMAT_EXTENSIBLE,
        channels,
        rate,
        rate * channels * width,
        channels * width,
        bits,
        22,
        valid_bits or bits,
        0x3 if channels == 2 else 0x4,
    )
    return chunk(b"fmt ", payload + guid)


def write_bytes(tmp_path: Path, data: bytes, name: str = "test.wav") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def random_int16(frames: int, channels: int, seed: int = 0) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(seed)
    samples = rng.integers(-32768, 32768, size=(frames, channels), dtype=np.int32).astype(np.int16)
    samples[:4] = [[-32768] * channels, [32767] * channels, [0] * channels, [-1] * channels]
    return samples


def sine(freq: float, rate: int, seconds: float, amplitude: float = 20000.0) -> npt.NDArray[np.int16]:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_frequency(samples: npt.NDArray[np.int16], rate: int) -> float:
    windowed = samples.astype(np.float64) * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(windowed))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


# ---- PCM16 round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
@pytest.mark.parametrize("channels", [1, 2])
def test_pcm16_round_trip(tmp_path: Path, rate: int, channels: int) -> None:
    samples = random_int16(rate // 10 + 3, channels)
    path = tmp_path / "round.wav"
    write_wav(path, samples, rate)

    decoded, decoded_rate = read_wav(path)
    assert decoded_rate == rate
    assert decoded.dtype == np.int16
    assert decoded.shape == (samples.shape[0], channels)
    np.testing.assert_array_equal(decoded, samples)
    decoded[0, 0] = 1  # the result is an ordinary writeable array

    with wave.open(str(path), "rb") as stdlib:  # and the stdlib agrees with what was written
        assert (stdlib.getnchannels(), stdlib.getframerate(), stdlib.getsampwidth()) == (channels, rate, 2)
        assert stdlib.getnframes() == samples.shape[0]


def test_write_wav_accepts_1d_as_mono(tmp_path: Path) -> None:
    samples = random_int16(1000, 1)[:, 0]
    write_wav(tmp_path / "mono.wav", samples, 16000)
    decoded, _ = read_wav(tmp_path / "mono.wav")
    assert decoded.shape == (1000, 1)
    np.testing.assert_array_equal(decoded[:, 0], samples)


def test_write_wav_rejects_float_samples(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="int16"):
        write_wav(tmp_path / "x.wav", np.zeros(10, dtype=np.float32), 16000)


# ---- other encodings -------------------------------------------------------------------------


def test_mulaw_stereo_matches_protocol_decoder(tmp_path: Path) -> None:
    codes = np.arange(256, dtype=np.uint8)
    interleaved = np.stack([codes, codes[::-1]], axis=1).tobytes()  # every code on both channels
    data = riff(
        fmt_chunk(WAVE_FORMAT_MULAW, 2, 8000, 8, cb_size=True),
        chunk(b"fact", struct.pack("<I", 256)),
        chunk(b"data", interleaved),
    )
    path = write_bytes(tmp_path, data)

    decoded, rate = read_wav(path)
    assert rate == 8000
    assert decoded.shape == (256, 2)
    np.testing.assert_array_equal(decoded, decode_ulaw(interleaved).reshape(-1, 2))
    assert read_wav_format(path).format_code == WAVE_FORMAT_MULAW


@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
def test_float_wav(tmp_path: Path, dtype: str) -> None:
    ints = random_int16(500, 1)[:, 0]
    specials = np.array([1.0, -1.0, 1.5, -2.0, 0.5, -0.5, np.nan, 0.0])
    expected_specials = np.array([32767, -32768, 32767, -32768, 16384, -16384, 0, 0], dtype=np.int16)
    floats = np.concatenate([ints / 32768.0, specials]).astype(dtype)
    width = np.dtype(dtype).itemsize
    data = riff(fmt_chunk(WAVE_FORMAT_IEEE_FLOAT, 1, 22050, width * 8), chunk(b"data", floats.tobytes()))

    decoded, rate = read_wav(write_bytes(tmp_path, data))
    assert rate == 22050
    np.testing.assert_array_equal(decoded[:500, 0], ints)  # int16 / 32768 comes back exactly
    np.testing.assert_array_equal(decoded[500:, 0], expected_specials)


def test_unsigned_8bit_pcm(tmp_path: Path) -> None:
    raw = bytes([0, 128, 255, 64])
    decoded, _ = read_wav(write_bytes(tmp_path, riff(fmt_chunk(WAVE_FORMAT_PCM, 1, 8000, 8), chunk(b"data", raw))))
    np.testing.assert_array_equal(decoded[:, 0], [-32768, 0, 32512, -16384])


def test_24bit_pcm_keeps_the_top_16_bits(tmp_path: Path) -> None:
    values = random_int16(300, 2).reshape(-1)
    low = np.arange(values.size, dtype=np.int32) % 256
    wide = (values.astype(np.int32) << 8) | low  # 24-bit samples whose top 16 bits are `values`
    raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in wide)
    decoded, rate = read_wav(write_bytes(tmp_path, riff(fmt_chunk(WAVE_FORMAT_PCM, 2, 48000, 24), chunk(b"data", raw))))
    assert rate == 48000
    np.testing.assert_array_equal(decoded, values.reshape(-1, 2))


def test_32bit_pcm(tmp_path: Path) -> None:
    values = random_int16(300, 1)[:, 0]
    wide = (values.astype(np.int32) << 16) | 0x7FFF
    data = riff(fmt_chunk(WAVE_FORMAT_PCM, 1, 16000, 32), chunk(b"data", wide.astype("<i4").tobytes()))
    decoded, _ = read_wav(write_bytes(tmp_path, data))
    np.testing.assert_array_equal(decoded[:, 0], values)


@pytest.mark.parametrize(
    ("sub_code", "bits", "payload", "expected"),
    [
        (WAVE_FORMAT_PCM, 16, np.array([1, -2, 300, -32768], "<i2").tobytes(), [1, -2, 300, -32768]),
        (WAVE_FORMAT_PCM, 24, b"\x00\x01\x00\xff\xff\xff\x00\x00\x80\xff\xff\x7f", [1, -1, -32768, 32767]),
        (WAVE_FORMAT_IEEE_FLOAT, 32, np.array([0.25, -0.25, 1.0, -1.0], "<f4").tobytes(), [8192, -8192, 32767, -32768]),
        (WAVE_FORMAT_MULAW, 8, bytes([0x00, 0x80, 0xFF, 0x7F]), decode_ulaw(bytes([0x00, 0x80, 0xFF, 0x7F])).tolist()),
    ],
)
def test_extensible_wrapping(tmp_path: Path, sub_code: int, bits: int, payload: bytes, expected: list[int]) -> None:
    data = riff(extensible_fmt_chunk(sub_code, 2, 16000, bits), chunk(b"data", payload))
    path = write_bytes(tmp_path, data)
    decoded, rate = read_wav(path)
    assert rate == 16000
    np.testing.assert_array_equal(decoded, np.array(expected, dtype=np.int16).reshape(-1, 2))
    fmt = read_wav_format(path)
    assert fmt.extensible and fmt.format_code == sub_code


def test_extensible_24_in_32_bit_container(tmp_path: Path) -> None:
    values = np.array([100, -100, 32767, -32768], dtype=np.int32)
    payload = ((values << 16) | 0x1200).astype("<i4").tobytes()  # left-justified 24 valid bits
    data = riff(extensible_fmt_chunk(WAVE_FORMAT_PCM, 1, 8000, 32, valid_bits=24), chunk(b"data", payload))
    decoded, _ = read_wav(write_bytes(tmp_path, data))
    np.testing.assert_array_equal(decoded[:, 0], values)


def test_rf64_with_unknown_data_size(tmp_path: Path) -> None:
    samples = random_int16(100, 1)
    pcm = samples.astype("<i2").tobytes()
    ds64 = chunk(b"ds64", struct.pack("<QQQI", 0, len(pcm), 100, 0))
    data = riff(ds64, fmt_chunk(WAVE_FORMAT_PCM, 1, 16000, 16), chunk(b"data", pcm, declared_size=0xFFFFFFFF))
    decoded, _ = read_wav(write_bytes(tmp_path, b"RF64" + data[4:]))
    np.testing.assert_array_equal(decoded, samples)


# ---- the RIFF container ----------------------------------------------------------------------


def test_odd_sized_chunks_are_padded(tmp_path: Path) -> None:
    samples = random_int16(50, 1)
    data = riff(
        chunk(b"LIST", b"abc"),  # 3 bytes + 1 pad byte
        fmt_chunk(WAVE_FORMAT_PCM, 1, 8000, 16),
        chunk(b"junk", b"x"),
        chunk(b"data", samples.astype("<i2").tobytes()),
        chunk(b"note", b"after the data"),
    )
    decoded, rate = read_wav(write_bytes(tmp_path, data))
    assert rate == 8000
    np.testing.assert_array_equal(decoded, samples)


def test_odd_sized_chunk_without_its_pad_byte(tmp_path: Path) -> None:
    samples = random_int16(50, 1)
    data = riff(
        fmt_chunk(WAVE_FORMAT_PCM, 1, 8000, 16),
        chunk(b"LIST", b"abc", pad=False),  # a writer that forgot the pad byte
        chunk(b"data", samples.astype("<i2").tobytes()),
    )
    decoded, _ = read_wav(write_bytes(tmp_path, data))
    np.testing.assert_array_equal(decoded, samples)


def test_8bit_odd_sized_data_chunk(tmp_path: Path) -> None:
    data = riff(fmt_chunk(WAVE_FORMAT_MULAW, 1, 8000, 8), chunk(b"data", bytes([1, 2, 3])), chunk(b"LIST", b"ab"))
    decoded, _ = read_wav(write_bytes(tmp_path, data))
    np.testing.assert_array_equal(decoded[:, 0], decode_ulaw(bytes([1, 2, 3])))


def test_truncated_data_chunk_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    samples = random_int16(1000, 2)
    full = riff(fmt_chunk(WAVE_FORMAT_PCM, 2, 16000, 16), chunk(b"data", samples.astype("<i2").tobytes()))
    assert len(full) == 44 + 4000
    cut = full[: 44 + 4 * 600 + 3]  # the data chunk says 4000 bytes: 600 whole frames are left, and part of one
    decoded, rate = read_wav(write_bytes(tmp_path, cut))
    assert rate == 16000
    np.testing.assert_array_equal(decoded, samples[:600])


def test_truncated_mid_recording(tmp_path: Path) -> None:
    samples = random_int16(1000, 1)
    full = riff(fmt_chunk(WAVE_FORMAT_PCM, 1, 16000, 16), chunk(b"data", samples.astype("<i2").tobytes()))
    cut = full[: 44 + 601]  # 300 whole samples and half of the next
    decoded, _ = read_wav(write_bytes(tmp_path, cut))
    np.testing.assert_array_equal(decoded[:, 0], samples[:300, 0])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a WAV file"),
        (b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(100), "not a WAV file"),
        (b"hello, this is a text file and not audio at all\n", "not a WAV file"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "not a WAV file"),
        (b"RIFX\x24\x00\x00\x00WAVE", "RIFX"),
    ],
)
def test_non_wav_raises_value_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = write_bytes(tmp_path, content, "not-audio.wav")
    with pytest.raises(ValueError, match=message) as info:
        read_wav(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(("code", "name"), [(2, "ADPCM"), (6, "A-law"), (0x55, "MPEG Layer 3"), (0x1234, "0x1234")])
def test_unsupported_format_names_the_code(tmp_path: Path, code: int, name: str) -> None:
    data = riff(fmt_chunk(code, 1, 8000, 8), chunk(b"data", b"\0" * 16))
    with pytest.raises(ValueError, match="unsupported WAV format code") as info:
        read_wav(write_bytes(tmp_path, data))
    assert str(code) in str(info.value) and name in str(info.value)


def test_unsupported_extensible_subformat(tmp_path: Path) -> None:
    data = riff(extensible_fmt_chunk(6, 1, 8000, 8), chunk(b"data", b"\0" * 16))
    with pytest.raises(ValueError, match=r"sub-format 6 .*A-law"):
        read_wav(write_bytes(tmp_path, data))
    bad_guid = riff(extensible_fmt_chunk(1, 1, 8000, 16, guid_suffix=b"\x01" * 12), chunk(b"data", b"\0" * 16))
    with pytest.raises(ValueError, match="GUID"):
        read_wav(write_bytes(tmp_path, bad_guid))


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ((chunk(b"data", b"\0" * 8),), "no 'fmt ' chunk"),
        ((fmt_chunk(WAVE_FORMAT_PCM, 1, 8000, 16),), "no 'data' chunk"),
        ((fmt_chunk(WAVE_FORMAT_PCM, 0, 8000, 16), chunk(b"data", b"")), "0 channels"),
        ((fmt_chunk(WAVE_FORMAT_PCM, 1, 8000, 12 * 8), chunk(b"data", b"")), "sample size"),
        ((fmt_chunk(WAVE_FORMAT_IEEE_FLOAT, 1, 8000, 16), chunk(b"data", b"")), "sample size"),
        ((chunk(b"fmt ", b"\x01\x00"), chunk(b"data", b"")), "expected at least 16"),
    ],
)
def test_malformed_wav(tmp_path: Path, chunks: tuple[bytes, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_wav(write_bytes(tmp_path, riff(*chunks)))


def test_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_wav(tmp_path / "nope.wav")


# ---- mono 16 kHz -----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 44100])
def test_resampling_keeps_frequency_and_length(rate: int) -> None:
    tone = sine(1000.0, rate, 2.0)
    out = to_mono_16k(tone, rate)
    assert out.dtype == np.int16 and out.ndim == 1
    assert abs(out.shape[0] - 2.0 * 16000) <= 2
    assert abs(peak_frequency(out, 16000) - 1000.0) <= 1.0  # FFT bins are 0.5 Hz wide here
    # Same amplitude (away from the filter's edges).
    middle = out[2000:-2000].astype(np.float64)
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(20000 / np.sqrt(2), rel=0.02)


@pytest.mark.parametrize("rate", [8000, 44100])
def test_resample_helper(rate: int) -> None:
    tone = sine(1000.0, rate, 1.0)
    out = resample(tone, rate, 16000)
    assert out.dtype == np.int16
    assert abs(out.shape[0] - 16000) <= 2
    assert abs(peak_frequency(out, 16000) - 1000.0) <= 1.0


def test_resample_clips_instead_of_wrapping() -> None:
    square = np.where(np.arange(44100) % 441 < 220, 32767, -32768).astype(np.int16)  # 100 Hz, full scale
    reference = soxr.resample(square.astype(np.float32), 44100, 16000, quality="HQ")
    assert reference.max() > 32767.5 and reference.min() < -32768.5  # the filter overshoots full scale...
    out = resample(square, 44100, 16000)
    np.testing.assert_array_equal(out[reference > 32767], 32767)  # ...and the overshoot is clipped, not wrapped
    np.testing.assert_array_equal(out[reference < -32768], -32768)


def test_resample_edge_cases() -> None:
    assert resample(np.zeros(0, dtype=np.int16), 8000, 16000).shape == (0,)
    same = np.array([1, 2, 3], dtype=np.int16)
    copy = resample(same, 16000, 16000)
    np.testing.assert_array_equal(copy, same)
    assert copy is not same
    with pytest.raises(ValueError, match="positive"):
        resample(same, 0, 16000)


def test_to_mono_16k_downmixes_by_mean() -> None:
    stereo = np.array([[1000, 3000], [-500, 500], [32767, 32767], [-32768, -32768], [1, 2]], dtype=np.int16)
    mono = to_mono_16k(stereo, 16000)
    np.testing.assert_array_equal(mono, [2000, 0, 32767, -32768, 2])  # 1.5 rounds to even

    one_channel = np.array([[5], [6], [7]], dtype=np.int16)
    np.testing.assert_array_equal(to_mono_16k(one_channel, 16000), [5, 6, 7])
    np.testing.assert_array_equal(to_mono_16k(one_channel[:, 0], 16000), [5, 6, 7])


def test_to_mono_16k_stereo_8k(tmp_path: Path) -> None:
    left = sine(1000.0, 8000, 1.0, amplitude=10000)
    stereo = np.stack([left, left], axis=1)
    write_wav(tmp_path / "stereo8k.wav", stereo, 8000)
    samples, rate = read_wav(tmp_path / "stereo8k.wav")
    out = to_mono_16k(samples, rate)
    assert abs(out.shape[0] - 16000) <= 2
    assert abs(peak_frequency(out, 16000) - 1000.0) <= 1.0


# ---- real recordings -------------------------------------------------------------------------


def test_reads_librivox_fixture() -> None:
    clips = sorted(LIBRIVOX.glob("*.wav")) if LIBRIVOX.is_dir() else []
    if not clips:
        pytest.skip(f"no WAV files in {LIBRIVOX}")
    path = clips[0]
    samples, rate = read_wav(path)
    with wave.open(str(path), "rb") as stdlib:
        expected = np.frombuffer(stdlib.readframes(stdlib.getnframes()), dtype="<i2")
        expected = expected.reshape(-1, stdlib.getnchannels())
        assert rate == stdlib.getframerate()
    np.testing.assert_array_equal(samples, expected)
    mono = to_mono_16k(samples, rate)
    assert abs(mono.shape[0] / 16000 - samples.shape[0] / rate) < 0.01
    assert 1.0 < mono.shape[0] / 16000 < 60.0
    assert np.abs(mono).max() > 1000  # speech, not silence
