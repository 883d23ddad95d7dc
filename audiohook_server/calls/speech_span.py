"""Where an utterance's speech is on the stream timeline: its first word to its last, not its audio.

The audio an utterance hands to Whisper is wider than the speech in it: the VAD's pre-roll before
(so the first syllable is not clipped) and up to `padding_ms` of the trailing silence after. Genesys
checks a transcript's `offset`/`duration` against the speech, and every door and the CSV report the
same span, so a final is timed by what was said in it, from two sources that fail differently:
- Whisper's word timings say which words there are and roughly where, but the first word's start is
  usually pinned to the start of the audio (inside the pre-roll), a long first word can start late,
  and the last word's end often runs on into the trailing silence;
- the VAD's voiced frames (`FinalAudio.voiced`, 10-30 ms each) say exactly where there is sound,
  but not which of it is words (a cough, a breath before the first word).
So the span starts where the sound that holds the first word starts, and ends where the sound that holds
the last word ends: voiced runs closer than `JOIN_GAP_S` make one stretch of sound (the gaps inside
words and between the words of a phrase), and the stretch a word overlaps most is its own. A word no
voiced frame overlaps keeps Whisper's time, except last words that only repeat an earlier word of the
final (Whisper's repetition into the silence after a short word: "Right. Right. Right."), which are not
speech; with no words the voiced frames are the span, with neither the whole audio. The words are fitted
inside the span (the first starts where the final starts, the last ends where it ends), so a final's
bounds and its words' always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiohook_server.speech.pipeline import FinalAudio
from protocol.events import Word

__all__ = ["JOIN_GAP_S", "SpeechSpan", "speech_span"]

# Voiced runs this close are one stretch of sound: longer than the closures inside words and the
# joins between the words of a phrase, shorter than a pause before a new start (or after a cough).
JOIN_GAP_S = 0.3


@dataclass(frozen=True)
class SpeechSpan:
    """A final's speech in stream seconds, and its words on the stream timeline, inside it."""

    start: float
    end: float
    words: tuple[Word, ...]


def speech_span(out: FinalAudio, words: tuple[Word, ...], rate: int) -> SpeechSpan:
    """The span of `out`'s speech, given its words (seconds from the start of its audio)."""
    audio = (out.start_sample / rate, out.end_sample / rate)
    stretches = _stretches([(a / rate, b / rate) for a, b in out.voiced])
    placed = [_clamped(word.shifted(audio[0]), *audio) for word in words]
    if placed:
        spoken = _without_silent_repeats(placed, stretches)
        first = _holding(stretches, spoken[0])
        last = _holding(stretches, spoken[-1])
        start = first[0] if first else spoken[0].start
        end = last[1] if last else max(word.end for word in spoken)
        if end <= start:  # the sources disagree beyond repair: Whisper's words alone
            start, end = placed[0].start, max(word.end for word in placed)
    elif stretches:
        start, end = stretches[0][0], stretches[-1][1]
    else:
        start, end = audio
    start, end = max(audio[0], start), min(audio[1], max(start, end))
    return SpeechSpan(start, end, _fitted(placed, start, end))


def _stretches(runs: list[tuple[float, float]]) -> list[tuple[float, float]]:
    joined: list[tuple[float, float]] = []
    for start, end in runs:
        if joined and start - joined[-1][1] <= JOIN_GAP_S:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined


def _without_silent_repeats(words: list[Word], stretches: list[tuple[float, float]]) -> list[Word]:
    """`words` less the last ones that repeat an earlier word of the final with no sound under them:
    Whisper's repetition into the silence after a short word ("Right. Right. Right." for one "Right."),
    which is not speech. A last word with no sound that says something new keeps Whisper's time (a
    quiet word the VAD missed)."""
    kept = list(words)
    while len(kept) > 1 and _holding(stretches, kept[-1]) is None and _bare(kept[-1]) in {_bare(w) for w in kept[:-1]}:
        kept.pop()
    return kept


def _bare(word: Word) -> str:
    return "".join(c for c in word.text.lower() if c.isalnum())


def _holding(stretches: list[tuple[float, float]], word: Word) -> tuple[float, float] | None:
    """The stretch of sound `word` overlaps most (None: it overlaps none)."""
    best, overlap = None, 0.0
    for stretch in stretches:
        shared = min(stretch[1], word.end) - max(stretch[0], word.start)
        if shared > overlap:
            best, overlap = stretch, shared
    return best


def _clamped(word: Word, start: float, end: float) -> Word:
    a = min(max(word.start, start), end)
    return Word(word.text, a, min(max(word.end, a), end), word.confidence)


def _fitted(words: list[Word], start: float, end: float) -> tuple[Word, ...]:
    """`words` inside [start, end], the first starting at `start` and the last ending at `end`."""
    fitted = [_clamped(word, start, end) for word in words]
    if fitted:
        first, last = fitted[0], fitted[-1]
        fitted[0] = Word(first.text, start, max(first.end, start), first.confidence)
        last = fitted[-1]
        fitted[-1] = Word(last.text, min(last.start, end), end, last.confidence)
    return tuple(fitted)
