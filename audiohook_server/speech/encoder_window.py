"""How much audio Whisper's encoder looks at, and the guards that catch a short window going wrong.

Whisper was trained on 30-second windows, and faster-whisper pads every input to one: for a
3-second utterance the encoder spends most of its time on 27 seconds of padding (0.5 s of a 0.6 s
final with tiny.en on one thread). CTranslate2's encoder takes a shorter mel input, so `EncoderWindow`
sizes it to the utterance plus a margin, never under a minimum context (`fit`), or keeps the whole
window (`full`).

The risk is the one the issue measured: with too little context the decoder can loop ("Go forward
10 meters." twenty times) or run on past the audio. So a fitted decode is bounded and checked:
- `max_new_tokens` proportional to the audio (`token_budget`), so a loop costs little;
- `trip_reason` refuses a result with more words than the audio can hold, a repeated phrase, a
  text that compresses like a loop (gzip ratio, as Whisper's own fallback), or one that used up its
  token budget;
and a refused result is decoded again with the full window (counted in `/metrics` by reason).

The margin and minimum are chosen by measurement (`benchmarks/bench_encoder_window.py`; the README
has the table): +2 s and at least 8 s is the smallest window whose pooled fixture WER is within 0.5
points of the full window's for tiny.en and base, at a quarter of the time per final; with less
context the raw decodes loop on short commands (the guards catch them, at the price of decoding twice).
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MARGIN_S",
    "DEFAULT_MINIMUM_S",
    "FULL_WINDOW_FRAMES",
    "EncoderWindow",
    "token_budget",
    "trip_reason",
]

FULL_WINDOW_FRAMES = 3000  # Whisper's 30 s window in mel frames (10 ms each)
MEL_FRAMES_PER_SECOND = 100
MAX_NEW_TOKENS = 224  # Whisper's own bound: half its 448-token context

# A person says at most about 5 words a second (fast read speech: ~4); Whisper tokens per word ~1.3-1.5.
MAX_WORDS_PER_SECOND = 6.0
WORD_ALLOWANCE = 4
TOKENS_PER_SECOND = 10.0
TOKEN_ALLOWANCE = 16
MAX_COMPRESSION_RATIO = 2.4  # Whisper's compression_ratio_threshold
MIN_TEXT_FOR_RATIO = 40  # shorter texts compress badly whatever they say
REPEATS_TO_TRIP = 4  # the same 1-2 word phrase this many times in a row ("no no no no" is rare speech)
LONG_PHRASE_WORDS = 3  # a phrase of this many words or more said twice in a row is a loop
BEYOND_AUDIO_S = 0.5  # a word ending this far past the audio's end was not in the audio

# Chosen by benchmarks/bench_encoder_window.py (README, "Whisper's encoder window"): the smallest
# window whose WER matched the full window's on every fixture set, with no guard tripping.
DEFAULT_MARGIN_S = 2.0
DEFAULT_MINIMUM_S = 8.0


@dataclass(frozen=True)
class EncoderWindow:
    """`fit`: the utterance plus `margin_s`, at least `minimum_s`; `full`: Whisper's 30 s window."""

    mode: str = "fit"
    margin_s: float = DEFAULT_MARGIN_S
    minimum_s: float = DEFAULT_MINIMUM_S

    def __post_init__(self) -> None:
        if self.mode not in ("fit", "full"):
            raise ValueError(f"the encoder window must be fit or full, got {self.mode!r}")
        if not 0 <= self.margin_s <= 30 or not 0 < self.minimum_s <= 30:
            raise ValueError("the encoder margin must be 0-30 s and the minimum context 0-30 s (above 0)")

    @property
    def fits(self) -> bool:
        return self.mode == "fit"

    def frames(self, duration_s: float) -> int | None:
        """Mel frames the encoder gets for `duration_s` of audio (even: the encoder's stride is 2), or
        None for the full window (also when the fitted window would be the full one anyway)."""
        if not self.fits:
            return None
        seconds = max(self.minimum_s, duration_s + self.margin_s)
        frames = 2 * math.ceil(seconds * MEL_FRAMES_PER_SECOND / 2)
        return None if frames >= FULL_WINDOW_FRAMES else frames


def token_budget(duration_s: float) -> int:
    """The most tokens a decode of `duration_s` of speech may produce."""
    return min(MAX_NEW_TOKENS, TOKEN_ALLOWANCE + math.ceil(TOKENS_PER_SECOND * duration_s))


_WORD = re.compile(r"[\w']+")


def trip_reason(
    text: str,
    duration_s: float,
    tokens_per_segment: Sequence[int],
    budget: int,
    word_ends: Sequence[float] = (),
) -> str | None:
    """Why a fitted decode must not be trusted (then it is decoded again with the full window), or None.
    `word_ends`: the words' end times (finals have them), which must lie within the audio."""
    words = _WORD.findall(text.lower())
    if len(words) > WORD_ALLOWANCE + MAX_WORDS_PER_SECOND * duration_s:
        return "too_many_words"
    if word_ends and max(word_ends) > duration_s + BEYOND_AUDIO_S:
        return "beyond_audio"
    if sum(tokens_per_segment) >= budget:
        return "token_budget"
    if _repeats(words):
        return "repetition"
    encoded = text.encode("utf-8", "replace")
    if len(encoded) >= MIN_TEXT_FOR_RATIO and len(encoded) / len(zlib.compress(encoded)) > MAX_COMPRESSION_RATIO:
        return "compression_ratio"
    return None


def _repeats(words: Sequence[str]) -> bool:
    """A loop: a phrase of `LONG_PHRASE_WORDS` or more words said twice in a row ("ten of clubs ten of
    clubs"), or a 1-2 word phrase `REPEATS_TO_TRIP` times in a row ("thank you thank you" is speech)."""
    count = len(words)
    for size in range(1, count // 2 + 1):
        needed = 2 if size >= LONG_PHRASE_WORDS else REPEATS_TO_TRIP
        for start in range(count - needed * size + 1):
            phrase = words[start : start + size]
            if all(words[start + k * size : start + (k + 1) * size] == phrase for k in range(1, needed)):
                return True
    return False
