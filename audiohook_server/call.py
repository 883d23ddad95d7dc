"""One call's processing: audio in, transcript events out, analysis and exports along the way.

`CallProcessor` is created when a session opens and finished when it ends, however it ends (a
`close`, a dropped connection, a protocol error, a server shutdown): `finish()` flushes the open
utterances, waits for their finals and writes the CSV, so nothing the caller said is lost.

Flow, per session:
    submit(audio) / submit_gap() -> audio queue -> [stream pool] record + VAD/segmenter/Vosk per channel
        -> partials: sent at once (Vosk) or after a skippable Whisper pass
        -> finals: Whisper futures in utterance order -> [stream pool] analysis + CSV -> event
The audio worker and the finalizer are two tasks, so Whisper can finish one utterance while the
next is being segmented; finals are still sent in the order the utterances ended. Gaps (a pause,
discarded audio) travel through the same queue as the audio, so they take effect exactly between the
samples around them: they end the open utterances and move later positions along the stream timeline.
Results go out as dialect-neutral `TranscriptUpdate`s; the connection's session formats them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis import CallAnalysis, CallAnalyzer, Utterance, UtteranceAnalysis
from audiohook_server.engine import SpeechEngine
from audiohook_server.exports import (
    RecordingWriter,
    SessionJournal,
    TranscriptCsv,
    journal_path,
    reserve_session_files,
    write_json_atomically,
)
from audiohook_server.speech.pipeline import (
    ChannelOutput,
    ChannelPipeline,
    FinalAudio,
    PartialAudio,
    PartialText,
    UtteranceDropped,
)
from audiohook_server.speech.transcriber import Transcription
from protocol.audio import MediaFormat, speaker_for_channel
from protocol.errors import CLOSE_TRY_AGAIN_LATER, ProtocolError
from protocol.events import TranscriptUpdate, Word

log = logging.getLogger(__name__)

Emit = Callable[[TranscriptUpdate, dict[str, Any] | None], Awaitable[None]]


@dataclass(frozen=True)
class _Gap:
    samples: int


_END = None
_QueueItem = npt.NDArray[np.int16] | _Gap | None


class CallProcessor:
    def __init__(
        self,
        *,
        session_id: str,
        media: MediaFormat,
        language: str,
        engine: SpeechEngine,
        recordings_dir: Path,
        emit: Emit,
        record_audio: bool = True,
        max_buffered_audio_s: float = 120.0,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.session_id = session_id
        self.media = media
        self.language = language
        self.engine = engine
        self.emit = emit
        self.speakers = [speaker_for_channel(name) for name in media.channels]
        self.metadata = {
            "session_id": session_id,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "language": language,
            "media": {"encoding": media.encoding, "rate": media.rate, "channels": list(media.channels)},
            "speakers": self.speakers,
            **(metadata or {}),
        }
        self.analyzer: CallAnalyzer | None = None  # made once the engine's analysis models are loaded
        self.latest_analysis: CallAnalysis | None = None
        self.final_count = 0

        self.recordings_dir = recordings_dir
        self.record_audio = record_audio
        self.csv: TranscriptCsv | None = None  # created off the event loop when the worker starts
        self.journal: SessionJournal | None = None
        self.recording: RecordingWriter | None = None

        self._max_buffered = int(max_buffered_audio_s * media.rate)
        self._buffered = 0
        self._audio: asyncio.Queue[_QueueItem] = asyncio.Queue()
        self._finals: asyncio.Queue[tuple[FinalAudio, asyncio.Future[Transcription]] | None] = asyncio.Queue()
        self._closed_utterances: set[tuple[int, int]] = set()
        self._pipelines: list[ChannelPipeline] = []
        self._partial_tasks: set[asyncio.Task[None]] = set()
        self._ended_at: dict[tuple[int, int], float] = {}  # when each utterance's end was detected
        self._finished = False
        self._worker = asyncio.create_task(self._run_audio(), name=f"audio-{session_id}")
        self._finalizer = asyncio.create_task(self._run_finals(), name=f"finals-{session_id}")

    # ---- input -------------------------------------------------------------------------------

    def submit(self, samples: npt.NDArray[np.int16]) -> None:
        """Queue decoded audio (samples, channels). Raises ProtocolError 503 when too far behind."""
        if self._finished:
            return
        if self._buffered + samples.shape[0] > self._max_buffered:
            raise ProtocolError(
                503,
                f"server overloaded: more than {self._max_buffered / self.media.rate:.0f} s of audio is waiting "
                "to be processed; try again later",
                CLOSE_TRY_AGAIN_LATER,
            )
        self._buffered += samples.shape[0]
        self._audio.put_nowait(samples)
        self.engine.metrics.audio_seconds.inc(samples.shape[0] / self.media.rate)

    def submit_gap(self, samples: int) -> None:
        """A pause (0) or discarded audio (`samples` per channel): ends the open utterances in order."""
        if not self._finished:
            self._audio.put_nowait(_Gap(samples))

    async def finish(self) -> None:
        """End of the session: flush open utterances, send their finals, write the CSV. Idempotent."""
        if not self._finished:
            self._finished = True
            self._audio.put_nowait(_END)
        try:
            await asyncio.gather(asyncio.shield(self._worker), asyncio.shield(self._finalizer))
            for task in list(self._partial_tasks):
                task.cancel()  # every utterance is final now: a late partial has nothing to add
        finally:
            if self.recording is not None:
                await self.engine.run_in_stream_pool(self.recording.close)
            if self.csv is not None:
                await self.engine.run_in_stream_pool(self._write_csv)

    # ---- audio worker ------------------------------------------------------------------------

    def _write_csv(self) -> None:
        """The session's final CSV and analysis summary; the journal goes once the CSV is on disk."""
        assert self.csv is not None
        self.csv.write()
        if self.latest_analysis is not None:
            write_json_atomically(self.csv.path.with_suffix(".summary.json"), self.latest_analysis.to_summary())
        if self.journal is not None:
            self.journal.close(remove=True)
            self.journal = None

    def _open_exports(self) -> None:
        csv_path, wav_path = reserve_session_files(self.session_id, self.recordings_dir)
        self.csv = TranscriptCsv(csv_path)  # the file exists, header only, from the session's first moment
        self.journal = SessionJournal(journal_path(csv_path))
        # Who and what this session was (dialect, conversation, authenticated subject): beside the CSV.
        write_json_atomically(csv_path.with_suffix(".session.json"), self.metadata)
        if self.record_audio:
            self.recording = RecordingWriter(wav_path, self.media.rate, len(self.media.channels))

    async def _run_audio(self) -> None:
        try:
            await self.engine.run_in_stream_pool(self._open_exports)
            await self.engine.wait_ready()
            self.analyzer = CallAnalyzer(models=self.engine.analysis_models)
            self._pipelines = [
                ChannelPipeline(
                    channel=i,
                    rate=self.media.rate,
                    segmenter_config=self.engine.settings.segmenter,
                    partials=self.engine.partials_mode,
                    vosk_model=self.engine.vosk_model,
                    partial_interval_s=self.engine.settings.partial_interval_ms / 1000,
                )
                for i in range(len(self.media.channels))
            ]
            ended = False
            while not ended:
                batch = [await self._audio.get()]
                while not self._audio.empty():
                    batch.append(self._audio.get_nowait())
                ended = batch[-1] is _END
                self._buffered -= sum(item.shape[0] for item in batch if isinstance(item, np.ndarray))
                outputs = await self.engine.run_in_stream_pool(self._process, batch)
                await self._dispatch(outputs)
        except Exception:
            log.exception("session %s: audio processing failed", self.session_id)
        finally:
            self._finals.put_nowait(None)

    def _process(self, batch: list[_QueueItem]) -> list[ChannelOutput]:
        """Worker thread: record the audio and run every channel's pipeline over the batch, in order."""
        outputs: list[ChannelOutput] = []
        pending: list[npt.NDArray[np.int16]] = []

        def feed_pending() -> None:
            if pending:
                audio = np.concatenate(pending) if len(pending) > 1 else pending[0]
                pending.clear()
                if self.recording is not None:
                    self.recording.write(audio)
                for pipeline in self._pipelines:
                    outputs.extend(pipeline.feed(np.ascontiguousarray(audio[:, pipeline.channel])))

        for item in batch:
            if isinstance(item, np.ndarray):
                pending.append(item)
                continue
            feed_pending()
            for pipeline in self._pipelines:
                outputs.extend(pipeline.flush() if item is _END else pipeline.skip(item.samples))
        feed_pending()
        return outputs

    async def _dispatch(self, outputs: list[ChannelOutput]) -> None:
        for out in outputs:
            if isinstance(out, FinalAudio):
                self._closed_utterances.add((out.channel, out.utterance))
                future = asyncio.ensure_future(
                    self.engine.transcribe_final(out.samples, self.media.rate, self.language)
                )
                self._ended_at[(out.channel, out.utterance)] = time.monotonic()
                self._finals.put_nowait((out, future))
            elif isinstance(out, UtteranceDropped):
                self._closed_utterances.add((out.channel, out.utterance))
            elif isinstance(out, PartialText):
                await self._send_partial(out.channel, out.utterance, out.text, out.start_sample, out.end_sample)
            elif isinstance(out, PartialAudio):
                pending = self.engine.try_transcribe_partial(out.samples, self.media.rate, self.language)
                if pending is not None:
                    task = asyncio.create_task(self._whisper_partial(out, pending))
                    self._partial_tasks.add(task)
                    task.add_done_callback(self._partial_tasks.discard)

    async def _whisper_partial(self, out: PartialAudio, pending: asyncio.Future[Transcription]) -> None:
        try:
            transcription = await pending
        except Exception:
            log.exception("session %s: partial transcription failed", self.session_id)
            return
        if transcription.text:
            await self._send_partial(out.channel, out.utterance, transcription.text, out.start_sample, out.end_sample)

    async def _send_partial(self, channel: int, utterance: int, text: str, start: int, end: int) -> None:
        if (channel, utterance) in self._closed_utterances:
            return  # its final is on the way; a late partial would only confuse the client
        update = TranscriptUpdate(
            utterance_id=f"{channel}-{utterance}",
            channel=channel,
            speaker=self.speakers[channel],
            text=text,
            is_final=False,
            start=start / self.media.rate,
            end=end / self.media.rate,
            language=self.language,
        )
        await self.emit(update, self._analysis_event())

    # ---- finals ------------------------------------------------------------------------------

    async def _run_finals(self) -> None:
        while (item := await self._finals.get()) is not None:
            out, future = item
            try:
                transcription = await future
            except Exception:
                log.exception("session %s: final transcription failed", self.session_id)
                continue
            if not transcription.text.strip():
                self._ended_at.pop((out.channel, out.utterance), None)
                continue
            try:
                await self._publish_final(out, transcription)
            except Exception:
                log.exception("session %s: publishing a final failed", self.session_id)

    async def _publish_final(self, out: FinalAudio, transcription: Transcription) -> None:
        rate = self.media.rate
        start, end = out.start_sample / rate, out.end_sample / rate
        speaker = self.speakers[out.channel]
        utterance = Utterance(transcription.text, start, end, out.channel, speaker, transcription.confidence)
        self.latest_analysis = await self.engine.run_in_stream_pool(self._record_final, utterance)
        self.final_count += 1
        update = TranscriptUpdate(
            utterance_id=f"{out.channel}-{out.utterance}",
            channel=out.channel,
            speaker=speaker,
            text=transcription.text,
            is_final=True,
            start=start,
            end=end,
            language=self.language,
            confidence=transcription.confidence,
            words=tuple(Word(w.word, start + w.start, start + w.end, w.probability) for w in transcription.words),
        )
        await self.emit(update, self._analysis_event())
        metrics = self.engine.metrics
        metrics.utterances.inc()
        ended = self._ended_at.pop((out.channel, out.utterance), None)
        if ended is not None:
            metrics.final_latency.observe(time.monotonic() - ended)

    def _record_final(self, utterance: Utterance) -> CallAnalysis | None:
        """Worker thread: analyse the utterance, add its CSV row and fsync it to the journal, all before
        the client is sent the final."""
        assert self.analyzer is not None  # finals only exist once the engine is ready
        assert self.csv is not None and self.journal is not None  # opened before any audio was processed
        result = self.analyzer.add(utterance)
        analysis = self.analyzer.analysis()
        row = self._csv_row(utterance, result, analysis)
        self.csv.add(row)
        self.journal.append(row)
        return analysis

    def _analysis_event(self) -> dict[str, Any] | None:
        return self.latest_analysis.to_event() if self.latest_analysis else None

    def _csv_row(
        self, utterance: Utterance, result: UtteranceAnalysis, analysis: CallAnalysis | None
    ) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "start": round(utterance.start, 3),
            "end": round(utterance.end, 3),
            "channel": self.media.channels[utterance.channel],
            "speaker": utterance.speaker,
            "text": utterance.text,
            "confidence": round(utterance.confidence, 4),
            "utterance_sentiment": result.sentiment,
            "utterance_emotion": result.emotion,
            "utterance_categories": result.categories,
            "sentiment": analysis.sentiment if analysis else "",
            "emotion": analysis.emotion if analysis else "",
            "agent_score": analysis.agent_score if analysis else "",
            "summary": analysis.summary if analysis else "",
            "process_issues": analysis.process_issues if analysis else "",
            "repeated_problems": analysis.repeated_problems if analysis else "",
            "marketing_mentions": analysis.marketing_mentions if analysis else "",
        }
