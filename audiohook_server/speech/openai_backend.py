"""openai-whisper (PyTorch) as a second Whisper backend, behind the same `Transcriber` protocol.

No registry ships openai-whisper checkpoints, so the backend runs on the CTranslate2 models we
install: `resolve_openai_checkpoint` converts one once into the model cache (see `ct2_checkpoint`) and
reuses it. The decoding mirrors `FasterWhisperTranscriber`: finals are beam search (5) with the same
temperature fallback and word timestamps; partials a greedy pass without timestamps. On the
fixtures both backends give the same transcripts and word timings (tests/speech/test_openai_backend.py).
On a 2-core CPU, openai-whisper's finals take about twice as long as faster-whisper int8's (fp32
PyTorch against int8 CTranslate2), and loading costs about 2.5 s more (torch, numba compilation).

openai-whisper installs hooks on the shared model for every decode (its key/value cache and, for
word timestamps, the cross-attention capture), so two transcriptions must never run at once on one
model: a lock serialises them. torch's intra-op threads do the parallel work.

The encoder window is fitted to the utterance as for faster-whisper (`encoder_window`): openai-whisper
pads every segment's mel to 3000 frames and its `AudioEncoder` insists on exactly that many, so the
model's encoder gets a forward that drops the padding beyond the fitted window and adds the matching
slice of its positional embedding (`_fit_encoder`); decoding and the word alignment already work on
the segment's real length.

Threads: torch's thread count is a process-wide default that each thread adopts at its first
parallel operation, and the analysis backend sets it to `analysis_threads` (1) at start. So each
transcription sets the Whisper thread's own count (`threads`; by default one fewer than the CPUs,
see `default_threads` for why) and puts the previous value back afterwards, leaving the analysis
threads as they were.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from audiohook_server.speech.ct2_checkpoint import CONVERTER_VERSION, alignment_heads_dump, convert
from audiohook_server.speech.encoder_window import EncoderWindow
from audiohook_server.speech.model_files import ModelNotFoundError, default_cache_dir
from audiohook_server.speech.transcriber import Transcription, decode_in_window, whisper_language
from protocol.events import Word

log = logging.getLogger(__name__)

FINAL_TEMPERATURES = (0.0, 0.2, 0.4, 0.6)  # as FasterWhisperTranscriber
_INSTALL_HINT = "openai-whisper is not installed: pip install openai-whisper==20250625"


def default_threads() -> int:
    """torch threads for Whisper: every usable CPU when OpenMP waits passively, else one fewer (at least 1).

    By default torch's OpenMP threads spin at every barrier, so when all cores are Whisper's, any
    other work (the event loop, VAD, the analysis) stalls the barriers and a transcription gets many
    times slower. Measured on 2 cores with tiny.en, finals per clip: 0.8-1.2 s with 2 threads on an
    idle machine but 8-32 s beside one busy process; with 1 thread 1.6-2.5 s idle, 1.6-3.9 s beside
    it; with 2 threads and `OMP_WAIT_POLICY=PASSIVE` (set before torch is imported) 0.9-1.6 s idle,
    1.6-2.6 s beside it. CTranslate2 does not degrade like that (faster-whisper int8: 0.9-1.1 s beside it).
    """
    cpus = len(os.sched_getaffinity(0))
    if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
        return cpus
    return max(1, cpus - 1)


def _require_whisper() -> None:
    try:
        import whisper  # noqa: F401
    except ImportError as exc:
        raise ModelNotFoundError(_INSTALL_HINT) from exc


def _fingerprint(ct2_dir: Path) -> str:
    """SHA-256 of what the conversion reads, and of the converter's version."""
    digest = hashlib.sha256(f"convert_ct2 v{CONVERTER_VERSION}\n".encode())  # the module's old name: same keys
    for name in ("model.bin", "config.json", "vocabulary.txt", "vocabulary.json"):
        path = ct2_dir / name
        if not path.is_file():
            continue
        digest.update(f"{name}\n".encode())
        with path.open("rb") as f:
            hashlib.file_digest(f, lambda: digest)  # the file's bytes into the same running digest
    return digest.hexdigest()


def resolve_openai_checkpoint(ct2_dir: Path, cache_dir: Path | None = None) -> Path:
    """The openai-whisper checkpoint for a CTranslate2 Whisper model directory, converted once.

    The checkpoint is `<cache_dir>/openai-whisper/<model dir name>-<hash>.pt`, where the hash covers
    the source files and the converter's version: a changed model or converter gives a new file, an
    unchanged one is reused. It is written to a temporary file and renamed, so an interrupted or
    concurrent conversion never leaves half a checkpoint. `cache_dir` defaults to the model cache
    (`model_files.default_cache_dir()`). Raises `ModelNotFoundError` (a `ConversionError`) with what is wrong.
    """
    _require_whisper()
    if not (ct2_dir / "model.bin").is_file():
        raise ModelNotFoundError(f"{ct2_dir} has no model.bin: it must be a CTranslate2 (faster-whisper) model")
    target_dir = (cache_dir or default_cache_dir()) / "openai-whisper"
    target = target_dir / f"{ct2_dir.name}-{_fingerprint(ct2_dir)[:16]}.pt"
    if target.is_file():
        return target
    log.info("converting %s into the openai-whisper checkpoint %s", ct2_dir, target)
    return convert(ct2_dir, target)


