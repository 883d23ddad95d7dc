"""The HTTP live-capture door: numbered chunks in, one Server-Sent-Events stream out, nothing lost.

`CaptureService` holds this process's live-capture sessions; each is a `CaptureRun`: the sans-I/O
`protocol.capture.CaptureSession` (numbering, control, lifetime), its files, a decoder thread
(`audio.stream_decoder`), the call core (the same as every other door's) and its `EventLog`.

Nothing lost, across restarts too. Under `<recordings>/live/<session id>/`:
- `upload<suffix>`: every accepted chunk, appended and fsynced before its 200;
- `state.json`: the session's state, rewritten atomically after every change;
- `events.jsonl`: every event, fsynced before any consumer sees it (the timeline).
A server that starts finds the sessions a killed process left and resumes them: the upload is decoded
again from its first byte (decoding, the VAD and the utterance numbering are deterministic, so each
utterance comes out with the same id), the events already sent are not sent again, and numbering
continues; the client goes on from the `next_chunk_seq` it is told, and a consumer that reconnects
with `Last-Event-ID` misses nothing. A session that ends (finalize, cancel, expiry, a fatal error)
writes its artifacts (the CSV, the summary, the timeline, the recording) into the recordings
directory, then sends `done`; its directory goes once its lifetime has passed.

A consumer that reads events slowly holds no one back: events wait in the log. Decoded audio goes to
the call core no faster than `--max-ingest-rate` times real time (a whole file uploaded through the
live door is transcribed at that pace; the replay door, `POST /analyze/stream`, has no rate limit but
the call core's own backpressure), and Whisper is shared fairly with every other call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis import CallAnalysis, UtteranceAnalysis
from analysis.live import utterance_emotion
from analysis.moments import Moment
from audiohook_server.audio.stream_decoder import MediaError, StreamDecoder, container_of, decode_file
from audiohook_server.calls.atomic_files import write_json_atomically
from audiohook_server.calls.call_record import DOORS, CallFiles, call_row, calls_csv, ended_fields
from audiohook_server.calls.core import CallCore
from audiohook_server.calls.ingest import IngestBudget
from audiohook_server.calls.session_files import SessionFiles
from audiohook_server.metrics import ServerMetrics
from audiohook_server.safe_text import safe_json_value
from audiohook_server.settings import Settings
from audiohook_server.ui.floor import Floor
from protocol.audio import MediaFormat
from protocol.capture import CaptureError, CaptureSession, CaptureState, ChunkAck, StartRequest, iso_utc
from protocol.errors import ProtocolError
from protocol.event_log import Event, EventLog
from protocol.events import SpeakerUpdate, TranscriptUpdate

__all__ = ["ARTIFACTS", "Caller", "CaptureRun", "CaptureService"]

log = logging.getLogger(__name__)

ARTIFACTS = {"csv": ".csv", "summary": ".summary.json", "timeline": ".timeline.jsonl", "recording": ".wav"}
_DECODED_QUEUE = 64  # blocks of decoded audio waiting for the call core (the decoder thread waits beyond)
_FEED_BLOCK = 1 << 16


def _fsync_append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@dataclass
class _Bridge:
    """Decoded audio from the decoder thread to the event loop, bounded (the thread waits when full)."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[npt.NDArray[np.int16] | MediaError | None] = field(default_factory=asyncio.Queue)
    room: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(_DECODED_QUEUE))

    def deliver(self, samples: npt.NDArray[np.int16]) -> None:  # decoder thread
        self.room.acquire()
        self.loop.call_soon_threadsafe(self.queue.put_nowait, samples)

    def finished(self, error: MediaError | None) -> None:  # decoder thread
        self.loop.call_soon_threadsafe(self.queue.put_nowait, error)

    async def get(self) -> npt.NDArray[np.int16] | MediaError | None:
        item = await self.queue.get()
        if isinstance(item, np.ndarray):
            self.room.release()
        return item


@dataclass(frozen=True)
class Caller:
    """Who made an HTTP request: `details` are recorded with the session (how it authenticated, never the
    key), `owner` is a digest of the key or JWT subject: a session answers only the caller that started it."""

    details: dict[str, Any]
    owner: str


