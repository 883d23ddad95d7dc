"""Benchmark: does decoding several calls' finals as one batch beat decoding them one at a time?

CTranslate2's Whisper `encode` and `generate` take a batch. When several utterances wait for Whisper,
they could be encoded and decoded together (each padded to the longest's fitted window). This runs
the encoder and a beam-5 decode (what a final costs, without the word alignment, which is per
utterance either way) on batches of 1, 2, 4 and 8 real utterances, one at a time against batched,
with the thread counts the server uses (2 workers x 1 thread, or 1 worker x 2 threads), and prints
the time per utterance. The server batches only if this shows a win.

    .venv/bin/python benchmarks/bench_whisper_batching.py [--model base] [--window 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiohook_server.audio.resampling import to_whisper_audio  # noqa: E402
from audiohook_server.speech.model_files import resolve_whisper_model  # noqa: E402
from benchmarks.common import machine  # noqa: E402
from tests.speech_fixtures import command_clips, librivox_clips  # noqa: E402


def features(model: object, audio: npt.NDArray[np.float32], frames: int) -> npt.NDArray[np.float32]:
    mel: npt.NDArray[np.float32] = model.feature_extractor(audio)  # type: ignore[attr-defined]
    out = np.zeros((mel.shape[0], frames), np.float32)
    out[:, : min(frames, mel.shape[1])] = mel[:, :frames]
    return out


def decode(model: object, batch: list[npt.NDArray[np.float32]]) -> None:
    """Encode and beam-decode a batch as faster-whisper does a final's first pass."""
    import ctranslate2

    whisper = model.model  # type: ignore[attr-defined]
    tokenizer = model.hf_tokenizer  # type: ignore[attr-defined]
    prompt = [tokenizer.token_to_id(t) for t in ("<|startoftranscript|>",)]
    if whisper.is_multilingual:
        prompt += [tokenizer.token_to_id("<|en|>"), tokenizer.token_to_id("<|transcribe|>")]
    encoded = whisper.encode(ctranslate2.StorageView.from_array(np.stack(batch)), to_cpu=False)
    whisper.generate(encoded, [prompt] * len(batch), beam_size=5, max_length=224, return_scores=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="base")
    parser.add_argument("--window", type=float, default=10.0, help="encoder window in seconds (30: full)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from faster_whisper import WhisperModel

    print(f"machine: {machine()}")
    clips = [to_whisper_audio(s, 16000) for _, s, _ in librivox_clips() + command_clips()][:8]
    frames = int(args.window * 100)
    print(f"model {args.model}, encoder window {args.window:.0f} s, {len(clips)} utterances, beam 5")
    print(f"{'layout':<22} {'batch':>5} {'one at a time':>15} {'batched':>10} {'speed-up':>9}")
    for workers, threads in ((2, 1), (1, 2)):
        model = WhisperModel(
            str(resolve_whisper_model(args.model)),
            compute_type="int8",
            cpu_threads=threads,
            num_workers=workers,
            local_files_only=True,
        )
        mels = [features(model, clip, frames) for clip in clips]
        decode(model, mels[:1])  # warm-up
        for size in (1, 2, 4, 8):
            singles, batches = [], []
            for _ in range(args.rounds):
                with ThreadPoolExecutor(workers) as pool:
                    started = time.perf_counter()
                    list(pool.map(lambda m, w=model: decode(w, [m]), mels[:size]))
                    singles.append((time.perf_counter() - started) / size)
                    started = time.perf_counter()
                    halves = [mels[:size][i::workers] for i in range(workers)]
                    list(pool.map(lambda part, w=model: decode(w, part) if part else None, halves))
                    batches.append((time.perf_counter() - started) / size)
            one, many = statistics.median(singles), statistics.median(batches)
            layout = f"{workers} worker(s) x {threads} thread(s)"
            print(f"{layout:<22} {size:>5} {one:>13.3f} s {many:>8.3f} s {one / many:>8.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
