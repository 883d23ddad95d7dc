"""The session contract every dialect keeps, and the bookkeeping the dialects share.

A transport (the WebSocket door, the HTTP door) knows a dialect only through `Session`: it feeds in
each frame the client sent and carries out, in order, the `SessionAction`s that come back; when the
call core has a transcript for the client it asks `transcript()` for the actions that carry it; when
the core has flushed the finals of a `close` it asks `closed()`. A session never does I/O.

Each dialect's text messages move it through a transition table, in the style of h11's `_state.py`:

    TRANSITIONS = {(state, message type): Transition(handler, target state), ...}

`SessionBase.dispatch` looks the pair up, runs the handler (which validates the message and returns
the actions) and moves the session to the target state. Handlers never set the state; only the error
paths leave the table (`fail()`, and Genesys' `disconnect()`), to the dialect's error state, and a
handler that took one of them keeps the state it chose. Audio-triggered and server-triggered moves
(`receive_binary`, `closed()`, `shutdown()`) are methods, named in each dialect's diagram. Each
dialect's module docstring lists every transition of its table (`describe_transitions` prints them;
a test checks that the docstring and the table agree).

Shared here: the frame limits (`MessageLimits`), the stream position of audio, the closing handshake,
the AudioHook envelope's sequence numbers (`Sequences`: `seq`, `serverseq`, `clientseq`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from protocol.actions import AudioReceived, CloseConnection, SendMessage, SessionAction
from protocol.audio import MediaFormat
from protocol.errors import CLOSE_NORMAL, ProtocolError
from protocol.events import SpeakerUpdate, TranscriptUpdate
from protocol.messages import PROTOCOL_VERSION
from protocol.text_frames import DEFAULT_LIMITS, MessageLimits

__all__ = [
    "Analysis",
    "Sequences",
    "Session",
    "SessionBase",
    "Transition",
    "describe_transitions",
]

Analysis = Mapping[str, Any] | None  # the call analysis block sent beside a transcript, once there is one
StateT = TypeVar("StateT", bound=enum.Enum)
SessionT = TypeVar("SessionT")
MessageT = TypeVar("MessageT")


class Session(Protocol):
    """What a transport needs of a dialect's session."""

    dialect: ClassVar[str]

    @property
    def session_id(self) -> str | None: ...

    @property
    def seconds_received(self) -> float: ...

    def connected(self) -> list[SessionAction]:
        """What to do as soon as the connection is accepted (the live dialect announces its session)."""
        ...

    def receive_text(self, data: str | bytes) -> list[SessionAction]: ...

    def receive_binary(self, data: bytes) -> list[SessionAction]: ...

    def transcript(self, update: TranscriptUpdate, analysis: Analysis) -> list[SessionAction]:
        """The actions that carry one partial or final to the client (none once it must not be sent)."""
        ...

    def speakers_updated(self, update: SpeakerUpdate) -> list[SessionAction]:
        """The end-of-call diarization's corrections (`speaker_update`), where the dialect can carry them."""
        ...

    def closed(self) -> list[SessionAction]:
        """After the server flushed the last finals of a `close`: confirm it and close normally."""
        ...

    def fail(self, error: ProtocolError) -> list[SessionAction]:
        """Answer a protocol error (or a server-side refusal, such as overload) the dialect's way."""
        ...

    def shutdown(self) -> list[SessionAction]:
        """The server is going away (the caller has flushed the finals)."""
        ...


@dataclass(frozen=True)
class Transition(Generic[SessionT, MessageT, StateT]):
    """One row of a transition table: the handler for a message in a state, and where it leads."""

    handler: Callable[[SessionT, MessageT], list[SessionAction]]
    target: StateT


def describe_transitions(table: Mapping[tuple[Any, str], Transition[Any, Any, Any]]) -> list[str]:
    """The table as diagram lines, `state --type--> target`, in the table's order."""
    return [f"{state.value} --{msg_type}--> {row.target.value}" for (state, msg_type), row in table.items()]


@dataclass
class Sequences:
    """The AudioHook envelope's sequence numbers: the client's `seq` (echoed as `clientseq`) and the
    server's own `seq` (which the client's `serverseq` may not exceed)."""

    client: int = 0
    server: int = 0

    def accept_client_seq(self, seq: int | None, *, required: bool) -> None:
        if seq is None:
            if required:
                raise ProtocolError(400, "'seq' is required")
            return
        if seq != self.client + 1:
            raise ProtocolError(400, f"'seq' must be {self.client + 1}, got {seq}")
        self.client = seq

    def check_serverseq(self, serverseq: int | None, *, required: bool) -> None:
        if serverseq is None:
            if required:
                raise ProtocolError(400, "'serverseq' is required")
            return
        if serverseq > self.server:
            raise ProtocolError(400, f"'serverseq' {serverseq} is ahead of the last server message ({self.server})")

    def server_message(self, msg_type: str, session_id: str | None, parameters: dict[str, Any]) -> dict[str, Any]:
        """A server message in the envelope, numbered."""
        self.server += 1
        return {
            "version": PROTOCOL_VERSION,
            "type": msg_type,
            "id": session_id,
            "seq": self.server,
            "clientseq": self.client,
            "parameters": parameters,
        }


@dataclass(kw_only=True)
class SessionBase(Generic[StateT]):
    """Bookkeeping every dialect shares: the limits, the audio's stream position, the closing handshake
    and dispatch through the transition table. A dialect sets `CLOSING`/`CLOSED` and implements
    `_closed_message()`."""

    dialect: ClassVar[str]
    CLOSING: ClassVar[Any]
    CLOSED: ClassVar[Any]

    limits: MessageLimits = DEFAULT_LIMITS
    state: StateT = field(init=False)
    media: MediaFormat | None = field(default=None, init=False)
    samples_received: int = field(default=0, init=False)  # per channel
    gap_samples: int = field(default=0, init=False)  # skipped audio (discarded, paused), on the stream timeline

    @property
    def seconds_received(self) -> float:
        return self.samples_received / self.media.rate if self.media else 0.0

    def connected(self) -> list[SessionAction]:
        return []

    def dispatch(
        self, table: Mapping[tuple[StateT, str], Transition[Any, MessageT, StateT]], msg_type: str, message: MessageT
    ) -> list[SessionAction] | None:
        """Run the table's transition for `msg_type` in the current state; None when it has none."""
        before = self.state
        row = table.get((before, msg_type))
        if row is None:
            return None
        actions = row.handler(self, message)
        if self.state is before:  # an error path (fail, disconnect) has already moved it
            self.state = row.target
        return actions

    def closed(self) -> list[SessionAction]:
        if self.state is not self.CLOSING:
            return []
        self.state = self.CLOSED
        return [SendMessage(self._closed_message()), CloseConnection(CLOSE_NORMAL, "session closed")]

    def _closed_message(self) -> dict[str, Any]:
        raise NotImplementedError

    def _ignore(self, message: object) -> list[SessionAction]:
        return []

    def _audio(self, samples: npt.NDArray[np.int16]) -> list[SessionAction]:
        """Decoded audio at the current stream position (after every gap so far)."""
        if not samples.shape[0]:
            return []
        first = self.samples_received + self.gap_samples
        self.samples_received += samples.shape[0]
        return [AudioReceived(samples, first)]
