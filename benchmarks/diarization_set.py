"""The mono evaluation set for diarization: two- and three-speaker telephone calls with known turns.

Two kinds of call, each a mono 16 kHz int16 signal with its reference (who spoke when):

- **Real voices** (`real_calls`): people, not synthesis. Speaker `librivox` is the LibriVox reader of
  `tests/fixtures/librivox` (24.7 s, cut at its pauses into phrases of 1-4 s); `cmu_cards` the CMU
  speaker of `tests/fixtures/commands/cards-*.wav` (five short commands, 9.7 s); `cmu_goforward` the
  speaker of Debian `pocketsphinx-testdata`'s `goforward.raw`, `numbers.raw` and `something.raw`
  (9.8 s; only when that package is installed). Phrases are drawn in a random order per call, with
  gaps of -0.3..1.2 s (a negative gap is overlap), and one in four of the listener's shortest phrases
  laid over the end of the speaker's turn as a back-channel. Few real voices ship anywhere these
  machines reach, so the same phrases recur across calls in other orders and mixes. Speakers
  `pyannote_90` and `pyannote_91` are the two people of pyannote.audio's sample conversation (below),
  each turn of theirs that nobody talks over being a phrase.
- **A real conversation** (`real_conversation`): `pyannote/audio/sample/sample.wav` with its reference
  `sample.rttm` (30 s, two people talking, with overlap; in the MIT-licensed pyannote.audio 3.3.2 wheel,
  which `pyannote_sample()` fetches once from PyPI into the cache with `pip download --no-deps`; it is
  not a dependency: its wheel's only use here is this file).
- **Synthetic two-voice calls** (`scripted_calls`): the labelled contact-centre scripts of
  `benchmarks/analysis_data/calls`, each turn spoken by its role's voice (Festival's HTS and diphone
  voices, eSpeak NG's), the pairing swapped between calls so a voice never tells the role; short
  back-channels ("Yes.", "Okay.", "Mm-hm.") by the listener over some long turns; gaps and overlap as
  above. These carry the roles (agent, customer) for the role measurement.

Every call then goes through the telephone: 300-3400 Hz, 8 kHz G.711 mu-law (ours, as the channel
codec does it), and back to 16 kHz PCM16 as a SIP bridge sends it on the simple dialect.
Offline tooling for the benchmark; nothing here is part of the installed package.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import sys
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr
from scipy.signal import butter, sosfilt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.make_fixtures import synthesise  # noqa: E402

RATE = 16_000
FIXTURES = ROOT / "tests" / "fixtures"
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
CALLS = ROOT / "benchmarks" / "analysis_data" / "calls"
CACHE = Path.home() / ".cache" / "audiohook-bench" / "diarization"
PYANNOTE_SAMPLE = CACHE.parent / "pyannote-sample"
PYANNOTE_WHEEL = "pyannote.audio==3.3.2"
BACKCHANNELS = ("Yes.", "Okay.", "Mm-hm.", "Right.", "Sure.")
# (agent voice, customer voice): each call takes the next pair, so each voice plays both roles.
VOICE_PAIRS = (
    ("festival:cmu_us_slt_arctic_hts", "festival:kal_diphone"),
    ("festival:kal_diphone", "festival:cmu_us_slt_arctic_hts"),
    ("en-us+m3", "festival:cmu_us_slt_arctic_hts"),
    ("festival:cmu_us_slt_arctic_hts", "en-us+m3"),
    ("festival:kal_diphone", "en-us+f3"),
    ("en-us+f3", "festival:kal_diphone"),
)


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    speaker: str
    text: str = ""


@dataclass
class MonoCall:
    name: str
    audio: npt.NDArray[np.int16]
    segments: list[Segment]
    roles: dict[str, str] = field(default_factory=dict)  # reference speaker -> agent/customer (scripted calls)
    kind: str = "real"  # real | scripted

    @property
    def speakers(self) -> list[str]:
        return sorted({s.speaker for s in self.segments})


def _read_wav(path: Path) -> npt.NDArray[np.float32]:
    with wave.open(str(path), "rb") as w:
        rate, data = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    audio = data.astype(np.float32) / np.float32(32768)
    return soxr.resample(audio, rate, RATE).astype(np.float32) if rate != RATE else audio


def _trimmed(audio: npt.NDArray[np.float32], pad_s: float = 0.03) -> npt.NDArray[np.float32]:
    loud = np.flatnonzero(_energy(audio) > 0.1 * _energy(audio).max())
    if not loud.size:
        return audio
    frame, pad = RATE // 100, int(pad_s * RATE)
    return audio[max(0, loud[0] * frame - pad) : (loud[-1] + 1) * frame + pad]


def _energy(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    frame = RATE // 100
    n = len(audio) // frame
    frames = audio[: n * frame].reshape(n, frame).astype(np.float64)
    energy: npt.NDArray[np.float64] = np.sqrt(np.mean(np.square(frames), axis=1))
    return energy


def _phrases(
    audio: npt.NDArray[np.float32], min_pause_s: float = 0.25, max_s: float = 4.0
) -> list[npt.NDArray[np.float32]]:
    """A recording cut at its pauses into phrases (a long stretch without one stays whole)."""
    energy = _energy(audio)
    quiet = energy < 0.08 * energy.max()
    frame = RATE // 100
    cuts, run = [0], 0
    for i, q in enumerate(quiet):
        run = run + 1 if q else 0
        if run == int(min_pause_s * 100) and (i - cuts[-1] / frame) * 0.01 >= 1.0:
            cuts.append((i - run // 2) * frame)
    cuts.append(len(audio))
    pieces = [_trimmed(audio[a:b]) for a, b in itertools.pairwise(cuts)]
    out: list[npt.NDArray[np.float32]] = []
    for piece in pieces:
        if len(piece) < 0.4 * RATE:
            continue
        while len(piece) > max_s * RATE * 1.5:  # a long phrase: cut into max_s pieces
            out.append(piece[: int(max_s * RATE)])
            piece = piece[int(max_s * RATE) :]
        out.append(piece)
    return out


def pyannote_sample() -> tuple[npt.NDArray[np.float32], list[Segment]] | None:
    """pyannote.audio's sample conversation and its reference turns (fetched once; None offline)."""
    import subprocess
    import zipfile

    wav, rttm = PYANNOTE_SAMPLE / "sample.wav", PYANNOTE_SAMPLE / "sample.rttm"
    if not wav.exists():
        PYANNOTE_SAMPLE.mkdir(parents=True, exist_ok=True)
        fetched = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", PYANNOTE_WHEEL, "-d", str(PYANNOTE_SAMPLE)],
            capture_output=True,
            text=True,
            check=False,
        )
        wheels = sorted(PYANNOTE_SAMPLE.glob("pyannote_audio-*.whl"))
        if fetched.returncode != 0 or not wheels:
            print(f"no pyannote sample ({fetched.stderr.strip()[-200:]})", file=sys.stderr)
            return None
        with zipfile.ZipFile(wheels[0]) as archive:
            for name, target in (("sample.wav", wav), ("sample.rttm", rttm)):
                target.write_bytes(archive.read(f"pyannote/audio/sample/{name}"))
        wheels[0].unlink()
    segments = []
    for line in rttm.read_text().splitlines():
        fields = line.split()
        start, length = float(fields[3]), float(fields[4])
        segments.append(Segment(start, start + length, f"pyannote_{fields[7].removeprefix('speaker')}"))
    return _read_wav(wav), sorted(segments, key=lambda x: x.start)


