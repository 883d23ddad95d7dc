"""The numbered events of an HTTP live-capture session: what its Server-Sent-Events stream sends.

Every event has an `id` (1, 2, 3, ...), a name from the catalog (`status`, `partial_transcript`,
`final_transcript`, `emotion`, `moment`, `summary_update`, `error`, `done`, ...) and one JSON object as
its data. A consumer that reconnects with `Last-Event-ID: N` receives exactly the events after N, in
order. The log is kept whole for the session's life (it is also the session's timeline artifact); the
door persists each event before any consumer sees it, so a restart loses none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CATALOG", "Event", "EventLog"]

CATALOG = (
    "status",
    "partial_transcript",
    "final_transcript",
    "emotion",
    "cognitive",
    "transition",
    "moment",
    "summary_update",
    "error",
    "done",
)


@dataclass(frozen=True)
class Event:
    id: int
    name: str
    data: dict[str, Any]

    def to_record(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.name, "data": self.data}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Event:
        return cls(int(record["id"]), str(record["event"]), dict(record["data"]))


@dataclass
class EventLog:
    events: list[Event] = field(default_factory=list)

    @property
    def last_id(self) -> int:
        return self.events[-1].id if self.events else 0

    def append(self, name: str, data: dict[str, Any]) -> Event:
        if name not in CATALOG:
            raise ValueError(f"{name!r} is not an event of the catalog")
        event = Event(self.last_id + 1, name, data)
        self.events.append(event)
        return event

    def since(self, last_id: int) -> list[Event]:
        """The events after `last_id` (all of them for 0)."""
        if last_id <= 0:
            return list(self.events)
        return [event for event in self.events if event.id > last_id]

    @property
    def finished(self) -> bool:
        return bool(self.events) and self.events[-1].name == "done"

    @classmethod
    def restore(cls, records: Iterable[dict[str, Any]]) -> EventLog:
        log = cls()
        for record in records:
            event = Event.from_record(record)
            if event.id == log.last_id + 1:  # a torn or repeated tail is dropped
                log.events.append(event)
        return log
