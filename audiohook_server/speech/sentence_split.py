"""Cutting a final into the sentences its speaker paused between.

Text endpointing (`pipeline`, `--endpointing text`) ends an utterance `sentence_end_silence_ms` into a
pause once a partial says the sentence is over, but only when that partial comes back in time: a
greeting said as "Hi." / "Thanks for contacting the store." / "How can I help you?" with 0.4 s pauses
stays one utterance when the partials are late (Whisper busy with finals, audio sent in 500 ms
frames or faster than real time, a sentence too short to be probed). The final's own transcript can
say the same thing afterwards, and always does: a word ending a sentence (`.`, `?`, `!`), followed by
at least that much silence between the voiced frames (not Whisper's word times, which smear
across pauses), is a cut. Each part becomes a final of its own, with its share of the audio, the
voiced runs and the words, so every later step (timing, redaction, the CSV, the recording hold)
treats it as the utterance it is.

Not a cut: an abbreviation ("Mr. Smith", "Dr."), a single letter ("B. Jones"), a sentence end with a
shorter pause (one breath between two sentences of one thought), or a place where the words cannot
be found in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

from analysis.pii import word_places
from audiohook_server.speech.pipeline import FinalAudio, ends_sentence
from audiohook_server.speech.transcriber import Transcription
from protocol.events import Word

__all__ = ["Cut", "cut_parts", "sentence_parts"]

# Words that end in a full stop without ending a sentence (not "no.", "sat.": those end sentences).
ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "mt", "vs", "etc", "approx", "dept", "inc"}
)


def sentence_parts(
    out: FinalAudio, transcription: Transcription, rate: int, pause_s: float
) -> list[tuple[FinalAudio, Transcription]]:
    """`out` and its transcription cut after each sentence its speaker then paused `pause_s` or more
    after; `[(out, transcription)]` when there is no such place."""
    words, text = transcription.words, transcription.text
    places = word_places(text, [w.text for w in words])
    cuts: list[Cut] = []
    for i in range(len(words) - 1):
        place = places[i]
        if place is None or places[i + 1] is None or not _ends_sentence(words[i].text):
            continue
        sample = _pause(out, words[i], words[i + 1], rate, pause_s)
        if sample is not None and (not cuts or sample > cuts[-1].sample):
            cuts.append(Cut(i + 1, sample, place[1]))
    return cut_parts(out, transcription, rate, cuts)


def cut_parts(
    out: FinalAudio, transcription: Transcription, rate: int, cuts: list[Cut]
) -> list[tuple[FinalAudio, Transcription]]:
    """`out` and its transcription cut at `cuts` (in order), each part with its share of the audio,
    the voiced runs and the words; `[(out, transcription)]` without cuts. Also used to split an
    utterance where its speaker changes (`calls.speakers`)."""
    words, text = transcription.words, transcription.text
    if not cuts:
        return [(out, transcription)]
    edges = [Cut(0, 0, 0), *cuts, Cut(len(words), len(out.samples), len(text))]
    parts: list[tuple[FinalAudio, Transcription]] = []
    for k, (a, b) in enumerate(pairwise(edges)):
        start, end = out.start_sample + a.sample, out.start_sample + b.sample
        shift = a.sample / rate
        own = tuple(Word(w.text, w.start - shift, w.end - shift, w.confidence) for w in words[a.word : b.word])
        voiced = tuple((max(x, start), min(y, end)) for x, y in out.voiced if x < end and y > start)
        audio = replace(
            out,
            samples=out.samples[a.sample : b.sample],
            start_sample=start,
            end_sample=end,
            voiced=voiced,
            part=k,
            last_part=b is edges[-1],
        )
        confidence = min(1.0, float(np.mean([w.confidence for w in own])))
        parts.append(
            (audio, replace(transcription, text=text[a.char : b.char].strip(), words=own, confidence=confidence))
        )
    return parts


@dataclass(frozen=True)
class Cut:
    word: int  # the first word after it
    sample: int  # into the utterance's audio
    char: int  # into its text


def _ends_sentence(word: str) -> bool:
    if not ends_sentence(word):
        return False
    stem = re.sub(r"[^\w]", "", word).lower()
    return not (word.rstrip().endswith(".") and (stem in ABBREVIATIONS or len(stem) == 1))


def _pause(out: FinalAudio, before: Word, after: Word, rate: int, pause_s: float) -> int | None:
    """The middle of the longest silence of at least `pause_s` between the voiced runs whose middle
    lies between the two words' middles (Whisper's word times run into a pause, so the silence may
    reach past them), in samples into `out`'s audio; else None."""
    low = out.start_sample + int((before.start + before.end) / 2 * rate)
    high = out.start_sample + int((after.start + after.end) / 2 * rate)
    best: tuple[int, int] | None = None
    for (_, gap_start), (gap_end, _) in pairwise(out.voiced):
        long_enough = gap_end - gap_start >= pause_s * rate
        longest = best is None or gap_end - gap_start > best[1] - best[0]
        if low <= (gap_start + gap_end) // 2 <= high and long_enough and longest:
            best = (gap_start, gap_end)
    if best is None:
        return None
    return (best[0] + best[1]) // 2 - out.start_sample