def _alone(audio: npt.NDArray[np.float32], segments: Sequence[Segment]) -> dict[str, list[npt.NDArray[np.float32]]]:
    """Each speaker's speech that nobody else talks over: their turns less the overlapped parts
    (pieces of at least 0.8 s)."""
    out: dict[str, list[npt.NDArray[np.float32]]] = {}
    for seg in segments:
        pieces = [(seg.start, seg.end)]
        for other in segments:
            if other.speaker == seg.speaker:
                continue
            pieces = [
                part
                for a, b in pieces
                for part in ((a, min(b, other.start)), (max(a, other.end), b))
                if part[1] - part[0] > 0
            ]
        for a, b in pieces:
            if b - a >= 0.8:
                out.setdefault(seg.speaker, []).append(audio[int(a * RATE) : int(b * RATE)])
    return out


def real_conversation() -> list[MonoCall]:
    """The sample conversation through the telephone (none when it cannot be fetched)."""
    sample = pyannote_sample()
    if sample is None:
        return []
    audio, segments = sample
    return [MonoCall("conversation_pyannote_sample", telephone(audio), segments, kind="conversation")]


def real_voices() -> dict[str, list[npt.NDArray[np.float32]]]:
    """Each real speaker's phrases (see the module docstring)."""
    voices = {
        "librivox": [p for f in sorted((FIXTURES / "librivox").glob("*.wav")) for p in _phrases(_read_wav(f))],
        "cmu_cards": [_trimmed(_read_wav(f)) for f in sorted((FIXTURES / "commands").glob("cards-*.wav"))],
    }
    raws = [POCKETSPHINX / f"{n}.raw" for n in ("goforward", "numbers", "something")]
    if all(p.exists() for p in raws):
        voices["cmu_goforward"] = [
            _trimmed(np.fromfile(p, dtype="<i2").astype(np.float32) / np.float32(32768)) for p in raws
        ]
    sample = pyannote_sample()
    if sample is not None:
        voices.update(_alone(*sample))
    return voices