class CaptureRun:
    """One live-capture (or replay) session in this process."""

    def __init__(
        self,
        service: CaptureService,
        session: CaptureSession,
        events: EventLog,
        *,
        caller: Caller,
        replay: bool = False,
        resumed: bool = False,
    ) -> None:
        self.service = service
        self.session = session
        self.events = events
        self.principal = caller.details
        self.owner = caller.owner
        self.replay = replay
        self.directory = service.live_dir / session.session_id
        self.directory.mkdir(parents=True, exist_ok=True)
        self.upload = self.directory / f"upload{session.suffix}"
        self.core: CallCore | None = None
        self.finished = asyncio.Event()
        self.done_at: float | None = None
        self.delivered_done = False  # the consumer received `done`: later requests get 404
        self.closing_streams = False  # the server is going away: streams end after what they have
        self._lock = asyncio.Lock()  # chunks and control, one at a time
        self._persist = asyncio.Lock()  # event appends, in order
        self._changed = asyncio.Condition()
        self._decoder: StreamDecoder | None = None
        self._bridge = _Bridge(asyncio.get_running_loop())
        self._container: str | None = None
        self._media_error: MediaError | None = None
        self._ending: asyncio.Task[None] | None = None
        self._feeding: asyncio.Task[None] | None = None
        rate = 0.0 if replay else service.settings.max_ingest_rate
        self._budget = IngestBudget(rate, service.settings.ingest_burst_s)
        self._decoded_samples = 0
        self._arrivals: list[tuple[int, float]] = []  # (decoded samples so far, arrival of the chunk that gave them)
        self._last_arrival = time.monotonic()
        self._summary_key: tuple[Any, ...] | None = None
        # On resume: what the events already sent say (utterances done, the last status), not sent again.
        self._sent_finals = {e.data.get("utterance_id") for e in events.events if e.name == "final_transcript"}
        self._last_status = next((e.data for e in reversed(events.events) if e.name == "status"), None)
        self._resumed = resumed
        # speaker -> the cognitive signals last sent (sent again only when they moved)
        self._cognitive_sent: dict[str, dict[str, Any]] = {}

    # ---- files ------------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.directory / "state.json"

    @property
    def events_path(self) -> Path:
        return self.directory / "events.jsonl"

    async def save_state(self) -> None:
        record = {**self.session.to_record(), "principal": self.principal, "owner": self.owner, "replay": self.replay}
        await self._blocking(write_json_atomically, self.state_path, record, self.service.settings.file_mode)

    async def _blocking(self, func: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.service.executor, func, *args)

    def artifact_path(self, name: str) -> Path:
        return self.service.settings.recordings_dir / f"{self.session.session_id}{ARTIFACTS[name]}"

    # ---- events -----------------------------------------------------------------------------

    async def publish(self, name: str, data: dict[str, Any]) -> Event:
        """Append an event to the log, persisted before any consumer can see it."""
        async with self._persist:
            event = self.events.append(name, safe_json_value(data))
            line = (json.dumps(event.to_record(), ensure_ascii=False) + "\n").encode("utf-8")
            await self._blocking(_fsync_append, self.events_path, line)
        self.service.metrics.http_events.labels(name).inc()
        async with self._changed:
            self._changed.notify_all()
        return event

    async def stream(self, last_id: int) -> AsyncIterator[Event]:
        """The events after `last_id`, then each new one as it comes, until `done` (one consumer)."""
        self.session.attach(time.time())
        try:
            while True:
                for event in self.events.since(last_id):
                    yield event
                    last_id = event.id
                    if event.name == "done":
                        self.service.delivered(self)
                        return
                if self.closing_streams:
                    return
                async with self._changed:
                    if self.events.last_id <= last_id:
                        await self._changed.wait()
        finally:
            self.session.detach(time.time())

    async def _status(self, phase: str, **extra: Any) -> None:
        data = {"phase": phase, "progress": self._progress(phase), **extra}
        if self._last_status is not None and self._last_status.get("phase") == phase and not extra:
            return
        self._last_status = data
        await self.publish("status", data)

    def _progress(self, phase: str) -> float:
        if phase == "completed":
            return 1.0
        if phase == "waiting_media" or self.core is None:
            return 0.0
        decoded = self._decoded_samples / 16000
        if not decoded:
            return 0.0
        done = max(0.0, decoded - self.core.buffered_s)
        return round(min(0.99, done / decoded), 3)

    # ---- starting and chunks ----------------------------------------------------------------

    async def begin(self) -> None:
        """A new session: its state on disk and its first status."""
        await self.save_state()
        await self._status("waiting_media")

    async def resume(self) -> None:
        """A session a killed process left: decode its upload again, then go on as it was."""
        if self.upload.exists() and self.upload.stat().st_size:
            with self.upload.open("rb") as f:
                self._start_decoder(f.read(16))
            with self.upload.open("rb") as f:
                while block := f.read(_FEED_BLOCK):
                    assert self._decoder is not None
                    self._decoder.feed(block)
                    await asyncio.sleep(0)
        await self._status(self._phase(), detail="resumed after a server restart")
        if self.session.state is CaptureState.FINALIZING:
            self._ending = asyncio.create_task(self._end())
        elif self.session.state is CaptureState.ENDING:
            self._ending = asyncio.create_task(self._end(f"the session was {self.session.end_reason}"))

    async def start_replay(self) -> None:
        """A replay: the whole file is here; decode it and finish (no chunks, no rate limit)."""
        with self.upload.open("rb") as f:
            head = f.read(16)
        if not head:
            raise CaptureError(422, "the uploaded file is empty")
        self.session.state = CaptureState.FINALIZING
        await self._status("processing")
        self._start_decoder(head)

        async def feed() -> None:
            assert self._decoder is not None
            with self.upload.open("rb") as f:
                while block := await self._blocking(f.read, _FEED_BLOCK):
                    self._decoder.feed(block)
            await self._end()

        self._ending = asyncio.create_task(feed(), name=f"replay-{self.session.session_id}")

    def _phase(self) -> str:
        state = self.session.state
        if state is CaptureState.WAITING_MEDIA:
            return "waiting_media"
        return "ingesting" if state is CaptureState.INGESTING else "processing"

    async def add_chunk(self, seq: object, data: bytes) -> ChunkAck:
        async with self._lock:
            if self.service.draining and self.session.accepting_chunks:
                raise CaptureError(503, "the server is restarting: send this chunk again in a few seconds")
            if self._media_error is not None and self.session.accepting_chunks:
                raise CaptureError(415, self._media_error.args[0])
            ack = self.session.chunk(seq, data, time.time())
            metrics = self.service.metrics
            if ack.duplicate:
                metrics.http_chunks.labels("duplicate").inc()
                return ack
            await self._blocking(_fsync_append, self.upload, data)
            await self.save_state()
            metrics.http_chunks.labels("accepted").inc()
            metrics.http_bytes.inc(len(data))
            self._last_arrival = time.monotonic()
            if ack.first:
                self._start_decoder(data[:16])
                await self._status("ingesting")
            assert self._decoder is not None
            self._decoder.feed(data)
            return ack

    def _start_decoder(self, head: bytes) -> None:
        self._container = container_of(head, self.session.suffix)
        self._decoder = StreamDecoder(
            self._container, self._bridge.deliver, self._bridge.finished, name=f"decode-{self.session.session_id}"
        )
        self._feeding = asyncio.create_task(self._feed(), name=f"feed-{self.session.session_id}")

    # ---- control ----------------------------------------------------------------------------

    async def control(self, action: object, reason: str | None) -> dict[str, Any]:
        async with self._lock:
            detail = self.session.control(action, time.time())
            await self.save_state()
            if action == "finalize" and self._ending is None:
                await self._status("processing")
                self._ending = asyncio.create_task(self._end())
            elif action == "cancel" and self._ending is None:
                self._ending = asyncio.create_task(self._end(reason or "cancelled by the client"))
            return {
                "status": self.session.state.value,
                "detail": detail,
                "expires_at": iso_utc(self.session.expires_at),
            }

    async def expire(self) -> None:
        async with self._lock:
            if self._ending is None:
                self.session.end("expired")
                await self.save_state()
                self._ending = asyncio.create_task(
                    self._end(f"no chunk, keepalive or consumer for {self.session.ttl_s} s")
                )

    # ---- the pipeline -----------------------------------------------------------------------

    def _metadata(self, media: MediaFormat | None) -> dict[str, Any]:
        """The session record (session.json)."""
        channels = list(media.channels) if media is not None else None
        return {
            "session_id": self.session.session_id,
            "started_at": iso_utc(self.session.created_at),
            "language": self.session.language,
            "media": {"encoding": "L16", "rate": 16000, "channels": channels, "container": self._container},
            "dialect": "http-replay" if self.replay else "http-live",
            "conversation_id": self.session.conversation_id,
            "goal": self.session.goal,
            "filename": self.session.filename,
            **self.principal,
        }

    def _new_core(self, channels: int) -> CallCore:
        media = MediaFormat("L16", 16000, ("mono",) if channels == 1 else ("left", "right"))
        settings = self.service.settings
        metadata = self._metadata(media)
        files = SessionFiles(
            settings.recordings_dir,
            self.session.session_id,
            16000,
            channels,
            metadata,
            record_audio=settings.record_audio,
            mode=settings.file_mode,
            hold_recording=bool(settings.redaction.recording),
            report=settings.reports,
            exact_stem=True,
            once_per_csv=self._resumed,  # it may have ended (and logged its call) before the restart
        )
        speech = self.service.speech
        self.service.metrics.sessions.labels(metadata["dialect"]).inc()
        floor = self.service.floor
        monitor = None
        if floor is not None:
            monitor = floor.open_call(
                self.session.session_id,
                door=DOORS.get(metadata["dialect"], metadata["dialect"]),
                conversation_id=self.session.conversation_id,
                has_recording=settings.record_audio,
            )
        return CallCore(
            session_id=self.session.session_id,
            media=media,
            language=self.session.language,
            recognizer=speech,
            new_analyzer=functools.partial(speech.new_analyzer, goal=self.session.goal or ""),
            exports=files,
            executor=speech.stream_pool,
            emit=self._emit,
            metrics=self.service.metrics,
            max_buffered_audio_s=settings.max_buffered_audio_s,
            max_queued_final_s=36_000.0 if self.replay else settings.max_queued_final_s,  # replay: no bound
            redaction=settings.redaction,
            speakers=speech.new_speakers(media),
            emit_speakers=self._emit_speakers,
            monitor=monitor,
        )

    async def _feed(self) -> None:
        """Decoded audio into the call core, paced; the decoder's end or error ends the feeding."""
        while True:
            item = await self._bridge.get()
            if item is None or isinstance(item, MediaError):
                if isinstance(item, MediaError) and self.session.end_reason != "cancelled":
                    self._media_error = item
                    await self.publish("error", {"code": "unsupported_media", "message": str(item)})
                elif self._decoder is not None and self._decoder.waits_for_complete_file:
                    await self._status(self._phase(), detail="this container can only be decoded once complete: "
                                       "the transcripts follow finalize")  # fmt: skip
                return
            if self.core is None:
                self.core = self._new_core(item.shape[1])
            seconds = item.shape[0] / 16000
            delay = self._budget.delay_for(seconds)
            if delay > 0:
                self.service.metrics.ingest_held.inc(delay)
                await asyncio.sleep(delay)
            while self.core.buffered_s > 15.0:  # the call core's own backpressure: wait, do not refuse
                await asyncio.sleep(0.05)
            self._decoded_samples += item.shape[0]
            self._arrivals.append((self._decoded_samples, self._last_arrival))
            refusal = self.core.submit(item)
            if refusal is not None:
                await self.publish("error", {"code": "overloaded", "message": refusal.message})

    async def _end(self, failure: str | None = None) -> None:
        """Finalize (or end early); an unexpected failure still ends in `error`, then `done`."""
        try:
            await self._finish_pipeline(failure)
        except Exception:
            log.exception("live-capture session %s failed", self.session.session_id)
            if not self.events.finished:
                await self.publish("error", {"code": "internal_error", "message": "the server failed this session"})
                self.session.done()
                self.done_at = time.time()
                await self.save_state()
                await self.publish("done", self._done_payload())
        finally:
            self.finished.set()

    async def _finish_pipeline(self, failure: str | None) -> None:
        """Drain the pipeline, write the artifacts, send done (`failure`: why it ended early)."""
        cancelled = self.session.end_reason == "cancelled"
        if self._decoder is not None:
            if cancelled:
                self._decoder.abort()
            else:
                self._decoder.finish()
        if self._feeding is not None:
            await self._feeding
        if (
            not cancelled
            and self._decoder is not None
            and self._decoder.waits_for_complete_file
            and self._media_error is None
        ):
            await self._decode_complete_file()
        reason = self.session.end_reason or ("failed" if failure or self._media_error else "completed")
        if self.core is not None:
            await self.core.finish(reason)
        else:  # no audio was decoded: no call files, but the call still gets its calls.csv row
            await self._blocking(self._log_call_without_audio, reason)
        if failure is not None:
            code = self.session.end_reason or "failed"
            await self.publish("error", {"code": code, "message": failure})
        await self._write_timeline()
        await self._status("completed")
        self.session.done()
        self.done_at = time.time()
        await self.save_state()
        await self.publish("done", self._done_payload())
        await self._write_timeline()

    def _log_call_without_audio(self, reason: str) -> None:
        metadata = self._metadata(None)
        ended = ended_fields(metadata, time.time(), reason, 0.0)
        row = call_row(metadata, [], CallFiles(), ended=ended)
        settings = self.service.settings
        calls_csv(settings.recordings_dir, settings.file_mode).append(
            row.as_dict(), unless_present="session_id" if self._resumed else None
        )

    async def _decode_complete_file(self) -> None:
        """The container could not be read while it grew: decode the whole upload now that it is here."""
        bridge = self._bridge
        self._decoder = None  # the growing-stream decoder is done; this is the whole file's
        feeding = asyncio.create_task(self._feed())
        try:
            await self._blocking(decode_file, self.upload, self._container, bridge.deliver)
        except MediaError as exc:
            bridge.finished(exc)
        else:
            bridge.finished(None)
        await feeding

    def _done_payload(self) -> dict[str, Any]:
        artifacts = {}
        for name in ARTIFACTS:
            path = self.artifact_path(name)
            if name == "timeline" or path.exists():
                artifacts[name] = {
                    "file": path.name,
                    "url": f"/analyze/live/{self.session.session_id}/artifacts/{name}",
                }
        return {
            "conversation_id": self.session.conversation_id,
            "session_id": self.session.session_id,
            "reason": self.session.end_reason or "completed",
            "artifacts": artifacts,
        }

    async def _write_timeline(self) -> None:
        target = self.artifact_path("timeline")
        if self.events_path.exists():
            await self._blocking(shutil.copyfile, self.events_path, target)
            os.chmod(target, self.service.settings.file_mode)

    # ---- the call core's output, as events ---------------------------------------------------

    async def _emit(
        self, update: TranscriptUpdate, analysis: CallAnalysis | None, utterance: UtteranceAnalysis | None
    ) -> None:
        if update.utterance_id in self._sent_finals:
            return  # sent before a restart: the resumed pipeline made it again
        if not update.is_final:
            await self.publish(
                "partial_transcript",
                {
                    "partial_id": f"{update.utterance_id}.{self.events.last_id + 1}",
                    "utterance_id": update.utterance_id,
                    "text": update.text,
                    "speaker": update.speaker,
                    "is_final": False,
                },
            )
            return
        self._sent_finals.add(update.utterance_id)
        await self.publish("final_transcript", _final(update))
        self._observe_latency(update)
        if utterance is not None:
            await self.publish("emotion", _emotion(update, utterance))
            for moment in utterance.moments:
                await self.publish("moment", _moment(moment, update))
            for transition in utterance.transitions:
                await self.publish("transition", transition.to_json())
        if analysis is not None:
            cognitive = analysis.live.get("cognitive")
            speaker = update.speaker_id or update.speaker
            found = cognitive.get(update.speaker) if isinstance(cognitive, dict) else None
            if isinstance(found, dict) and _cognitive_changed(self._cognitive_sent.get(speaker), found):
                self._cognitive_sent[speaker] = found
                await self.publish("cognitive", {**found, "speaker_id": speaker})
            # sent again on a material change only (analysis.live_summary.summary_key)
            key = (analysis.live.get("summary_key"), analysis.sentiment)
            if key != self._summary_key:
                self._summary_key = key
                await self.publish("summary_update", _summary(analysis, self.session.goal))
        if self._phase() == "processing":
            await self.publish("status", {"phase": "processing", "progress": self._progress("processing")})

    async def _emit_speakers(self, update: SpeakerUpdate) -> None:
        """The end-of-call diarization's corrections, as one `speaker_update` event before `done`."""
        await self.publish("speaker_update", update.to_json())

    def _observe_latency(self, update: TranscriptUpdate) -> None:
        end = int(update.end * 16000)
        arrived = next((at for position, at in self._arrivals if position >= end), None)
        if arrived is not None:
            self.service.metrics.http_final_latency.observe(time.monotonic() - arrived)
        self._arrivals = [(p, t) for p, t in self._arrivals if p >= end]


