"""Carrying out a session's actions: the one place where a sans-I/O session meets a call core.

Every door (WebSocket, HTTP) feeds frames into its `Session` and hands the actions that come back to
`SessionRunner.perform`, which sends messages through the door's `Outbox`, starts the `CallCore` when
the session starts, feeds it audio and gaps, turns a core's `Refusal` (backpressure) into the
dialect's error, and runs the closing handshake: after `close`, the last finals first, then
`closed()`. Whatever ends the connection, `finish()` finishes the call so that every final reaches
the CSV. The runner never touches a socket: the door's `Outbox` does.

The call's end reason (in its session.json and its calls.csv row) is how it ended first: `completed`
(the client's `close`), `drained` (the server shut down), `failed` (the server ended it with an
error: a timeout, overload, a protocol error) or `disconnected` (the connection went without a
`close`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from analysis import CallAnalysis, UtteranceAnalysis
from analysis.live import live_fields
from audiohook_server.auth.handshake import Handshake
from audiohook_server.calls.call_record import DOORS
from audiohook_server.calls.core import CallCore, Emit, EmitSpeakers
from audiohook_server.calls.ingest import IngestBudget
from audiohook_server.calls.ports import SpeechService
from audiohook_server.calls.session_files import SessionFiles
from audiohook_server.logs import bind_session
from audiohook_server.metrics import ServerMetrics
from audiohook_server.safe_text import log_text
from audiohook_server.settings import Settings
from audiohook_server.ui.floor import Floor
from protocol.actions import (
    AudioGap,
    AudioReceived,
    ClientReportedError,
    CloseConnection,
    LanguageChanged,
    LanguageRefused,
    SendMessage,
    SessionAction,
    SessionEnding,
    SessionStarted,
)
from protocol.audio import speaker_for_channel
from protocol.errors import CLOSE_TOO_BIG, CLOSE_TRY_AGAIN_LATER, ProtocolError
from protocol.events import SpeakerUpdate, TranscriptUpdate
from protocol.session import Session

__all__ = ["CallServices", "Outbox", "SessionRunner"]

log = logging.getLogger(__name__)


class Outbox(Protocol):
    """How a door reaches its client."""

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message; a client that is gone is not an error (its CSV is still written)."""
        ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass(frozen=True)
class IngestLimits:
    """How fast, and how much, audio one session may send (`calls.ingest`)."""

    rate: float = 0.0  # times real time; 0: no limit
    burst_s: float = 30.0
    max_audio_s: float = float("inf")

    @classmethod
    def for_live_doors(cls, settings: Settings) -> IngestLimits:
        return cls(settings.max_ingest_rate, settings.ingest_burst_s, settings.max_session_s)


@dataclass(frozen=True)
class CallServices:
    """What every call of this process shares: the settings, the speech service, the metrics and the
    supervisor floor (None: no pages watch the calls)."""

    settings: Settings
    speech: SpeechService
    metrics: ServerMetrics
    floor: Floor | None = None

    def start_call(
        self, started: SessionStarted, handshake: Handshake, emit: Emit, emit_speakers: EmitSpeakers
    ) -> CallCore:
        media = started.media
        metadata: dict[str, Any] = {
            "session_id": started.session_id,
            "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "language": started.language,
            "media": {"encoding": media.encoding, "rate": media.rate, "channels": list(media.channels)},
            "speakers": [speaker_for_channel(name) for name in media.channels],
            "dialect": started.dialect,
            "conversation_id": started.conversation_id,
            **handshake.auth_details(),
            **started.details,
        }
        files = SessionFiles(
            self.settings.recordings_dir,
            started.session_id,
            media.rate,
            len(media.channels),
            metadata,
            record_audio=self.settings.record_audio,
            mode=self.settings.file_mode,
            hold_recording=bool(self.settings.redaction.recording),
            report=self.settings.reports,
        )
        monitor = None
        if self.floor is not None:
            monitor = self.floor.open_call(
                started.session_id,
                door=DOORS.get(started.dialect, started.dialect),
                conversation_id=started.conversation_id,
                has_recording=self.settings.record_audio,
            )
        return CallCore(
            session_id=started.session_id,
            media=media,
            language=started.language,
            recognizer=self.speech,
            new_analyzer=self.speech.new_analyzer,
            exports=files,
            executor=self.speech.stream_pool,
            emit=emit,
            metrics=self.metrics,
            max_buffered_audio_s=self.settings.max_buffered_audio_s,
            max_queued_final_s=self.settings.max_queued_final_s,
            redaction=self.settings.redaction,
            speakers=self.speech.new_speakers(media),
            emit_speakers=emit_speakers,
            monitor=monitor,
        )


