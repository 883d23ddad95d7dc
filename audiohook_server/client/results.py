"""What one session produced: every server message with when it arrived, and the readings tests need.

Tests and benchmarks judge a session after the fact (which finals came, how late, did it end cleanly),
and the console prints a summary of it; they all read the same `StreamResult`, so what counts as a
final, an error or a clean end is decided once, here, rather than by each caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audiohook_server.client.dialect import is_transcript, parameters_of


@dataclass(frozen=True)
class CallOutcome:
    """How one call went, whatever the door: what the command's summary shows and its exit code follows."""

    ok: bool  # opened, no error, ended normally and in time
    ending: str  # how it ended, one phrase: "closed normally (1000)", "server disconnected (error) ..."
    finals: int = 0
    audio_seconds: float = 0.0
    elapsed_s: float = 0.0
    analysis: dict[str, Any] | None = None  # the last call analysis the server sent
    notes: tuple[str, ...] = ()  # what else the door measured or found (pong round trips, protocol problems)


@dataclass
class ReceivedEvent:
    """One server message, the monotonic time it arrived and the seconds of audio sent by then."""

    message: dict[str, Any]
    received_at: float
    audio_sent_s: float

    @property
    def type(self) -> str:
        value = self.message.get("type")
        return value if isinstance(value, str) else ""


@dataclass
class StreamResult:
    """Everything one session produced, in order."""

    session_id: str
    opened: dict[str, Any] | None = None
    messages: list[ReceivedEvent] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    audio_seconds: float = 0.0  # seconds of audio actually sent
    started_at: float = 0.0  # monotonic time stream position 0 was "spoken": position t is spoken at +t/speed
    finished_at: float = 0.0  # monotonic time the connection was closed
    timed_out: bool = False  # no `closed` and no socket close within close_timeout after `close`

    @property
    def entities(self) -> list[dict[str, Any]]:
        """The transcript entities of all `event` messages, in order."""
        found: list[dict[str, Any]] = []
        for received in self.messages:
            if received.type == "event":
                entity = parameters_of(received.message).get("entity")
                if is_transcript(entity):
                    found.append(entity)
        return found

    @property
    def finals(self) -> list[dict[str, Any]]:
        """Final transcript entities (an entity without `is_final` counts as final), in order."""
        return [entity for entity in self.entities if entity.get("is_final", True) is not False]

    @property
    def partials(self) -> list[dict[str, Any]]:
        """Partial (interim) transcript entities, in order."""
        return [entity for entity in self.entities if entity.get("is_final", True) is False]

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The server's `error` messages."""
        return [received.message for received in self.messages if received.type == "error"]

    @property
    def final_text(self) -> str:
        """The finals' text joined with spaces."""
        texts = (str(entity.get("value", "")).strip() for entity in self.finals)
        return " ".join(text for text in texts if text)

    @property
    def last_analysis(self) -> dict[str, Any] | None:
        """The most recent call analysis the server sent, if any."""
        for received in reversed(self.messages):
            analysis = parameters_of(received.message).get("analysis")
            if received.type == "event" and isinstance(analysis, dict):
                return analysis
        return None

    @property
    def closed_received(self) -> bool:
        """Whether the server confirmed the end of the session with `closed`."""
        return any(received.type == "closed" for received in self.messages)

    @property
    def disconnect(self) -> dict[str, Any] | None:
        """The server's `disconnect` message, if it sent one."""
        return next((received.message for received in self.messages if received.type == "disconnect"), None)

    @property
    def elapsed_s(self) -> float:
        """Seconds from the first audio frame to the end of the connection."""
        return max(0.0, self.finished_at - self.started_at)

    @property
    def ok(self) -> bool:
        """Opened, no server error, and ended with `closed` or a normal close (1000), in time."""
        disconnect = self.disconnect
        if disconnect is not None and parameters_of(disconnect).get("reason", "completed") != "completed":
            return False
        return (
            self.opened is not None
            and not self.errors
            and not self.timed_out
            and (self.closed_received or self.close_code == 1000)
        )

    def outcome(self) -> CallOutcome:
        """The session as the command summarises it."""
        return CallOutcome(
            ok=self.ok,
            ending=self._ending(),
            finals=len(self.finals),
            audio_seconds=self.audio_seconds,
            elapsed_s=self.elapsed_s,
            analysis=self.last_analysis,
        )

    def _ending(self) -> str:
        close = f"close {self.close_code} {self.close_reason}".strip()
        if self.opened is None:
            detail = f": {parameters_of(self.errors[0]).get('message', '')}" if self.errors else ""
            return f"the server did not open the session ({close}){detail}"
        if self.errors:
            return f"the server sent {len(self.errors)} error(s), {close}"
        if self.timed_out:
            return "no 'closed' from the server before the close timeout"
        disconnect = self.disconnect
        if disconnect is not None:
            return f"server disconnected ({parameters_of(disconnect).get('reason', '?')}), close {self.close_code}"
        if self.ok:
            return f"closed normally ({self.close_code} {self.close_reason})".strip()
        return f"connection closed abnormally ({self.close_code} {self.close_reason})".strip()
