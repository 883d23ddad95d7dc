"""The scripted two-voice call, and how to score a Genesys session's transcripts against its script.

`tests/fixtures/dialogue/call_stereo8k_ulaw.wav` holds the call as Genesys would stream it (8 kHz,
channel 0 = customer = external, channel 1 = agent = internal) and `call.json` its script with
per-turn timings. The helpers here map transcripts back onto script turns by their words (not by time,
so that the channel and the offset checks stay independent of each other).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from audiohook_server.audio.wav_files import read_wav
from audiohook_server.client.genesys import TranscriptEntity
from benchmarks.wer import normalize_text, word_error_rate

DIALOGUE = Path(__file__).resolve().parent / "fixtures" / "dialogue"
RATE = 8000
SPEAKER_OF_CHANNEL = {"external": "customer", "internal": "agent"}
COLUMN_OF_CHANNEL = {"external": 0, "internal": 1}  # in the fixture WAV


@dataclass(frozen=True)
class Turn:
    index: int
    speaker: str  # "agent" | "customer"
    text: str
    start: float
    end: float

    @property
    def words(self) -> list[str]:
        return normalize_text(self.text).split()


@cache
def script() -> tuple[Turn, ...]:
    data = json.loads((DIALOGUE / "call.json").read_text())
    return tuple(Turn(t["index"], t["speaker"], t["text"], float(t["start"]), float(t["end"])) for t in data["turns"])


@cache
def call_audio() -> npt.NDArray[np.int16]:
    """The stereo call, int16 (frames, 2): column 0 customer/external, column 1 agent/internal."""
    samples, rate = read_wav(DIALOGUE / "call_stereo8k_ulaw.wav")
    assert rate == RATE and samples.shape[1] == 2
    return samples


def columns_for(channels: Sequence[str], samples: npt.NDArray[np.int16] | None = None) -> npt.NDArray[np.int16]:
    """The call's columns in the order of the selected channels (the wire order)."""
    audio = call_audio() if samples is None else samples
    return np.ascontiguousarray(audio[:, [COLUMN_OF_CHANNEL[c] for c in channels]])


def turns_within(end_s: float) -> list[Turn]:
    """The script turns that are wholly inside the first `end_s` seconds."""
    return [t for t in script() if t.end <= end_s]


def speaker_of(final: TranscriptEntity, channels: Sequence[str]) -> str:
    return SPEAKER_OF_CHANNEL[channels[final.channel_id]]


def assign_turns(
    finals: Sequence[TranscriptEntity], turns: Sequence[Turn], shift: Callable[[float], float] = lambda t: 0.0
) -> list[tuple[TranscriptEntity, Turn, int]]:
    """(final, its script turn, words in common) for each final: the turn sharing the most words.

    Ties (and finals sharing no word with any turn) go to the turn nearest in time on the stream
    timeline (`shift(t)` is the gap inserted before fixture time `t`).
    """
    out = []
    for final in finals:
        bag = Counter(normalize_text(final.transcript).split())

        def key(turn: Turn, bag: Counter[str] = bag, final: TranscriptEntity = final) -> tuple[int, float]:
            common = sum((bag & Counter(turn.words)).values())
            return common, -abs(final.offset - (turn.start + shift(turn.start)))

        best = max(turns, key=key)
        out.append((final, best, key(best)[0]))
    return out


def wer(finals: Sequence[TranscriptEntity], turns: Sequence[Turn]) -> float:
    reference = " ".join(t.text for t in turns)
    hypothesis = " ".join(f.transcript for f in sorted(finals, key=lambda f: f.offset))
    return word_error_rate([reference], [hypothesis])


def right_channel_share(
    finals: Sequence[TranscriptEntity], turns: Sequence[Turn], channels: Sequence[str]
) -> tuple[float, list[str]]:
    """Share of final words whose channel's speaker is the speaker of their script turn; the misplaced."""
    right = total = 0
    wrong: list[str] = []
    for final, turn, _ in assign_turns(finals, turns):
        n = len(normalize_text(final.transcript).split())
        total += n
        if speaker_of(final, channels) == turn.speaker:
            right += n
        else:
            wrong.append(f"{final.transcript!r} on {channels[final.channel_id]} is {turn.speaker}'s turn {turn.index}")
    return (right / total if total else 0.0), wrong


def offset_errors(
    finals: Sequence[TranscriptEntity], turns: Sequence[Turn], shift: Callable[[float], float] = lambda t: 0.0
) -> dict[int, float]:
    """Per script turn: first final's offset minus (turn start + gap before it), for confidently matched turns."""
    first: dict[int, float] = {}
    for final, turn, common in assign_turns(finals, turns, shift):
        if common >= 2 or (common >= 1 and len(turn.words) <= 4):
            first[turn.index] = min(first.get(turn.index, final.offset), final.offset)
    by_index = {t.index: t for t in turns}
    return {i: offset - (by_index[i].start + shift(by_index[i].start)) for i, offset in first.items()}


def median_abs(values: Sequence[float]) -> float:
    return statistics.median(abs(v) for v in values) if values else float("inf")


def librivox_stereo_call(gap_s: float = 0.8) -> tuple[npt.NDArray[np.int16], list[tuple[int, float, float, str]]]:
    """Real speech never used for tuning, as a telephone call: the five LibriVox clips as alternating
    turns (external, internal, external, …), resampled to 8 kHz and μ-law coded, the other channel silent.

    Returns (frames, 2) int16 audio at 8 kHz and (channel, start, end, text) per turn.
    """
    import json

    from audiohook_server.audio.resampling import resample
    from audiohook_server.audio.wav_files import read_wav
    from audiohook_server.client.genesys import ulaw_encode
    from protocol.audio import decode_ulaw

    folder = Path(__file__).parent / "fixtures" / "librivox"
    transcripts: dict[str, str] = json.loads((folder / "transcripts.json").read_text())
    lead = np.zeros(4000, np.int16)
    columns: list[list[npt.NDArray[np.int16]]] = [[lead], [lead]]
    turns: list[tuple[int, float, float, str]] = []
    position = 0.5
    for index, name in enumerate(sorted(transcripts)):
        clip, rate = read_wav(folder / name)
        phone = decode_ulaw(ulaw_encode(resample(clip[:, 0], rate, 8000)))
        channel = index % 2
        columns[channel].append(phone)
        columns[1 - channel].append(np.zeros(len(phone), np.int16))
        turns.append((channel, position, position + len(phone) / 8000, transcripts[name]))
        gap = np.zeros(int(gap_s * 8000), np.int16)
        columns[0].append(gap)
        columns[1].append(gap)
        position += (len(phone) + len(gap)) / 8000
    return np.stack([np.concatenate(columns[0]), np.concatenate(columns[1])], axis=1), turns