def _final(update: TranscriptUpdate) -> dict[str, Any]:
    return {
        "utterance_id": update.utterance_id,
        "speaker": update.speaker,
        "speaker_id": update.speaker_id or update.speaker,  # the role where the channel says who speaks
        **update.speaker_fields(),
        "channel": update.channel,
        "t_start": round(update.start, 3),
        "t_end": round(update.end, 3),
        "text": update.text,
        "confidence": round(update.confidence or 0.0, 4),
        "language": update.language,
        "language_probability": (
            round(update.language_probability, 4) if update.language_probability is not None else None
        ),
        "translation": update.translation,  # English, when the utterance was not: what the analysis read
        "words": [word.to_json() for word in update.words],
    }


def _emotion(update: TranscriptUpdate, utterance: UtteranceAnalysis) -> dict[str, Any]:
    """The 7-way distribution and PAD (analysis.emotion_pad), with the contact-centre label beside them."""
    return {
        "utterance_id": update.utterance_id,
        "speaker_id": update.speaker_id or update.speaker,
        **utterance_emotion(utterance),
        "label": utterance.emotion,  # the contact-centre label (frustrated, anxious, ...) the CSV carries
        "contact_centre": {label: round(p, 4) for label, p in utterance.emotion_scores.items()},
        "sentiment": utterance.sentiment,
        "stability": "final",
    }


