"""Which language each channel of a call is transcribed in: named by the caller, or detected.

A language the caller names is obeyed for every utterance (until a Genesys `update` changes it). In
`auto`, each channel decides for itself (a customer and an agent may not speak the same language):

- **Deciding.** Every final is detected (`None` to the recognizer: the multilingual model's language
  token among the supported languages, then the model for that language transcribes it). An
  utterance with at least `MIN_SPEECH_S` of speech and two words counts as evidence, weighted by its
  detection probability; the channel's language is fixed once one language holds `DECIDE_WEIGHT` of
  evidence and `DECIDE_SHARE` of all of it, or after `DECIDE_AFTER` counted utterances, whichever is
  first. Until then each final is transcribed in the language detected for it.
- **Fixed.** Finals go straight to the model for the channel's language (English: the fast English
  model, no detection). Every `RECHECK_EVERY`-th counted utterance, and the one after a final whose
  confidence is below `LOW_CONFIDENCE` (the English model reading another language stays below it:
  0.46-0.62 on the foreign clips measured, 0.87 on English), is detected again; `SWITCH_AFTER`
  rechecks in a row that find another language with at least `SWITCH_PROBABILITY` switch the channel
  to it (code-switching callers exist), so one odd utterance never does.

Partials use the channel's language, or its leading candidate while it is deciding: detecting for every
partial would cost an encoder pass each time. A channel with no evidence yet (its first words, or an
utterance too short to tell) borrows the call's other channel's language (`call_fallback`: the agent's
"Buongiorno" when the customer's first word is "Buongiorno."), else the first supported language. No I/O, no models:
the call core feeds it what the recognizer said.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from audiohook_server.speech.transcriber import Transcription
from protocol.languages import AUTO

MIN_SPEECH_S = 1.0
DECIDE_WEIGHT = 1.6  # about two confident utterances
DECIDE_SHARE = 0.75
DECIDE_AFTER = 4
RECHECK_EVERY = 6
LOW_CONFIDENCE = 0.65
SWITCH_AFTER = 2
SWITCH_PROBABILITY = 0.8


@dataclass
class ChannelLanguage:
    """One channel's language: `requested` is a bare code, or `auto`."""

    requested: str = AUTO
    fallback: str = "en"  # auto with nothing to go on yet (the first supported language)
    decided: str | None = field(default=None, init=False)
    probability: float | None = field(default=None, init=False)  # the evidence's share for `decided`
    evidence: dict[str, float] = field(default_factory=lambda: defaultdict(float), init=False)
    counted: int = field(default=0, init=False)  # utterances that counted as evidence while deciding
    _recheck: bool = field(default=False, init=False)
    _since_check: int = field(default=0, init=False)  # counted finals since the channel was last detected
    _strikes: tuple[str, int] = field(default=("", 0), init=False)  # another language, rechecks in a row

    @property
    def auto(self) -> bool:
        return self.requested == AUTO

    @property
    def current(self) -> str:
        """The language the channel is being transcribed in: named, decided, leading, or the fallback."""
        if not self.auto:
            return self.requested
        if self.decided is not None:
            return self.decided
        if self.evidence:
            return max(self.evidence.items(), key=lambda item: item[1])[0]
        return self.fallback

    def for_final(self) -> str | None:
        """The language to transcribe the next final in; None: detect it."""
        if not self.auto:
            return self.requested
        if self.decided is None or self._recheck:
            return None
        return self.decided

    @property
    def known(self) -> bool:
        """Whether anything says what this channel speaks: named, decided, or some evidence."""
        return not self.auto or self.decided is not None or bool(self.evidence)

    def reported_probability(self, transcription: Transcription) -> float | None:
        """The probability events carry with a final: the detection's own, else the channel decision's
        (None when the caller named the language)."""
        if transcription.language_probability is not None:
            return transcription.language_probability
        return self.probability if self.auto else None

    def observe(self, transcription: Transcription, speech_s: float, words: int) -> None:
        """A final came back: weigh its detection (if it had one) and its confidence."""
        if not self.auto:
            return
        counts = speech_s >= MIN_SPEECH_S and words >= 2
        detected = transcription.language_probability is not None
        if self.decided is None:
            if detected and counts:
                self._weigh(transcription.language, transcription.language_probability or 0.0)
            return
        if detected:
            self._recheck = False
            self._since_check = 0
            if counts:
                self._check(transcription.language, transcription.language_probability or 0.0)
        elif counts:
            self._since_check += 1
            if self._since_check >= RECHECK_EVERY or transcription.confidence < LOW_CONFIDENCE:
                self._recheck = True

    def set_requested(self, language: str) -> None:
        """The caller changed the language (`update`): obeyed from the next final; `auto` starts over."""
        self.requested = language
        self.decided = None
        self.probability = None
        self.evidence.clear()
        self.counted = 0
        self._recheck = False
        self._since_check = 0
        self._strikes = ("", 0)

    def _weigh(self, language: str, probability: float) -> None:
        self.evidence[language] += probability
        self.counted += 1
        total = sum(self.evidence.values())
        best, weight = max(self.evidence.items(), key=lambda item: item[1])
        share = weight / total if total > 0 else 0.0
        if (weight >= DECIDE_WEIGHT and share >= DECIDE_SHARE) or self.counted >= DECIDE_AFTER:
            self.decided = best
            self.probability = round(share, 4)

    def _check(self, language: str, probability: float) -> None:
        if language == self.decided or probability < SWITCH_PROBABILITY:
            self._strikes = ("", 0)
            return
        other, strikes = self._strikes
        strikes = strikes + 1 if other == language else 1
        self._strikes = (language, strikes)
        self._recheck = strikes < SWITCH_AFTER  # the next one says whether it was one odd utterance
        if strikes >= SWITCH_AFTER:
            self.decided = language
            self.probability = round(probability, 4)
            self._strikes = ("", 0)


def call_fallback(channels: list[ChannelLanguage], channel: int) -> str:
    """What to transcribe `channel` in when its own detection cannot tell: its language if anything is
    known of it, else that of another channel of the call that is known, else its fallback."""
    own = channels[channel]
    if own.known:
        return own.current
    other = next((c for c in channels if c is not own and c.known), None)
    return other.current if other is not None else own.current
