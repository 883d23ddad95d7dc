"""One call's processing, whatever the door: audio in, transcript updates out, analysis and exports.

`CallCore` is created when a session starts and finished when it ends, however it ends (a `close`, a
dropped connection, a protocol error, a server shutdown): `finish()` flushes the open utterances,
waits for their finals and closes the exports, so nothing the caller said is lost.

Flow, per call:
    submit(audio) / submit_gap() -> audio queue -> [worker] record + each channel's VAD pipeline
        -> partials: sent at once (Vosk) or after a skippable recognizer pass
        -> finals: recognizer futures in utterance order -> cut into the sentences its speaker paused
           between (speech.sentence_split) -> each timed by its speech, first word to last
           (calls.speech_span) -> [worker] analysis + CSV row + journal -> emit
The audio task and the finals task run side by side, so one utterance can be transcribed while the
next is being segmented; finals still go out in the order the utterances ended. Gaps (a pause,
discarded audio) travel through the same queue as the audio, so they take effect exactly between the
samples around them: they end the open utterances and move later positions along the stream timeline.
A partial never follows its utterance's final. Results go out as dialect-neutral `TranscriptUpdate`s;
the door's session formats them. A `monitor` (the supervisor floor, `ui.floor`) is told the same
partials and finals, with their text as the files show it (the files' redaction policy, which may be
stricter than the events'), and when the call's files are complete.

Languages (`calls.language_choice`): each channel's finals are transcribed in the language the caller
named, or, in `auto`, in the language detected for the channel; a final in another language than
English carries Whisper's English translation, which the analysis reads (the transcript, the events
and the CSV keep the original, the CSV and the events give the translation beside it).

Redaction (`calls.redaction`): each final is read by the call's `CallRedactor` in the finals worker
before anything is written: the CSV row, the journal line and the analysis get the text with the
policy's entities replaced, the client gets it too when `events` is in the policy, and the spans'
audio is silenced in the recording, which is held in memory until every utterance before the
release point has its final (`_release_recording`). A final that ends in digits nothing has claimed
("it's 4 2 8 1 2 4 3 5") waits, with every final after it, for its speaker's next final, which may
show the whole was a card (`Redaction.revises`); it goes out as it is after `HOLD_WALL_S` without
one, or once its speaker has moved on. A Genesys secure pause becomes a CSV row.

Backpressure is a value: `submit` returns a `Refusal` when the call has more audio waiting than its
budget, and the door answers it in its dialect. Everything blocking (VAD, file writes, analysis) runs
on the `executor`; the event loop only moves data between queues.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from analysis import CallAnalysis, Utterance, UtteranceAnalysis, prosody
from analysis.pii import CallRedactor, Entity, PersonNames, Redaction, TimedWord, word_places
from analysis.pii.redactor import CONTINUATION_SECONDS
from audiohook_server.calls.language_choice import ChannelLanguage, call_fallback
from audiohook_server.calls.ports import Analyzer, CallMonitor, ExportSink, Recognizer, Refusal
from audiohook_server.calls.redaction import RECORDING_MARGIN_S, RedactionPolicy
from audiohook_server.calls.speakers import CallSpeakers, SpeakerChoice
from audiohook_server.calls.speech_span import SpeechSpan, speech_span
from audiohook_server.calls.transcript_csv import RUNNING_COLUMNS, TranscriptRow, live_columns
from audiohook_server.metrics import ServerMetrics
from audiohook_server.speech.pipeline import (
    ChannelOutput,
    ChannelPipeline,
    FinalAudio,
    PartialAudio,
    PartialText,
    UtteranceDropped,
)
from audiohook_server.speech.sentence_split import sentence_parts
from audiohook_server.speech.transcriber import Transcription
from protocol.audio import MediaFormat, speaker_for_channel
from protocol.events import SpeakerUpdate, TranscriptUpdate, Word

__all__ = ["CallCore", "Emit"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# What the core publishes: each transcript update, the call's analysis as of it (None until 5 words of
# final text exist), and for a final its own analysis (sentiment, emotion, category hits).
Emit = Callable[[TranscriptUpdate, CallAnalysis | None, UtteranceAnalysis | None], Awaitable[None]]
# The end-of-call diarization's corrections (calls.speakers), for the doors that can carry them.
EmitSpeakers = Callable[[SpeakerUpdate], Awaitable[None]]


@dataclass(frozen=True)
class _Gap:
    samples: int
    reason: str = ""


@dataclass(frozen=True)
class _SecurePause:
    """A Genesys pause (`paused` .. `resumed`): no audio exists for it; the CSV gets a row saying so."""

    start_sample: int
    end_sample: int


@dataclass
class _Ready:
    """A final with its text, redacted and waiting its turn to be written and sent (in utterance order)."""

    out: FinalAudio
    transcription: Transcription
    span: SpeechSpan
    redaction: Redaction | None
    speaker: str  # who it is to the redactor's memory: the role, or the diarized label
    held: bool = False  # it ends in a number its speaker's next utterance may go on with
    choice: SpeakerChoice | None = None  # diarized: who said it

    def parts(self) -> tuple[FinalAudio, Transcription, SpeechSpan, Redaction | None, SpeakerChoice | None]:
        return self.out, self.transcription, self.span, self.redaction, self.choice


_END = None
# How long (wall clock) a final that ends in an open number waits for its speaker's next utterance when
# nothing else arrives; in call time it waits at most CONTINUATION_SECONDS (the redactor's own limit).
HOLD_WALL_S = 10.0
_QueueItem = npt.NDArray[np.int16] | _Gap | None
_UtteranceKey = tuple[int, int]  # (channel, utterance index)
NO_POLICY = RedactionPolicy(frozenset(), frozenset())
PAUSE_TEXT = "[secure pause: no audio]"
REDACTION_FAILED = "[redaction failed: text withheld]"


class CallCore:
    def __init__(
        self,
        *,
        session_id: str,
        media: MediaFormat,
        language: str,  # a bare code (`en`, `de`) or `auto` (detected per channel: calls.language_choice)
        recognizer: Recognizer,
        new_analyzer: Callable[[], Analyzer],
        exports: ExportSink,
        executor: Executor,
        emit: Emit,
        metrics: ServerMetrics | None = None,
        max_buffered_audio_s: float = 120.0,
        max_queued_final_s: float = 90.0,
        redaction: RedactionPolicy = NO_POLICY,
        speakers: CallSpeakers | None = None,
        emit_speakers: EmitSpeakers | None = None,
        monitor: CallMonitor | None = None,
    ) -> None:
        self.session_id = session_id
        self.media = media
        self.recognizer = recognizer
        self._languages = [ChannelLanguage(language) for _ in media.channels]
        self.exports = exports
        self.emit = emit
        self.metrics = metrics or ServerMetrics()
        self.speakers = [speaker_for_channel(name) for name in media.channels]
        self.latest_analysis: CallAnalysis | None = None
        self.diarization = speakers if speakers is not None and speakers.active else None
        self.emit_speakers = emit_speakers
        self.monitor = monitor
        # Partials for the monitor need their own redaction when the files redact what the events show.
        self._monitor_redacts = bool(redaction.files - redaction.events)
        self._rows = 0  # CSV rows added so far (finals and secure pauses)
        self._read: list[tuple[str, int, Utterance]] = []  # diarized calls: (utterance id, CSV row, what was read)
        self.final_count = 0
        self.end_reason = ""  # set by the first finish()
        self.redaction = redaction
        names = PersonNames() if Entity.PERSON in redaction.entities else None
        self._redactor = CallRedactor(names=names) if redaction.active else None
        self._redactor_lock = threading.Lock()  # finals and (with events redaction) partials, in worker threads

        self._new_analyzer = new_analyzer
        self._analyzer: Analyzer | None = None  # made once the recognizer (and the analysis models) are ready
        self._executor = executor
        self._max_buffered = int(max_buffered_audio_s * media.rate)
        self._buffered = 0
        self._max_queued_final = int(max_queued_final_s * media.rate)
        self._queued_final = 0  # samples of ended utterances waiting for their finals
        self._call = uuid.uuid4().hex  # this call, to the recognizer's fair scheduling
        self._audio: asyncio.Queue[_QueueItem] = asyncio.Queue()
        self._finals: asyncio.Queue[tuple[FinalAudio, asyncio.Future[Transcription]] | _SecurePause | None] = (
            asyncio.Queue()
        )
        self._closed_utterances: set[_UtteranceKey] = set()
        self._pipelines: list[ChannelPipeline] = []
        self._partial_tasks: set[asyncio.Task[None]] = set()
        self._ended_at: dict[_UtteranceKey, float] = {}  # when each utterance's end was detected
        self._opened = False
        self._finished = False
        # Recording redaction: where the held recording may be written up to (stream samples).
        self._hold_lock = threading.Lock()
        self._settled = 0  # every channel's pipeline: nothing open or startable before this
        self._unfinalized: dict[_UtteranceKey, int] = {}  # ended utterances without their final: start sample
        self._stream_pos = 0
        self._skips: list[tuple[int, int]] = []  # (stream position after a skip, samples skipped so far)
        self._pause_start: int | None = None
        # Finals in order, the first held while it ends in a number its speaker may go on with.
        self._ready: deque[_Ready | _SecurePause] = deque()
        self._worker = asyncio.create_task(self._run_audio(), name=f"audio-{session_id}")
        self._finalizer = asyncio.create_task(self._run_finals(), name=f"finals-{session_id}")

    def set_language(self, language: str) -> None:
        """The caller switched the language (a Genesys or simple `update`): from the next final on."""
        for channel in self._languages:
            channel.set_requested(language)

    @property
    def buffered_s(self) -> float:
        """Seconds of audio submitted and not yet through the speech pipeline."""
        return self._buffered / self.media.rate

    # ---- input -------------------------------------------------------------------------------

    def submit(self, samples: npt.NDArray[np.int16]) -> Refusal | None:
        """Queue decoded audio (samples, channels); a Refusal when too much is already waiting."""
        if self._finished:
            return None
        if self._buffered + samples.shape[0] > self._max_buffered:
            seconds = self._max_buffered / self.media.rate
            return Refusal(
                503,
                f"server overloaded: more than {seconds:.0f} s of audio is waiting to be processed; try again later",
            )
        if self._queued_final > self._max_queued_final:
            seconds = self._max_queued_final / self.media.rate
            return Refusal(
                503,
                f"server overloaded: more than {seconds:.0f} s of this call's speech is waiting to be transcribed; "
                "send audio no faster than real time",
            )
        self._buffered += samples.shape[0]
        self._audio.put_nowait(samples)
        self.metrics.audio_seconds.inc(samples.shape[0] / self.media.rate)
        return None

    def submit_gap(self, samples: int, reason: str = "") -> None:
        """A pause (0) or discarded audio (`samples` per channel): ends the open utterances in order.
        `reason` "paused" starts a secure pause, and the next "resumed" ends it."""
        if not self._finished:
            self._audio.put_nowait(_Gap(samples, reason))

    async def finish(self, reason: str = "completed") -> None:
        """End of the call: flush open utterances, send their finals, close the exports. Idempotent: the
        first call's `reason` (completed, disconnected, drained, failed, …) is the call's end reason."""
        if not self._finished:
            self._finished = True
            self.end_reason = reason
            self._audio.put_nowait(_END)
        try:
            await asyncio.gather(asyncio.shield(self._worker), asyncio.shield(self._finalizer))
            for task in list(self._partial_tasks):
                task.cancel()  # every utterance is final now: a late partial has nothing to add
            if self.diarization is not None and self._opened:
                await self._settle_speakers()
        finally:
            if self._opened:
                self._opened = False
                await self._blocking(self.exports.close, self.latest_analysis, self.end_reason)
            if self.monitor is not None:  # also for a call that ended before its files were opened
                monitor, self.monitor = self.monitor, None
                monitor.ended(self.end_reason, self.exports.csv_path)

    # ---- audio -------------------------------------------------------------------------------

    async def _blocking(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def _run_audio(self) -> None:
        try:
            await self._blocking(self.exports.open)
            self._opened = True
            await self.recognizer.wait_ready()
            self._analyzer = self._new_analyzer()
            channels = range(len(self.media.channels))
            self._pipelines = [self.recognizer.channel_pipeline(channel, self.media.rate) for channel in channels]
            ended = False
            while not ended:
                batch = [await self._audio.get()]
                while not self._audio.empty():
                    batch.append(self._audio.get_nowait())
                ended = batch[-1] is _END
                self._buffered -= sum(item.shape[0] for item in batch if isinstance(item, np.ndarray))
                outputs = await self._blocking(self._process, batch)
                await self._dispatch(outputs)
        except Exception:
            log.exception("session %s: audio processing failed", self.session_id)
        finally:
            self._finals.put_nowait(None)

    def _process(self, batch: list[_QueueItem]) -> list[ChannelOutput | _SecurePause]:
        """Worker thread: record the audio and run every channel's pipeline over the batch, in order."""
        outputs: list[ChannelOutput | _SecurePause] = []
        pending: list[npt.NDArray[np.int16]] = []

        def feed_pending() -> None:
            if pending:
                audio = np.concatenate(pending) if len(pending) > 1 else pending[0]
                pending.clear()
                self.exports.record(audio)
                self._stream_pos += audio.shape[0]
                for pipeline in self._pipelines:
                    outputs.extend(pipeline.feed(np.ascontiguousarray(audio[:, pipeline.channel])))

        for item in batch:
            if isinstance(item, np.ndarray):
                pending.append(item)
                continue
            feed_pending()
            for pipeline in self._pipelines:
                outputs.extend(pipeline.flush() if item is _END else pipeline.skip(item.samples))
            if item is _END:
                if self._pause_start is not None:
                    outputs.append(_SecurePause(self._pause_start, self._stream_pos))
                    self._pause_start = None
                continue
            if item.reason == "paused" and self._pause_start is None:
                self._pause_start = self._stream_pos
            if item.samples:
                self._stream_pos += item.samples
                skipped = (self._skips[-1][1] if self._skips else 0) + item.samples
                self._skips.append((self._stream_pos, skipped))
            if item.reason == "resumed" and self._pause_start is not None:
                outputs.append(_SecurePause(self._pause_start, self._stream_pos))
                self._pause_start = None
        feed_pending()
        with self._hold_lock:
            for out in outputs:
                if isinstance(out, FinalAudio):
                    self._unfinalized[(out.channel, out.utterance)] = out.start_sample
            if self._pipelines:
                self._settled = min(pipeline.settled for pipeline in self._pipelines)
        self._release_recording()
        return outputs

    # ---- the held recording (recording redaction) -------------------------------------------

    def _recorded_frame(self, stream_sample: int) -> int:
        """The recording's frame for a stream position (skipped audio moved the stream, not the WAV)."""
        i = bisect.bisect_right(self._skips, (stream_sample, float("inf"))) - 1
        return stream_sample - (self._skips[i][1] if i >= 0 else 0)

    def _release_recording(self, finalized: _UtteranceKey | None = None) -> None:
        """Worker thread: write the held recording up to where every utterance has its final."""
        if not self.redaction.recording:
            return
        with self._hold_lock:
            if finalized is not None:
                self._unfinalized.pop(finalized, None)
            frontier = min([self._settled, *self._unfinalized.values()])
            upto = self._recorded_frame(frontier)
        self.exports.release(upto)

    def _silence(self, channel: int, start_sample: int, end_sample: int) -> None:
        margin = int(RECORDING_MARGIN_S * self.media.rate)
        start = self._recorded_frame(max(0, start_sample - margin))
        end = self._recorded_frame(end_sample + margin)
        self.exports.silence(channel, start, end)

    async def _dispatch(self, outputs: list[ChannelOutput | _SecurePause]) -> None:
        for out in outputs:
            if isinstance(out, _SecurePause):
                self._finals.put_nowait(out)
            elif isinstance(out, FinalAudio):
                key = (out.channel, out.utterance)
                self._closed_utterances.add(key)
                self._queued_final += len(out.samples)
                future = asyncio.ensure_future(
                    self.recognizer.transcribe_final(
                        out.samples,
                        self.media.rate,
                        self._languages[out.channel].for_final(),
                        call=self._call,
                        fallback=call_fallback(self._languages, out.channel),
                    )
                )
                self._ended_at[key] = time.monotonic()
                self._finals.put_nowait((out, future))
            elif isinstance(out, UtteranceDropped):
                self._closed_utterances.add((out.channel, out.utterance))
            elif isinstance(out, PartialText):
                await self._send_partial(out.channel, out.utterance, out.text, out.start_sample, out.end_sample)
            elif isinstance(out, PartialAudio):
                pending = self.recognizer.try_transcribe_partial(
                    out.samples, self.media.rate, call_fallback(self._languages, out.channel), call=self._call
                )
                if pending is not None:
                    task = asyncio.create_task(self._recognized_partial(out, pending))
                    self._partial_tasks.add(task)
                    task.add_done_callback(self._partial_tasks.discard)

    async def _recognized_partial(self, out: PartialAudio, pending: asyncio.Future[Transcription]) -> None:
        try:
            transcription = await pending
        except Exception:
            log.exception("session %s: partial transcription failed", self.session_id)
            return
        if transcription.text:
            # What was said through here: has the speaker finished? (one pipeline per channel, in order)
            self._pipelines[out.channel].hint_text(out.utterance, transcription.text, out.end_sample)
            await self._send_partial(out.channel, out.utterance, transcription.text, out.start_sample, out.end_sample)

    async def _send_partial(self, channel: int, utterance: int, text: str, start: int, end: int) -> None:
        if (channel, utterance) in self._closed_utterances:
            return  # its final is on the way; a late partial would only confuse the client
        said = text
        start_s = start / self.media.rate
        if self.redaction.events:
            text = await self._blocking(self._redacted_partial, said, channel, start_s, self.redaction.events)
            if (channel, utterance) in self._closed_utterances:
                return
        update = TranscriptUpdate(
            utterance_id=f"{channel}-{utterance}",
            channel=channel,
            speaker=self.speakers[channel],
            text=text,
            is_final=False,
            start=start_s,
            end=end / self.media.rate,
            language=self._languages[channel].current,
        )
        await self.emit(update, self.latest_analysis, None)
        if self.monitor is not None:
            if self._monitor_redacts:
                shown = await self._blocking(self._redacted_partial, said, channel, start_s, self.redaction.files)
                update = replace(update, text=shown)
            if (channel, utterance) not in self._closed_utterances:
                self.monitor.partial(update)

    def _redacted_partial(self, text: str, channel: int, start: float, policy: frozenset[Entity]) -> str:
        """Worker thread: a partial as `policy` shows it (the call's context read, not changed)."""
        assert self._redactor is not None
        try:
            with self._redactor_lock:
                found = self._redactor.peek(text, speaker=self.speakers[channel], start=start)
            return found.text_for(policy, self.redaction.style)
        except Exception:
            log.exception("session %s: redacting a partial failed; partial withheld", self.session_id)
            return REDACTION_FAILED

    # ---- finals ------------------------------------------------------------------------------

    async def _run_finals(self) -> None:
        pending: asyncio.Future[tuple[FinalAudio, asyncio.Future[Transcription]] | _SecurePause | None] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(self._finals.get())
                if any(isinstance(r, _Ready) and r.held for r in self._ready):
                    # A held final waits for its speaker's next utterance, but not for ever.
                    done, _ = await asyncio.wait({pending}, timeout=HOLD_WALL_S)
                    if not done:
                        await self._publish_ready(release_all=True)
                        continue
                item = await pending
                pending = None
                if item is None:
                    break
                await self._take(item)
            await self._publish_ready(release_all=True)
        finally:
            if pending is not None:
                pending.cancel()

    async def _take(self, item: tuple[FinalAudio, asyncio.Future[Transcription]] | _SecurePause) -> None:
        """One item of the finals queue: a secure pause, or an utterance's final once it is transcribed."""
        if isinstance(item, _SecurePause):
            self._ready.append(item)
            await self._publish_ready()
            return
        out, future = item
        key = (out.channel, out.utterance)
        try:
            transcription = await future
        except Exception:
            log.exception("session %s: final transcription failed", self.session_id)
            self._ended_at.pop(key, None)
            # Recording redaction fails closed: speech nobody could read is not written as it was.
            await self._blocking(self._settle_unread, out, self.redaction.recording)
            return
        finally:
            self._queued_final -= len(out.samples)
        if not transcription.text.strip():
            self._ended_at.pop(key, None)
            await self._blocking(self._settle_unread, out, frozenset())
            return
        voiced = sum(b - a for a, b in out.voiced) if out.voiced else len(out.samples)
        speech_s = voiced / self.media.rate
        self._languages[out.channel].observe(transcription, speech_s, len(transcription.words))
        pause = self._pipelines[out.channel].sentence_pause_s
        # English only: the sentence ends it knows (its abbreviations) are English, and a translation
        # belongs to its whole utterance.
        if pause and transcription.language == "en" and transcription.translation is None:
            parts = sentence_parts(out, transcription, self.media.rate, pause)
        else:
            parts = [(out, transcription)]
        if self.diarization is None or not self.diarization.diarizes(out.channel):
            for part, said in parts:  # sentences its speaker paused between: one final each
                await self._take_final(part, said)
            return
        pieces = [piece for part, said in parts for piece in await self._diarize(part, said)]
        for k, (piece, said, choice) in enumerate(pieces):  # a sentence cut where its speaker changed: two
            numbered = replace(piece, part=k, last_part=k == len(pieces) - 1)
            await self._take_final(numbered, said, choice)

    async def _diarize(
        self, out: FinalAudio, transcription: Transcription
    ) -> list[tuple[FinalAudio, Transcription, SpeakerChoice | None]]:
        """Who said the final (cut where its speaker changes); unlabelled when diarization fails."""
        assert self.diarization is not None
        try:
            labelled = await self._blocking(self.diarization.label, out, transcription)
        except Exception:
            log.exception("session %s: diarization failed; the final keeps its channel's speaker", self.session_id)
            return [(out, transcription, None)]
        return [(piece, said, choice) for piece, said, choice in labelled]

    async def _settle_speakers(self) -> None:
        """End of a diarized call: the final labels and roles into the CSV rows and the analysis (its
        summary), and a `speaker_update` with the corrections to the door."""
        assert self.diarization is not None
        try:
            corrections = await self._blocking(self.diarization.finish)
            if corrections:
                self.metrics.diarization_corrections.inc(len(corrections))
                await self._blocking(self._apply_speakers)
            await self._blocking(self.exports.describe_speakers, self.diarization.describe())
        except Exception:
            log.exception("session %s: the end-of-call diarization failed; the live labels stay", self.session_id)
            return
        if corrections and self.monitor is not None:
            self.monitor.speakers(SpeakerUpdate(tuple(corrections)), self.latest_analysis)
        if corrections and self.emit_speakers is not None:
            try:
                await self.emit_speakers(SpeakerUpdate(tuple(corrections)))
            except Exception:
                log.exception("session %s: sending speaker_update failed", self.session_id)

    def _apply_speakers(self) -> None:
        """Worker thread: the corrected speakers into the CSV rows; the call analysed again with them
        when a role changed (the running columns stay as they were at each row)."""
        assert self.diarization is not None
        reread: list[Utterance] = []
        changed_role = False
        for utterance_id, row, read in self._read:
            choice = self.diarization.final_choice(utterance_id)
            if choice is None:
                reread.append(read)
                continue
            self.exports.relabel(row, choice.speaker, choice.speaker_id, choice.role_confidence)
            changed_role = changed_role or choice.speaker != read.speaker
            reread.append(replace(read, speaker=choice.speaker))
        if changed_role:
            analyzer = self._new_analyzer()
            for read in reread:
                analyzer.add(read)
            self.latest_analysis = analyzer.analysis()

    async def _take_final(
        self, out: FinalAudio, transcription: Transcription, choice: SpeakerChoice | None = None
    ) -> None:
        """Redact a final and queue it; what is no longer held goes out. A final that ends in digits nobody
        has claimed waits (when files are redacted) for the speaker's next one, which may revise it."""
        rate = self.media.rate
        speaker = choice.speaker_id if choice is not None else self.speakers[out.channel]
        span = speech_span(out, transcription.words, rate)
        start = span.start
        redaction = await self._blocking(self._redact, transcription, speaker, span.start, span.end)
        for ready in self._ready:
            if not isinstance(ready, _Ready) or not ready.held:
                continue
            if ready.speaker == speaker:
                ready.held = False
                if redaction is not None and redaction.revises is not None:
                    ready.redaction = redaction.revises  # "… and the rest is 3254 4398": it was a card
            elif start - ready.span.end > CONTINUATION_SECONDS:
                ready.held = False
        holds = bool(self.redaction.files or self.redaction.recording)
        held = holds and redaction is not None and redaction.open_number
        self._ready.append(_Ready(out, transcription, span, redaction, speaker, held, choice))
        await self._publish_ready()

    async def _publish_ready(self, release_all: bool = False) -> None:
        """Write and send the queued finals up to the first one still held (`release_all`: all of them)."""
        while self._ready:
            ready = self._ready[0]
            if isinstance(ready, _Ready) and ready.held and not release_all:
                return
            self._ready.popleft()
            if isinstance(ready, _SecurePause):
                try:
                    await self._blocking(self._record_pause, ready)
                except Exception:
                    log.exception("session %s: recording a secure pause failed", self.session_id)
                continue
            try:
                await self._publish_final(ready)
            except Exception:
                log.exception("session %s: publishing a final failed", self.session_id)
                await self._blocking(self._settle_unread, ready.out, self.redaction.recording)

    def _settle_unread(self, out: FinalAudio, silence: frozenset[Entity]) -> None:
        """Worker thread: an utterance without a usable final leaves the hold (silenced if `silence`)."""
        if silence:
            self._silence(out.channel, out.start_sample, out.end_sample)
        self._release_recording((out.channel, out.utterance) if out.last_part else None)

    async def _publish_final(self, ready: _Ready) -> None:
        out, transcription, span, redaction, choice = ready.parts()
        speaker = ready.speaker
        # a sentence cut from the utterance (sentence_split) after the first: "1-4.2", "1-4.3"
        utterance_id = f"{out.channel}-{out.utterance}" + (f".{out.part + 1}" if out.part else "")
        result, self.latest_analysis, row = await self._blocking(self._record_final, ready, utterance_id)
        self.final_count += 1
        words = span.words
        text = transcription.text
        translation = transcription.translation
        if self.redaction.events:
            text, words = _redacted_event(redaction, transcription, words, self.redaction)
            if translation is not None:
                translation = await self._blocking(self._redacted_translation, translation, speaker, span.start, True)
        update = TranscriptUpdate(
            utterance_id=utterance_id,
            channel=out.channel,
            speaker=choice.speaker if choice is not None else speaker,
            text=text,
            is_final=True,
            start=span.start,
            end=span.end,
            language=transcription.language,
            confidence=transcription.confidence,
            words=words,
            language_probability=self._languages[out.channel].reported_probability(transcription),
            translation=translation,
            speaker_id=choice.speaker_id if choice is not None else None,
            role_confidence=choice.role_confidence if choice is not None else None,
        )
        await self.emit(update, self.latest_analysis, result)
        if self.monitor is not None:
            self.monitor.final(utterance_id, row, result, self.latest_analysis)
        self.metrics.utterances.inc()
        key = (out.channel, out.utterance)
        ended = self._ended_at.pop(key, None) if out.last_part else self._ended_at.get(key)
        if ended is not None:
            self.metrics.final_latency.observe(time.monotonic() - ended)

    def _record_final(
        self, ready: _Ready, utterance_id: str
    ) -> tuple[UtteranceAnalysis, CallAnalysis | None, TranscriptRow]:
        """Worker thread: analyse the redacted utterance, add its CSV row and fsync it to the journal,
        silence its redacted spans in the held recording, all before the client is sent the final."""
        assert self._analyzer is not None  # finals only exist once the recognizer is ready
        out, transcription, span, redaction, choice = ready.parts()
        rate = self.media.rate
        speaker = ready.speaker
        role = choice.speaker if choice is not None else speaker
        text = transcription.text
        if self.redaction.files:
            text = redaction.text_for(self.redaction.files, self.redaction.style) if redaction else REDACTION_FAILED
        translation = transcription.translation
        if translation is not None and self.redaction.files:
            translation = self._redacted_translation(translation, speaker, span.start, False)
        read = Utterance(
            translation if translation is not None else text,
            span.start,
            span.end,
            out.channel,
            role,
            transcription.confidence,
            language=transcription.language,
            translated=translation is not None,
            original=text if translation is not None else "",
            utterance_id=utterance_id,
            word_times=tuple((word.start, word.end) for word in span.words),
            voiced=tuple((a / rate, b / rate) for a, b in out.voiced),
            prosody=prosody.measure(out.samples, rate) if self._analyzer.wants_prosody else None,
        )
        result = self._analyzer.add(read)
        analysis = self._analyzer.analysis()
        utterance = replace(read, text=text)  # the CSV keeps what was said; the translation goes beside it
        row = self._row(utterance, result, analysis, translation or "", choice)
        self.exports.add_final(row)
        if choice is not None and self.diarization is not None:
            self.diarization.sent(utterance_id, choice)
            self._read.append((utterance_id, self._rows, read))
        self._rows += 1
        if self.redaction.recording:
            if redaction is None:
                self._silence(out.channel, out.start_sample, out.end_sample)
            # Whisper's own word times (not the fitted span): what is silenced errs on the wide side.
            for found in redaction.covering(self.redaction.recording) if redaction else ():
                if found.start_s is None or found.end_s is None:  # no word times: the whole utterance
                    self._silence(out.channel, out.start_sample, out.end_sample)
                else:
                    a, b = out.start_sample + int(found.start_s * rate), out.start_sample + int(found.end_s * rate)
                    self._silence(out.channel, a, b)
        self._release_recording((out.channel, out.utterance) if out.last_part else None)
        return result, analysis, row

    def _redacted_translation(self, translation: str, speaker: str, start: float, events: bool) -> str:
        """Worker thread: a final's English translation as the events (or files) policy shows it: read
        like a partial, against the call's context, without changing it (the original was redacted)."""
        if self._redactor is None:
            return translation
        policy = self.redaction.events if events else self.redaction.files
        try:
            with self._redactor_lock:
                found = self._redactor.peek(translation, speaker=speaker, start=start)
            return found.text_for(policy, self.redaction.style)
        except Exception:
            log.exception("session %s: redacting a translation failed; translation withheld", self.session_id)
            return REDACTION_FAILED

    def _redact(self, transcription: Transcription, speaker: str, start: float, end: float) -> Redaction | None:
        """The final's findings (an empty Redaction without a policy); None when the redactor failed:
        what it guards is then withheld (fail closed), and the error logged without the text."""
        if self._redactor is None:
            return Redaction(transcription.text, ())
        words = [TimedWord(w.text, w.start, w.end) for w in transcription.words]
        began = time.perf_counter()
        try:
            with self._redactor_lock:
                found = self._redactor.redact(transcription.text, words, speaker=speaker, start=start, end=end)
        except Exception:
            log.exception("session %s: redaction failed; the utterance's text is withheld", self.session_id)
            return None
        self.metrics.redaction_seconds.observe(time.perf_counter() - began)
        for span in found.covering(self.redaction.entities):
            self.metrics.redacted.labels(span.entity.value).inc()
        return found

    def _record_pause(self, pause: _SecurePause) -> None:
        """Worker thread: the CSV row (and journal line) of a secure pause."""
        rate = self.media.rate
        self.exports.add_final(
            TranscriptRow(
                session_id=self.session_id,
                start=round(pause.start_sample / rate, 3),
                end=round(pause.end_sample / rate, 3),
                channel="",
                speaker="",
                text=PAUSE_TEXT,
                confidence=0.0,
                utterance_sentiment="",
                utterance_emotion="",
                utterance_categories="",
            )
        )
        self._rows += 1

    def _row(
        self,
        utterance: Utterance,
        result: UtteranceAnalysis,
        analysis: CallAnalysis | None,
        translation: str,
        choice: SpeakerChoice | None,
    ) -> TranscriptRow:
        # The running call-level columns are the analysis block the clients get (analysis.types.EVENT_KEYS).
        event = analysis.to_event() if analysis is not None else {}
        call: dict[str, Any] = {RUNNING_COLUMNS[key]: value for key, value in event.items()}
        if analysis is not None:
            call["running_outcome"] = analysis.outcome  # the customer's decision so far (analysis.decisions)
            call.update(live_columns(analysis.live))
        return TranscriptRow(
            session_id=self.session_id,
            start=round(utterance.start, 3),
            end=round(utterance.end, 3),
            channel=self.media.channels[utterance.channel],
            speaker=utterance.speaker,
            text=utterance.text,
            confidence=round(utterance.confidence, 4),
            utterance_sentiment=result.sentiment,
            utterance_emotion=result.emotion,
            utterance_categories=result.categories,
            utterance_sentiment_score=round(result.sentiment_score, 3),
            utterance_valence=result.pad.get("valence", ""),
            utterance_arousal=result.pad.get("arousal", ""),
            utterance_moments="; ".join(dict.fromkeys(moment.category for moment in result.moments)),
            language=utterance.language,
            translation=translation,
            speaker_id=choice.speaker_id if choice is not None else "",
            role_confidence=(
                round(choice.role_confidence, 3) if choice is not None and choice.role_confidence is not None else ""
            ),
            **call,
        )


def _redacted_event(
    redaction: Redaction | None, transcription: Transcription, words: tuple[Word, ...], policy: RedactionPolicy
) -> tuple[str, tuple[Word, ...]]:
    """A final's text and words as the events policy shows them: a redacted word becomes the tag (the
    span's first word, timed over the whole span), the span's other words go."""
    if redaction is None:
        return REDACTION_FAILED, ()
    spans = redaction.covering(policy.events)
    if not spans:
        return transcription.text, words
    text = redaction.text_for(policy.events, policy.style)
    shown: list[Word] = []
    places = word_places(transcription.text, [w.text for w in transcription.words])
    for word, place in zip(words, places, strict=True):
        if place is None:
            continue  # a word not found in the text cannot be shown to be clean
        span = next((s for s in spans if s.start < place[1] and s.end > place[0]), None)
        if span is None:
            shown.append(word)
        elif not shown or shown[-1].text != f"[{span.entity.value}]":
            shown.append(Word(f"[{span.entity.value}]", word.start, word.end, word.confidence))
        else:
            last = shown[-1]
            shown[-1] = Word(last.text, last.start, word.end, last.confidence)
    return text, tuple(shown)