class OpenAIWhisperTranscriber:
    """openai-whisper on CPU or CUDA; one model instance shared by all sessions (calls are serialised)."""

    def __init__(
        self,
        checkpoint: Path,
        *,
        device: str = "cpu",
        threads: int = 0,
        beam_size: int = 5,
        warmup: bool = True,
        window: EncoderWindow | None = None,
    ) -> None:
        """Load a checkpoint written by `ct2_checkpoint.convert` (or any openai-whisper checkpoint).

        `threads`: torch intra-op threads for each transcription (0: `default_threads()`).
        `warmup` compiles the numba code of the word-timestamp alignment now (about 1.5 s) instead
        of in the first final.
        """
        _require_whisper()
        import torch
        from whisper.model import ModelDimensions, Whisper

        self.name = f"openai-whisper:{checkpoint.stem}"
        self.beam_size = beam_size
        self.threads = threads if threads > 0 else default_threads()
        self._fp16 = device.startswith("cuda")
        self._lock = threading.Lock()
        self.window = window or EncoderWindow()
        self._frames: int | None = None  # the encoder window of the decode in progress (under the lock)
        try:
            saved: dict[str, Any] = torch.load(checkpoint, map_location=device, weights_only=True)
            dims = ModelDimensions(**saved["dims"])
            model = Whisper(dims)
            model.load_state_dict(saved["model_state_dict"])
            heads = saved.get("alignment_heads")  # absent from official checkpoints: openai-whisper's default
            if heads:
                model.set_alignment_heads(alignment_heads_dump(heads, dims.n_text_layer, dims.n_text_head))
        except (
            OSError,
            EOFError,
            pickle.UnpicklingError,
            AttributeError,
            IndexError,
            KeyError,
            TypeError,
            ValueError,
            RuntimeError,
        ) as exc:
            raise ModelNotFoundError(f"{checkpoint} is not a loadable openai-whisper checkpoint: {exc}") from exc
        self._model = model.to(device).eval()
        _fit_encoder(self._model.encoder, lambda: self._frames)
        self.english_only = not model.is_multilingual
        if warmup:
            self._warm_up()

    @classmethod
    def from_ct2(cls, ct2_dir: Path, *, cache_dir: Path | None = None, **kwargs: Any) -> OpenAIWhisperTranscriber:
        """Convert (once, cached) the CTranslate2 model in `ct2_dir` and load it."""
        return cls(resolve_openai_checkpoint(ct2_dir, cache_dir), **kwargs)

    def _warm_up(self) -> None:
        import torch
        from whisper.timing import dtw

        dtw(torch.rand(8, 8))  # numba compiles its DTW on the first call

    def transcribe(self, audio: npt.NDArray[np.float32], *, language: str | None, final: bool) -> Transcription:
        lang = whisper_language(language, self.english_only)
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        return decode_in_window(
            self.window, len(audio) / 16000, lambda frames, budget: self._decode(audio, lang, final, frames, budget)
        )

    def _decode(
        self, audio: npt.NDArray[np.float32], lang: str | None, final: bool, frames: int | None, budget: int | None
    ) -> tuple[Transcription, list[int]]:
        import torch

        options: dict[str, Any] = {
            "language": lang,
            "task": "transcribe",
            "verbose": None,  # no printing, no progress bar
            "fp16": self._fp16,
            "condition_on_previous_text": False,
        }
        if budget is not None:
            options["sample_len"] = budget
        if final:
            options |= {
                "temperature": FINAL_TEMPERATURES,
                "beam_size": self.beam_size,
                "best_of": 5,  # faster-whisper's default for the sampled fallbacks
                "word_timestamps": True,
            }
        else:
            options |= {"temperature": 0.0, "without_timestamps": True, "word_timestamps": False}
        with self._lock:
            previous = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            self._frames = frames
            try:
                result: dict[str, Any] = self._model.transcribe(audio, **options)
            finally:
                self._frames = None
                torch.set_num_threads(previous)

        segments: list[dict[str, Any]] = result.get("segments", [])
        words = tuple(
            Word(str(w["word"]).strip(), float(w["start"]), float(w["end"]), float(w["probability"]))
            for segment in segments
            for w in segment.get("words", [])
            if str(w["word"]).strip()
        )
        text = " ".join(str(s["text"]).strip() for s in segments if str(s["text"]).strip())
        if words:
            confidence = float(np.mean([w.confidence for w in words]))
        elif segments:
            confidence = math.exp(float(np.mean([s["avg_logprob"] for s in segments])))
        else:
            confidence = 0.0
        transcription = Transcription(
            text=text, words=words, confidence=min(1.0, confidence), language=str(result.get("language") or lang)
        )
        return transcription, [len(segment.get("tokens", [])) for segment in segments]


def _fit_encoder(encoder: Any, frames: Callable[[], int | None]) -> None:
    """Give openai-whisper's AudioEncoder a forward that reads only `frames()` mel frames (all of them
    when None): the same layers as its own forward, with the positional embedding sliced to the input
    instead of asserting the full 30 s window."""
    import torch.nn.functional as F

    def forward(x: Any) -> Any:
        limit = frames()
        if limit is not None and x.shape[-1] > limit:
            x = x[..., :limit]
        x = F.gelu(encoder.conv1(x))
        x = F.gelu(encoder.conv2(x))
        x = x.permute(0, 2, 1)
        x = (x + encoder.positional_embedding[: x.shape[1]]).to(x.dtype)
        for block in encoder.blocks:
            x = block(x)
        return encoder.ln_post(x)

    encoder.forward = forward