def telephone(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    """Through a phone line and back: 300-3400 Hz, 8 kHz mu-law, 16 kHz PCM16."""
    band = sosfilt(butter(4, [300, 3400], btype="band", fs=RATE, output="sos"), audio)
    narrow = np.clip(soxr.resample(band, RATE, 8000), -1, 1)
    mu = 255.0
    coded = np.round(np.sign(narrow) * np.log1p(mu * np.abs(narrow)) / np.log1p(mu) * 127) / 127
    decoded = np.sign(coded) * ((1 + mu) ** np.abs(coded) - 1) / mu
    wide = soxr.resample(decoded, 8000, RATE)
    pcm: npt.NDArray[np.int16] = np.clip(np.round(wide * 32767), -32768, 32767).astype(np.int16)
    return pcm


def _mix(pieces: Sequence[tuple[float, npt.NDArray[np.float32]]]) -> npt.NDArray[np.float32]:
    end = max(int(t * RATE) + len(a) for t, a in pieces) + RATE // 2
    out = np.zeros(end, dtype=np.float32)
    for t, a in pieces:
        i = int(t * RATE)
        out[i : i + len(a)] += a
    peak = float(np.max(np.abs(out))) or 1.0
    return out * (0.7 / peak)


def _gap(rng: random.Random) -> float:
    return max(-0.3, min(1.2, rng.gauss(0.45, 0.35)))


def real_call(
    name: str, speakers: Sequence[str], voices: dict[str, list[npt.NDArray[np.float32]]], seed: int, turns: int = 16
) -> MonoCall:
    """`turns` turns between `speakers` (real voices), in a random order, with back-channels."""
    rng = random.Random(seed)
    pools = {s: rng.sample(voices[s], len(voices[s])) for s in speakers}
    taken = dict.fromkeys(speakers, 0)
    gains = {s: 10 ** (rng.uniform(-6, 0) / 20) for s in speakers}  # the parties' lines differ in level
    pieces: list[tuple[float, npt.NDArray[np.float32]]] = []
    segments: list[Segment] = []
    t, previous = 0.3, ""
    for _ in range(turns):
        speaker = rng.choice([s for s in speakers if s != previous])
        clip = pools[speaker][taken[speaker] % len(pools[speaker])] * gains[speaker]
        taken[speaker] += 1
        pieces.append((t, clip))
        segments.append(Segment(t, t + len(clip) / RATE, speaker))
        end = t + len(clip) / RATE
        listener = rng.choice([s for s in speakers if s != speaker])
        shortest = min(pools[listener], key=len)
        if rng.random() < 0.25 and len(clip) > 2.5 * RATE and len(shortest) < 1.6 * RATE:
            at = end - len(shortest) / RATE * 0.5
            pieces.append((at, shortest * gains[listener]))
            segments.append(Segment(at, at + len(shortest) / RATE, listener))
        t, previous = max(t + 0.2, end + _gap(rng)), speaker
    return MonoCall(name, telephone(_mix(pieces)), sorted(segments, key=lambda s: s.start), kind="real")


def real_calls(count: int = 12, seed: int = 1000) -> list[MonoCall]:
    """`count` two-speaker calls (and a quarter as many three-speaker ones) from the real voices; each
    `seed` draws other phrases, turn lengths and overlaps (the thresholds were chosen on seed 0, so the
    default 1000 is a held-out draw of the same few voices)."""
    voices = real_voices()
    names = sorted(voices)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    calls = [real_call(f"real2_{i:02d}_{'+'.join(p)}", p, voices, seed=seed + i) for i, p in enumerate(pairs * count)][
        :count
    ]
    if len(names) >= 3:
        calls += [
            real_call(f"real3_{i:02d}", names[:3], voices, seed=seed + 100 + i, turns=18)
            for i in range(max(2, count // 4))
        ]
    return calls


def _spoken(text: str, voice: str) -> npt.NDArray[np.float32]:
    """A turn in a voice, cached on disk (Festival and eSpeak are slow enough to matter)."""
    key = hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()[:24]
    path = CACHE / f"{key}.npy"
    if path.exists():
        cached: npt.NDArray[np.float32] = np.load(path).astype(np.float32)
        return cached
    CACHE.mkdir(parents=True, exist_ok=True)
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        audio = synthesise(text, voice, Path(work), 0).astype(np.float32)
    np.save(path, audio)
    return audio


def scripted_call(script: dict[str, object], pair: tuple[str, str], seed: int) -> MonoCall:
    rng = random.Random(seed)
    voice = {"agent": pair[0], "customer": pair[1]}
    pieces: list[tuple[float, npt.NDArray[np.float32]]] = []
    segments: list[Segment] = []
    t = 0.3
    turns = script["turns"]
    assert isinstance(turns, list)
    for turn in turns:
        role, text = str(turn["speaker"]), str(turn["text"])
        clip = _spoken(text, voice[role])
        pieces.append((t, clip))
        segments.append(Segment(t, t + len(clip) / RATE, role, text))
        end = t + len(clip) / RATE
        if rng.random() < 0.3 and len(clip) > 3 * RATE:
            listener = "customer" if role == "agent" else "agent"
            word = rng.choice(BACKCHANNELS)
            short = _spoken(word, voice[listener])
            at = t + rng.uniform(0.4, 0.7) * len(clip) / RATE
            pieces.append((at, short * 0.8))
            segments.append(Segment(at, at + len(short) / RATE, listener, word))
        t = max(t + 0.2, end + _gap(rng))
    name = f"scripted_{script['id']}"
    return MonoCall(
        name,
        telephone(_mix(pieces)),
        sorted(segments, key=lambda s: s.start),
        {"agent": "agent", "customer": "customer"},
        "scripted",
    )


def scripted_calls(count: int = 12, split: str = "test") -> list[MonoCall]:
    scripts = [json.loads(p.read_text()) for p in sorted(CALLS.glob("*.json"))]
    chosen = [s for s in scripts if s.get("split") == split][:count]
    return [scripted_call(s, VOICE_PAIRS[i % len(VOICE_PAIRS)], seed=i) for i, s in enumerate(chosen)]
