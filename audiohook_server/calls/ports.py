"""What the call core needs from the rest of the server: three small interfaces and a refusal value.

- `Recognizer`: speech for the whole process (models loaded once): a VAD pipeline per channel, Whisper
  finals (never skipped) and partials (skipped when Whisper is busy). `SpeechEngine` is the real one;
  tests use a stand-in that needs no model.
- `Analyzer`: the analysis of one call (`analysis.CallAnalyzer`).
- `ExportSink`: where one call's results go (`SessionFiles`).
- `SpeechService`: the recognizer as the server holds it (loading, readiness, the worker pool, a new
  analyzer per call, shutdown).
- `CallMonitor`: who watches the call live besides its client (the supervisor floor, `ui.floor`):
  told each partial and final as the files show it (redacted by the files' policy), on the event loop.
`Refusal` is how the core says "not now" to audio it cannot take (backpressure): a value the door
turns into its dialect's error, never an exception thrown through the transport.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from analysis import CallAnalysis, Utterance, UtteranceAnalysis
from audiohook_server.calls.speakers import CallSpeakers
from audiohook_server.calls.transcript_csv import TranscriptRow
from audiohook_server.speech.pipeline import ChannelPipeline
from audiohook_server.speech.transcriber import Transcription
from protocol.audio import MediaFormat
from protocol.events import SpeakerUpdate, TranscriptUpdate

__all__ = ["Analyzer", "CallMonitor", "ExportSink", "Recognizer", "Refusal", "SpeechService"]


@dataclass(frozen=True)
class Refusal:
    """Audio the core will not take: `code` is the AudioHook error code (503: overloaded)."""

    code: int
    message: str


class Recognizer(Protocol):
    async def wait_ready(self) -> None:
        """Until the models are loaded; raises when loading failed."""
        ...

    def channel_pipeline(self, channel: int, rate: int) -> ChannelPipeline:
        """A new VAD/segmenter (and streaming-partials) pipeline for one channel of one call."""
        ...

    async def transcribe_final(
        self, samples: npt.NDArray[np.int16], rate: int, language: str | None, *, call: str = "", fallback: str = "en"
    ) -> Transcription:
        """Whisper's final for one utterance of `call` (never skipped; calls take turns); word times from
        the utterance's start. `language` None: detect it (`language_probability` says how sure), or
        transcribe in `fallback` when there is too little to tell."""
        ...

    def try_transcribe_partial(
        self, samples: npt.NDArray[np.int16], rate: int, language: str | None, *, call: str = ""
    ) -> asyncio.Future[Transcription] | None:
        """A partial for the open utterance, or None when the recognizer is busy (partials go first)."""
        ...


class Analyzer(Protocol):
    def add(self, utterance: Utterance) -> UtteranceAnalysis: ...

    @property
    def wants_prosody(self) -> bool:
        """Whether finals should carry their prosody (measured from the audio: the voice emotion is on)."""
        ...

    def analysis(self) -> CallAnalysis | None: ...


class ExportSink(Protocol):
    """Opened before any audio, closed exactly once however the call ends; all in worker threads."""

    def open(self) -> None: ...

    def record(self, samples: npt.NDArray[np.int16]) -> None: ...

    def silence(self, channel: int, start: int, end: int) -> None:
        """Recorded frames `start`..`end` of `channel` are written as silence (recording redaction)."""
        ...

    def release(self, upto: int) -> None:
        """Recorded frames before `upto` may be written (recording redaction holds them until then)."""
        ...

    def add_final(self, row: TranscriptRow) -> None:
        """Durable (fsynced) before it returns: the client is sent the final only after."""
        ...

    def relabel(self, row: int, speaker: str, speaker_id: str, role_confidence: float | None) -> None:
        """Row `row` (0: the first added) was said by `speaker_id` as `speaker` (end-of-call diarization)."""
        ...

    def describe_speakers(self, diarization: dict[str, object]) -> None:
        """The call's diarization, for the summary (written at close)."""
        ...

    @property
    def csv_path(self) -> Path | None:
        """The call's transcript CSV, once opened."""
        ...

    def close(self, analysis: CallAnalysis | None, reason: str) -> None:
        """The call is over (`reason`: completed, disconnected, drained, failed, …): write what is left."""
        ...


class CallMonitor(Protocol):
    """A live watcher of one call. Every method runs on the event loop, must not block and must not
    raise (a watcher's failure is never the call's)."""

    def partial(self, update: TranscriptUpdate) -> None:
        """A partial transcript (its text as the files' redaction policy would show it)."""
        ...

    def final(
        self, utterance_id: str, row: TranscriptRow, result: UtteranceAnalysis, analysis: CallAnalysis | None
    ) -> None:
        """A final as its CSV row has it (redacted for the files), its analysis and the call's."""
        ...

    def speakers(self, update: SpeakerUpdate, analysis: CallAnalysis | None) -> None:
        """The end-of-call diarization relabelled finals (and the analysis may have changed with them)."""
        ...

    def ended(self, reason: str, csv_path: Path | None) -> None:
        """The call's files are complete (`csv_path`: its transcript, None when it has none)."""
        ...


class SpeechService(Recognizer, Protocol):
    """The process's speech engine, as the server holds it."""

    @property
    def stream_pool(self) -> Executor:
        """Worker threads for VAD, analysis and file writes (never the event loop)."""
        ...

    @property
    def serving(self) -> bool:
        """Loaded without error: sessions can be transcribed."""
        ...

    async def load(self) -> None: ...

    def new_analyzer(self, goal: str = "") -> Analyzer:
        """The analysis of one new call; `goal`: what the agent is trying to achieve (the rolling
        summary's recommendations are measured against it)."""
        ...

    def new_speakers(self, media: MediaFormat) -> CallSpeakers | None:
        """One new call's diarization (calls.speakers), or None when it has no diarized channel."""
        ...

    def close(self) -> None: ...
