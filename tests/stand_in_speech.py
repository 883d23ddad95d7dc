"""A stand-in for the speech engine, for fast tests of the logic above it (the call core, the doors, the
client). It is a fake on purpose, and only for those tests: everything it stands in for (Whisper, Vosk,
the MiniLM analysis models) is exercised for real by the end-to-end tests in tests/server/.

What is real here: the VAD pipeline of every channel (webrtcvad and the segmenter, the production
code), the thread pool, and the analysis (the rules-only `lexicon_backend`, no torch). What is a
stand-in: the transcription. `transcribe_final` answers `utterance <N> lasted <seconds> seconds` (the
order it was asked in, and the audio's length), one word per token with even timings, after an optional
scripted delay, or raises for utterances listed in `fail`; partials answer `partial <seconds>s.`, a
whole sentence as Whisper punctuates one (so the pause after it ends the utterance after
`sentence_end_silence_ms`; `partial_text` changes it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analysis import CallAnalyzer
from audiohook_server.speech.pipeline import ChannelPipeline, PartialsMode
from audiohook_server.speech.segmenter import SegmenterConfig
from audiohook_server.speech.transcriber import Transcription
from protocol.audio import MediaFormat
from protocol.events import Word


def stand_in_text(index: int, samples: int, rate: int) -> str:
    return f"utterance {index} lasted {samples / rate:.1f} seconds"


@dataclass
class StandInSpeech:
    """Implements the call core's `Recognizer` and the server's `SpeechService` without any model."""

    delays: Sequence[float] = ()  # seconds each final takes, in the order they are asked for
    fail: frozenset[int] = frozenset()  # finals (1-based) that raise
    empty: frozenset[int] = frozenset()  # finals (1-based) that come back with no text
    partials: bool = True
    partial_busy: bool = False  # every partial is skipped, as when Whisper has finals to do
    partial_text: str = "partial {seconds:.1f}s."  # what a partial says ({seconds}: the audio's length)
    scripted: Sequence[str] = ()  # what the finals say, in the order asked for (then the default text)
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    load_error: BaseException | None = None
    asked: int = 0  # finals asked for so far
    partials_asked: int = 0
    stream_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="stand-in")
    )
    _ready: asyncio.Event | None = None

    # ---- the server's SpeechService ----

    @property
    def ready(self) -> bool:
        return self._ready is not None and self._ready.is_set()

    @property
    def serving(self) -> bool:
        return self.ready and self.load_error is None

    def _event(self) -> asyncio.Event:
        if self._ready is None:
            self._ready = asyncio.Event()
        return self._ready

    async def load(self) -> None:
        self._event().set()

    def new_analyzer(self, goal: str = "") -> CallAnalyzer:
        return CallAnalyzer(goal=goal)

    def new_speakers(self, media: MediaFormat) -> None:
        return None  # no voices to tell apart in a stand-in's audio

    def close(self) -> None:
        self.stream_pool.shutdown(wait=False, cancel_futures=True)

    # ---- the call core's Recognizer ----

    async def wait_ready(self) -> None:
        await self._event().wait()
        if self.load_error is not None:
            raise RuntimeError(f"speech models failed to load: {self.load_error}")

    def channel_pipeline(self, channel: int, rate: int) -> ChannelPipeline:
        mode = PartialsMode.WHISPER if self.partials else PartialsMode.OFF
        return ChannelPipeline(channel, rate, self.segmenter, partials=mode, partial_interval_s=0.5)

    async def transcribe_final(
        self, samples: npt.NDArray[np.int16], rate: int, language: str | None, *, call: str = "", fallback: str = "en"
    ) -> Transcription:
        self.asked += 1
        index = self.asked
        delay = self.delays[index - 1] if index <= len(self.delays) else 0.0
        if delay:
            await asyncio.sleep(delay)
        if index in self.fail:
            raise RuntimeError(f"stand-in failure of final {index}")
        if index in self.empty:
            return Transcription("", (), 0.0, language or "en")
        text = self.scripted[index - 1] if index <= len(self.scripted) else stand_in_text(index, len(samples), rate)
        return _transcription(text, len(samples) / rate, language or fallback)

    def try_transcribe_partial(
        self, samples: npt.NDArray[np.int16], rate: int, language: str | None, *, call: str = ""
    ) -> asyncio.Future[Transcription] | None:
        if self.partial_busy:
            return None
        self.partials_asked += 1
        future: asyncio.Future[Transcription] = asyncio.get_running_loop().create_future()
        seconds = len(samples) / rate
        future.set_result(_transcription(self.partial_text.format(seconds=seconds), seconds, language))
        return future


def _transcription(text: str, seconds: float, language: str | None) -> Transcription:
    tokens = text.split()
    step = seconds / max(1, len(tokens))
    words = tuple(Word(token, i * step, (i + 1) * step, 0.9) for i, token in enumerate(tokens))
    return Transcription(text, words, 0.9, language or "en")