def _moment(moment: Moment, update: TranscriptUpdate) -> dict[str, Any]:
    return {**moment.to_json(), "speaker_id": update.speaker_id or moment.speaker}


COGNITIVE_STEP = 0.05  # a speaker's cognitive signals are sent again when a score moved this much


def _cognitive_changed(sent: dict[str, Any] | None, found: dict[str, Any]) -> bool:
    if sent is None or sent.get("signals") != found.get("signals"):
        return True
    scores = ("engagement", "cognitive_load", "focus")
    return any(abs(float(found.get(k) or 0.0) - float(sent.get(k) or 0.0)) >= COGNITIVE_STEP for k in scores)


def _summary(analysis: CallAnalysis, goal: str) -> dict[str, Any]:
    """The rolling summary (analysis.live_summary), with the call analysis block beside it."""
    rolling = analysis.live.get("rolling_summary")
    return {
        **(rolling if isinstance(rolling, dict) else {}),
        "summary": analysis.summary,
        "sentiment": analysis.sentiment,
        "emotion": analysis.emotion,
        "agent_score": analysis.agent_score,
        "process_issues": analysis.process_issues,
        "repeated_problems": analysis.repeated_problems,
        "marketing_mentions": analysis.marketing_mentions,
        "outcome": analysis.outcome,
        "customer_state": analysis.live.get("customer_state"),
        "goal": goal,
    }


