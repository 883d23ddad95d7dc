"""The floor: every live call of this process, whatever its door, for the supervisor pages.

Each call core gets a `FloorCall` as its monitor (`calls.ports.CallMonitor`): the partials and finals
it is told (redacted as the files are) build the call's `CallModel`, and each change goes out to the
pages watching, as Server-Sent Events (`ui.routes`): the floor stream gets the call's line, the call
stream its transcript, analysis, alerts and moments.

Everything runs on the event loop and costs about the new utterance. A watcher never slows a call: each
subscription has a bounded queue, and one that falls behind is dropped (its stream ends; the browser's
EventSource reconnects and starts again from a snapshot). Ended calls stay on the floor's "recently
ended" list (the last `RECENT_CALLS`), pointing at their files; after a restart the finished pages are
read from the files alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis import CallAnalysis, UtteranceAnalysis
from audiohook_server.calls.transcript_csv import TranscriptRow
from audiohook_server.ui.call_view import CallModel, analysis_view, row_utterance
from protocol.capture import iso_utc
from protocol.events import SpeakerUpdate, TranscriptUpdate

__all__ = ["Floor", "FloorCall", "Subscription"]

log = logging.getLogger(__name__)

RECENT_CALLS = 20
SUBSCRIBER_QUEUE = 512  # events a watcher may have waiting before it is dropped
Event = tuple[str, dict[str, Any]]


class Subscription:
    """One page's stream: events in order, or the end (None) once it fell behind or was closed."""

    def __init__(self, first: list[Event]) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE)
        self.dropped = False
        for event in first:
            self._queue.put_nowait(event)

    def push(self, event: str, data: dict[str, Any]) -> None:
        if self.dropped:
            return
        try:
            self._queue.put_nowait((event, data))
        except asyncio.QueueFull:
            self.dropped = True  # the page reconnects and gets a snapshot
            self._end()

    def close(self) -> None:
        if not self.dropped:
            self.dropped = True
            self._end()

    def _end(self) -> None:
        while True:  # make room for the end marker
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()

    async def next(self) -> Event | None:
        return await self._queue.get()


def _analysis(analysis: CallAnalysis | None) -> dict[str, Any] | None:
    if analysis is None:
        return None
    return analysis_view(analysis.to_event(), analysis.agent_score_breakdown, analysis.outcome)


