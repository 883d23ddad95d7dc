"""What a session asks the transport to do: the actions both dialects' state machines return.

The server carries them out in order; the state machines never do I/O themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from protocol.audio import MediaFormat


@dataclass(frozen=True)
class SendMessage:
    """Send this JSON message to the client."""

    message: dict[str, Any]


@dataclass(frozen=True)
class SessionStarted:
    """The client opened a session: start the speech pipelines for `media`."""

    session_id: str
    media: MediaFormat
    language: str
    dialect: str = "simple"
    conversation_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # organization, participant, custom config…


@dataclass(frozen=True)
class AudioReceived:
    """Decoded audio: int16 samples shaped (samples, channels); `first_sample` is its stream position."""

    samples: npt.NDArray[np.int16]
    first_sample: int


@dataclass(frozen=True)
class AudioGap:
    """The stream position jumps by `samples` (audio discarded by the client), or audio stops for a
    pause (`samples` 0): either way the open utterances end here."""

    samples: int
    reason: str


@dataclass(frozen=True)
class LanguageChanged:
    """The client switched the call's language (a supported bare code, or `auto`)."""

    language: str


@dataclass(frozen=True)
class LanguageRefused:
    """The client asked for a language no loaded model transcribes: the call keeps its language. Log it."""

    requested: str
    reason: str


@dataclass(frozen=True)
class ClientReportedError:
    """The client sent an `error` message: log it."""

    code: int
    message: str


@dataclass(frozen=True)
class SessionEnding:
    """The client asked to close: flush the pipelines, send the last events, then `closed_message()`."""

    reason: str


@dataclass(frozen=True)
class CloseConnection:
    """Close the WebSocket with this code and reason, after `delay` seconds if the client has not by then."""

    code: int
    reason: str
    delay: float = 0.0


SessionAction = (
    SendMessage
    | SessionStarted
    | AudioReceived
    | AudioGap
    | LanguageChanged
    | LanguageRefused
    | ClientReportedError
    | SessionEnding
    | CloseConnection
)