class CaptureService:
    """This process's live-capture and replay sessions."""

    def __init__(
        self, settings: Settings, speech: Any, metrics: ServerMetrics, executor: Executor, floor: Floor | None = None
    ) -> None:
        self.settings = settings
        self.speech = speech
        self.metrics = metrics
        self.executor = executor
        self.floor = floor  # the supervisor pages' view of the calls (None: not watched)
        self.live_dir = settings.recordings_dir / "live"
        self.runs: dict[str, CaptureRun] = {}
        self.draining = False
        self._sweeper: asyncio.Task[None] | None = None

    # ---- lifecycle ----

    async def start(self) -> None:
        self.live_dir.mkdir(parents=True, exist_ok=True)
        for directory in sorted(self.live_dir.iterdir()):
            with contextlib.suppress(Exception):
                await self._restore(directory)
        self._sweeper = asyncio.create_task(self._sweep(), name="capture-sweeper")

    async def _restore(self, directory: Path) -> None:
        state = directory / "state.json"
        if not state.is_file():
            shutil.rmtree(directory, ignore_errors=True)  # a start that never got its state on disk
            return
        record = json.loads(state.read_text(encoding="utf-8"))
        session = CaptureSession.from_record(record)
        events = directory / "events.jsonl"
        lines = events.read_text(encoding="utf-8", errors="replace").splitlines() if events.exists() else []
        records = []
        for line in lines:
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
        run = CaptureRun(
            self, session, EventLog.restore(records),
            caller=Caller(dict(record.get("principal", {})), str(record.get("owner", ""))),
            replay=bool(record.get("replay")), resumed=True,
        )  # fmt: skip
        self.runs[session.session_id] = run
        if session.state is CaptureState.DONE:
            run.done_at = session.last_activity
            run.finished.set()
            return
        log.warning("resuming live-capture session %s (%d chunks received)", session.session_id, session.next_chunk_seq)
        await run.resume()

    async def stop(self) -> None:
        """Drain: sessions that are finishing finish (within the drain timeout); sessions still ingesting
        stay on disk and resume after the restart."""
        self.draining = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        finishing = [run.finished.wait() for run in self.runs.values() if run._ending is not None]
        if finishing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*finishing), self.settings.drain_timeout_s)
        for run in self.runs.values():
            if run.session.accepting_chunks and not run.finished.is_set():
                # Kept on disk, resumed after the restart; its consumer reconnects with Last-Event-ID.
                message = (
                    "the server is restarting: reconnect with Last-Event-ID; send chunks again from next_chunk_seq"
                )
                await run.publish("error", {"code": "server_restarting", "message": message})
            run.closing_streams = True
            async with run._changed:
                run._changed.notify_all()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.time()
            for run in list(self.runs.values()):
                if run.session.expired(now):
                    await run.expire()
                elif run.done_at is not None and now > run.done_at + run.session.ttl_s:
                    self.forget(run)

    # ---- sessions ----

    async def create(self, request: StartRequest, caller: Caller, route: str | None) -> CaptureRun:
        if len(self.runs) >= self.settings.max_sessions:
            raise CaptureError(503, f"server at capacity ({self.settings.max_sessions} live-capture sessions)")
        token = route if route and route not in self.runs else secrets.token_hex(16)
        session = CaptureSession(
            session_id=f"live_{token}",
            conversation_id=f"liveconv_{secrets.token_hex(16)}",
            created_at=time.time(),
            ttl_s=request.ttl_s,
            goal=request.goal,
            suffix=request.suffix,
            filename=request.filename,
            max_chunk_bytes=self.settings.max_chunk_bytes,
            language=self._language(request.language),
        )
        run = CaptureRun(self, session, EventLog(), caller=caller)
        self.runs[session.session_id] = run
        await run.begin()
        return run

    def _language(self, requested: str | None) -> str:
        """A session's language: named (and supported: else 415) or auto, the server's default."""
        languages = self.settings.languages
        try:
            return languages.resolve(requested if requested is not None else self.settings.language)
        except ProtocolError as error:
            raise CaptureError(error.code if error.code == 415 else 422, error.message) from None

    async def create_replay(
        self, suffix: str, filename: str | None, caller: Caller, language: str | None = None
    ) -> CaptureRun:
        session = CaptureSession(
            language=self._language(language),
            session_id=f"replay_{secrets.token_hex(16)}",
            conversation_id=f"replayconv_{secrets.token_hex(16)}",
            created_at=time.time(),
            ttl_s=900,
            suffix=suffix,
            filename=filename,
        )
        run = CaptureRun(self, session, EventLog(), caller=caller, replay=True)
        self.runs[session.session_id] = run
        await run.begin()
        return run

    def get(self, session_id: str, caller: Caller) -> CaptureRun:
        """The caller's session; another key's session is as unknown as one that never existed."""
        run = self.runs.get(session_id)
        if run is not None and not hmac.compare_digest(run.owner, caller.owner):
            run = None
        if run is None or (run.session.state is CaptureState.DONE and run.delivered_done):
            raise CaptureError(404, f"no live-capture session {session_id[:64]!r} (ended, expired or never started)")
        return run

    def delivered(self, run: CaptureRun) -> None:
        """The consumer received `done`: the session is over (its artifacts stay until its lifetime ends)."""
        run.delivered_done = True

    def forget(self, run: CaptureRun) -> None:
        self.runs.pop(run.session.session_id, None)
        shutil.rmtree(run.directory, ignore_errors=True)

    def artifact(self, session_id: str, name: str, caller: Caller) -> Path:
        run = self.runs.get(session_id)
        if run is not None and not hmac.compare_digest(run.owner, caller.owner):
            run = None
        if run is None or run.session.state is not CaptureState.DONE:
            raise CaptureError(404, f"no finished session {session_id[:64]!r} with artifacts")
        if name not in ARTIFACTS:
            raise CaptureError(404, f"no artifact {name[:40]!r}: one of {', '.join(ARTIFACTS)}")
        path = run.artifact_path(name)
        if not path.exists():
            raise CaptureError(404, f"the session has no {name} (it recorded no {name})")
        return path
