"""Benchmark: Whisper's encoder window sized to the utterance, against the full 30 s window.

For each model and each encoder-window setting, decodes every fixture utterance as a final (beam 5,
word timestamps, one CPU thread: what one Whisper worker does) and prints WER per fixture set and
over all of them pooled (`all`: the sets are small, one word is 1-4 points of a set's WER), the
decode time in all, and how many fitted decodes the guards refused (decoded again with the full
window). Each fitted setting is run twice: through the guards (what the server does) and without
them (the raw fitted decode), which shows what the guards catch. Sets:

- librivox: the five LibriVox read-speech clips (3-7 s), 16 kHz, and `@8k`: the same after 8 kHz μ-law;
- commands: six short commands (1-3.5 s: card names, "go forward ten meters"), 16 kHz and `@8k`;
- dialogue: the ten turns of the scripted two-voice call (espeak-ng), each cut with 0.3 s around it,
  from the 16 kHz mix and (`@8k`) from its own channel of the 8 kHz μ-law stereo file.

    .venv/bin/python benchmarks/bench_encoder_window.py [--models tiny.en,base]

The margin and minimum the server uses (`--encoder-margin-s`, `--encoder-min-s`) come from this table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiohook_server.audio.resampling import resample, to_whisper_audio  # noqa: E402
from audiohook_server.audio.wav_files import read_wav  # noqa: E402
from audiohook_server.client.genesys import ulaw_encode  # noqa: E402
from audiohook_server.speech.encoder_window import EncoderWindow, token_budget  # noqa: E402
from audiohook_server.speech.model_files import resolve_whisper_model  # noqa: E402
from audiohook_server.speech.transcriber import FasterWhisperTranscriber, Transcription  # noqa: E402
from benchmarks.common import machine  # noqa: E402
from benchmarks.wer import word_error_rate  # noqa: E402
from protocol.audio import decode_ulaw  # noqa: E402
from tests.speech_fixtures import DIALOGUE, command_clips, librivox_clips, read_pcm16  # noqa: E402

# (margin_s, minimum_s) settings tried; the full window is always the first row.
GRID = [(1.0, 3.0), (2.0, 5.0), (2.0, 8.0), (2.0, 10.0), (2.0, 12.0), (3.0, 15.0)]


@dataclass(frozen=True)
class Utterance:
    audio: npt.NDArray[np.float32]  # 16 kHz float, as the engine gives Whisper
    reference: str


def telephone(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    """16 kHz speech as a Genesys call carries it: 8 kHz μ-law, then back to Whisper's 16 kHz."""
    return to_whisper_audio(decode_ulaw(ulaw_encode(resample(samples, 16000, 8000))), 8000)


def fixture_sets() -> dict[str, list[Utterance]]:
    sets: dict[str, list[Utterance]] = {}
    for name, clips in (("librivox", librivox_clips()), ("commands", command_clips())):
        sets[name] = [Utterance(to_whisper_audio(samples, 16000), text) for _, samples, text in clips]
        sets[f"{name}@8k"] = [Utterance(telephone(samples), text) for _, samples, text in clips]
    mono, rate = read_pcm16(DIALOGUE / "call_mono16k.wav")
    stereo, stereo_rate = read_wav(DIALOGUE / "call_stereo8k_ulaw.wav")
    turns = json.loads((DIALOGUE / "call.json").read_text())["turns"]
    sets["dialogue"], sets["dialogue@8k"] = [], []
    for turn in turns:
        start, end = max(0.0, turn["start"] - 0.3), turn["end"] + 0.3
        sets["dialogue"].append(
            Utterance(to_whisper_audio(mono[int(start * rate) : int(end * rate)], rate), turn["text"])
        )
        column = stereo[int(start * stereo_rate) : int(end * stereo_rate), turn["channel_stereo"]]
        sets["dialogue@8k"].append(Utterance(to_whisper_audio(np.ascontiguousarray(column), stereo_rate), turn["text"]))
    return sets


def finals(transcriber: FasterWhisperTranscriber) -> Callable[[npt.NDArray[np.float32]], Transcription]:
    """What the server does with an ended utterance: a final through the guards."""
    return lambda audio: transcriber.transcribe(audio, language="en", final=True)


def unguarded(transcriber: FasterWhisperTranscriber) -> Callable[[npt.NDArray[np.float32]], Transcription]:
    """The fitted decode as it comes, without the guards or the fallback (for the comparison only)."""

    def decode(audio: npt.NDArray[np.float32]) -> Transcription:
        frames = transcriber.window.frames(len(audio) / 16000)
        return transcriber._decode(audio, "en", True, frames, token_budget(len(audio) / 16000))[0]

    return decode


def measure(decode: Callable[[npt.NDArray[np.float32]], Transcription], sets: dict[str, list[Utterance]]) -> str:
    cells, elapsed, fallbacks, count = [], 0.0, 0, 0
    all_references: list[str] = []
    all_hypotheses: list[str] = []
    for utterances in sets.values():
        hypotheses = []
        for utterance in utterances:
            started = time.perf_counter()
            result = decode(utterance.audio)
            elapsed += time.perf_counter() - started
            fallbacks += result.fallback is not None
            count += 1
            hypotheses.append(result.text)
        cells.append(f"{word_error_rate([u.reference for u in utterances], hypotheses):6.1%}")
        all_references += [u.reference for u in utterances]
        all_hypotheses += hypotheses
    cells.append(f"{word_error_rate(all_references, all_hypotheses):6.1%}")  # every set's words pooled
    return f"{' '.join(cells)}  {elapsed:6.1f} s  {elapsed / count:5.2f} s  {fallbacks:3d}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="tiny.en,base")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    sets = fixture_sets()
    print("sets: " + ", ".join(f"{name} ({len(items)})" for name, items in sets.items()))
    header = " ".join(f"{name[:11]:>6}" for name in [*sets, "all"])
    for model in args.models.split(","):
        directory = resolve_whisper_model(model)
        print(f"\n{model}: WER by set {header}   total   per utt  fallbacks")
        full = FasterWhisperTranscriber(directory, cpu_threads=1, window=EncoderWindow("full"))
        full.transcribe(np.zeros(16000, np.float32), language="en", final=True)  # warm-up
        print(f"  {'full window':<26}" + measure(finals(full), sets))
        for margin, minimum in GRID:
            fitted = FasterWhisperTranscriber(directory, cpu_threads=1, window=EncoderWindow("fit", margin, minimum))
            label = f"fit +{margin:.1f} s, >= {minimum:.0f} s"
            print(f"  {label + ', guarded':<26}" + measure(finals(fitted), sets))
            print(f"  {label + ', raw':<26}" + measure(unguarded(fitted), sets), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