@dataclass
class FloorCall:
    """One live call on the floor: the monitor its call core reports to."""

    floor: Floor
    model: CallModel
    started: float = field(default_factory=time.monotonic)
    watchers: set[Subscription] = field(default_factory=set)
    csv_path: Path | None = None

    def _publish(self, event: str, data: dict[str, Any]) -> None:
        for watcher in list(self.watchers):
            watcher.push(event, data)
            if watcher.dropped:
                self.watchers.discard(watcher)

    def _floor_line(self) -> None:
        self.floor.publish("call", self.floor_item())

    def floor_item(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.started if self.model.live else None
        return self.model.floor_item(elapsed)

    def watch(self) -> Subscription:
        subscription = Subscription([("snapshot", self.snapshot())])
        if self.model.live:
            self.watchers.add(subscription)
        else:
            subscription.close()
        return subscription

    def snapshot(self) -> dict[str, Any]:
        call = self.model.to_json()
        if self.model.live:
            call["duration_s"] = round(time.monotonic() - self.started, 1)
        return call

    # ---- CallMonitor -------------------------------------------------------------------------

    def partial(self, update: TranscriptUpdate) -> None:
        try:
            partial = {
                "id": update.utterance_id,
                "start": round(update.start, 3),
                "end": round(update.end, 3),
                "channel": str(update.channel),
                "speaker": update.speaker,
                "speaker_id": update.speaker_id or "",
                "text": update.text,
                "final": False,
            }
            self.model.partials[update.utterance_id] = partial
            self._publish("partial", partial)
        except Exception:
            log.exception("floor: a partial of session %s could not be shown", self.model.session_id)

    def final(
        self, utterance_id: str, row: TranscriptRow, result: UtteranceAnalysis, analysis: CallAnalysis | None
    ) -> None:
        try:
            values = row.as_dict()
            utterance = row_utterance(utterance_id, values)
            replaces = utterance_id.split(".", 1)[0]  # a sentence cut from the utterance: "1-4.2" ends "1-4"
            self.model.partials.pop(replaces, None)
            alerts, moments = self.model.add_final(utterance, values)
            self.model.set_analysis(_analysis(analysis))
            self._publish("final", {**utterance, "replaces": replaces})
            self._publish("analysis", {"analysis": self.model.analysis, "talk_share": self.model.talk_share()})
            for alert in alerts:
                self._publish("alert", alert)
            for moment in moments:
                self._publish("moment", moment)
            self._floor_line()
        except Exception:
            log.exception("floor: a final of session %s could not be shown", self.model.session_id)

    def speakers(self, update: SpeakerUpdate, analysis: CallAnalysis | None) -> None:
        try:
            corrected = {c.utterance_id: c for c in update.corrections}
            for utterance in self.model.utterances:
                correction = corrected.get(utterance["id"])
                if correction is not None:
                    utterance["speaker"], utterance["speaker_id"] = correction.speaker, correction.speaker_id
            self.model.set_analysis(_analysis(analysis))
            self._publish("snapshot", self.snapshot())
            self._floor_line()
        except Exception:
            log.exception("floor: the speakers of session %s could not be shown", self.model.session_id)

    def ended(self, reason: str, csv_path: Path | None) -> None:
        try:
            self.model.duration_s = max(self.model.duration_s, time.monotonic() - self.started)
            self.model.live = False
            self.model.end_reason = reason
            self.model.partials.clear()
            self.csv_path = csv_path
            self._publish("ended", {"end_reason": reason})
            for watcher in self.watchers:
                watcher.close()
            self.watchers.clear()
            self.floor.end(self)
        except Exception:
            log.exception("floor: the end of session %s could not be shown", self.model.session_id)


class Floor:
    """The process's live calls and the pages watching them."""

    def __init__(self) -> None:
        self._live: dict[int, FloorCall] = {}  # by id(): two calls may share a session id
        self._recent: deque[FloorCall] = deque(maxlen=RECENT_CALLS)
        self._watchers: set[Subscription] = set()

    def open_call(self, session_id: str, *, door: str, conversation_id: str | None, has_recording: bool) -> FloorCall:
        model = CallModel(
            session_id=session_id,
            conversation_id=conversation_id or "",
            door=door,
            started_at=iso_utc(time.time()),
            has_recording=has_recording,
        )
        call = FloorCall(self, model)
        self._live[id(call)] = call
        self.publish("call", call.floor_item())
        return call

    def end(self, call: FloorCall) -> None:
        self._live.pop(id(call), None)
        self._recent.appendleft(call)
        self.publish("ended", call.floor_item())

    def publish(self, event: str, data: dict[str, Any]) -> None:
        for watcher in list(self._watchers):
            watcher.push(event, data)
            if watcher.dropped:
                self._watchers.discard(watcher)

    def items(self) -> list[dict[str, Any]]:
        """Every live call's line, then the recently ended ones (newest first)."""
        return [call.floor_item() for call in self._live.values()] + [call.floor_item() for call in self._recent]

    def watch(self) -> Subscription:
        subscription = Subscription([("snapshot", {"calls": self.items()})])
        self._watchers.add(subscription)
        return subscription

    def unwatch(self, subscription: Subscription) -> None:
        self._watchers.discard(subscription)
        for call in self._live.values():
            call.watchers.discard(subscription)

    def live_call(self, session_id: str) -> FloorCall | None:
        """The live call with this id (the latest to start, if two share it)."""
        found = [call for call in self._live.values() if call.model.session_id == session_id]
        return found[-1] if found else None

    def recent_call(self, session_id: str) -> FloorCall | None:
        return next((call for call in self._recent if call.model.session_id == session_id), None)

    @property
    def live_count(self) -> int:
        return len(self._live)