class SessionRunner:
    """Runs one session's actions for a door."""

    def __init__(
        self,
        session: Session,
        outbox: Outbox,
        handshake: Handshake,
        start_call: Callable[[SessionStarted, Handshake, Emit, EmitSpeakers], CallCore],
        metrics: ServerMetrics,
        ingest: IngestLimits | None = None,
        *,
        live_fields: bool = False,
    ) -> None:
        self.session = session
        self.live_fields = live_fields  # the analysis block also carries the live analytics (opt-in)
        self.outbox = outbox
        self.handshake = handshake
        self.metrics = metrics
        self.ingest = ingest or IngestLimits()
        self._budget = IngestBudget(self.ingest.rate, self.ingest.burst_s)
        self._audio_s = 0.0
        self.core: CallCore | None = None
        self._start_call = start_call
        self._closing: asyncio.Task[None] | None = None
        self._delayed_close: asyncio.Task[None] | None = None
        self._dialect_started: str | None = None
        self._failed = False

    @property
    def session_id(self) -> str | None:
        return self.session.session_id or self.handshake.session_id

    async def perform(self, actions: list[SessionAction]) -> None:
        for action in actions:
            if isinstance(action, SendMessage):
                await self.outbox.send(action.message)
            elif isinstance(action, AudioReceived):
                await self._audio(action)
            elif isinstance(action, AudioGap):
                if self.core is not None:
                    self.core.submit_gap(action.samples, action.reason)
                log.info("session %s: audio %s (%d samples skipped)", self.session_id, action.reason, action.samples)
            elif isinstance(action, SessionStarted):
                self._start(action)
            elif isinstance(action, LanguageChanged):
                if self.core is not None:
                    self.core.set_language(action.language)
                log.info("session %s: language now %s", self.session_id, action.language)
            elif isinstance(action, LanguageRefused):
                self.metrics.language_refusals.inc()
                log.warning(
                    "session %s: language %s refused, the call keeps its language: %s",
                    self.session_id,
                    log_text(action.requested),
                    action.reason,
                )
            elif isinstance(action, ClientReportedError):
                log.warning("session %s: client error %d: %s", self.session_id, action.code, action.message)
            elif isinstance(action, SessionEnding):
                if self._closing is None:
                    self._closing = asyncio.create_task(self._close_gracefully())
            elif isinstance(action, CloseConnection):
                await self._close(action)

    async def fail(self, error: ProtocolError) -> None:
        log.warning("session %s: %s", self.session_id, error.message)
        self._failed = True
        await self.perform(self.session.fail(error))

    async def drain(self) -> None:
        """Server shutdown: finish the open utterances, send their finals, then end the session."""
        if self.core is not None:
            await self.core.finish("drained")
        await self.perform(self.session.shutdown())

    async def finish(self, close_code: int | None = None) -> None:
        """The connection is over: finish the call (every final to the CSV), whatever ended it."""
        if self._dialect_started is not None:
            self.metrics.live_sessions.labels(self._dialect_started).dec()
            self._dialect_started = None
        if self._delayed_close is not None:
            self._delayed_close.cancel()
        if self._closing is not None:
            await self._closing
        elif self.core is not None:
            await self.core.finish("failed" if self._failed else "disconnected")
        if self.core is not None:
            csv = getattr(self.core.exports, "csv_path", None)
            log.info(
                "session %s ended: %.1f s of audio, %d finals, csv %s, close code %s",
                self.session_id,
                self.session.seconds_received,
                self.core.final_count,
                csv or "not written",
                close_code,
            )

    async def _audio(self, action: AudioReceived) -> None:
        if self.core is None:
            return
        seconds = action.samples.shape[0] / self.core.media.rate
        self._audio_s += seconds
        if self._audio_s > self.ingest.max_audio_s:
            limit = self.ingest.max_audio_s
            await self.fail(ProtocolError(413, f"more audio than a session may hold ({limit:.0f} s)", CLOSE_TOO_BIG))
            return
        delay = self._budget.delay_for(seconds)
        if delay > 0:
            # Faster than the ingest rate: read this client more slowly (its sends wait), lose nothing.
            self.metrics.ingest_held.inc(delay)
            await asyncio.sleep(delay)
        refusal = self.core.submit(action.samples)
        if refusal is not None:
            await self.fail(ProtocolError(refusal.code, refusal.message, CLOSE_TRY_AGAIN_LATER))

    async def _emit(
        self, update: TranscriptUpdate, analysis: CallAnalysis | None, utterance: UtteranceAnalysis | None
    ) -> None:
        block: dict[str, Any] | None = None
        if analysis is not None:
            block = analysis.to_event()
            if self.live_fields and update.is_final:
                block["live"] = live_fields(utterance, analysis)
        await self.perform(self.session.transcript(update, block))

    async def _emit_speakers(self, update: SpeakerUpdate) -> None:
        await self.perform(self.session.speakers_updated(update))

    def _start(self, action: SessionStarted) -> None:
        bind_session(session_id=action.session_id, conversation_id=action.conversation_id, dialect=action.dialect)
        self.metrics.sessions.labels(action.dialect).inc()
        self.metrics.live_sessions.labels(action.dialect).inc()
        self._dialect_started = action.dialect
        log.info(
            "session %s opened (%s): %s %d Hz %s, language %s%s",
            action.session_id,
            action.dialect,
            action.media.encoding,
            action.media.rate,
            "/".join(action.media.channels),
            action.language,
            f", conversation {action.conversation_id}" if action.conversation_id else "",
        )
        self.core = self._start_call(action, self.handshake, self._emit, self._emit_speakers)

    async def _close(self, action: CloseConnection) -> None:
        if action.code not in (1000, 1001):
            self.metrics.errors.labels(str(action.code)).inc()
        if action.code != 1000:
            log.warning("session %s: closing with %d: %s", self.session_id, action.code, action.reason)
        if action.delay <= 0:
            await self.outbox.close(action.code, action.reason)
        elif self._delayed_close is None:
            # The client was asked to close (Genesys `disconnect`); close ourselves if it does not.
            async def close_later() -> None:
                await asyncio.sleep(action.delay)
                await self.outbox.close(action.code, action.reason)

            self._delayed_close = asyncio.create_task(close_later())

    async def _close_gracefully(self) -> None:
        """After a `close`: the last finals first, then `closed`, then a normal close."""
        if self.core is not None:
            await self.core.finish("failed" if self._failed else "completed")
        if self._delayed_close is not None:
            self._delayed_close.cancel()
        await self.perform(self.session.closed())
