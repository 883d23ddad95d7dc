"""The options of one session: the keywords `stream_audio` and `stream_wav` take, their defaults and checks.

Both functions take the same keywords and the session runs on all of them. Written out as parameters,
that list stood four times (two signatures, the call from one function to the other, the session's
constructor) and only review kept the copies in step. Here it is written once for callers, as the
typed `**keywords` of both functions (`StreamKeywords`, PEP 692), and once for the session, with the
defaults filled in and checked (`StreamOptions`); mypy checks each call against the first and the
first against the second.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Required, TypedDict

from audiohook_server.client.dialect import BYTES_PER_SAMPLE, MAX_MESSAGE_BYTES, SAMPLE_RATE
from audiohook_server.client.results import ReceivedEvent

DEFAULT_OPEN_TIMEOUT_S = 10.0


class StreamKeywords(TypedDict, total=False):
    """The keyword arguments of `stream_audio` and `stream_wav`; `api_key` is required, `StreamOptions` has the rest."""

    api_key: Required[str | None]
    speed: float
    frame_ms: int
    session_id: str | None
    language: str | None
    on_message: Callable[[ReceivedEvent], None] | None
    on_progress: Callable[[float], None] | None
    close_timeout: float
    open_timeout: float
    bearer_token: str | None
    ssl_context: ssl.SSLContext | None


@dataclass(frozen=True, kw_only=True)
class StreamOptions:
    """One session's options with the defaults filled in; making one checks them (`ValueError`)."""

    api_key: str | None  # sent as the x-api-key query parameter; None or "": none sent
    speed: float = 1.0  # divides real time; 0 or inf: as fast as the connection takes it
    frame_ms: int = 500  # audio per binary frame
    session_id: str | None = None  # None: a random UUID
    language: str | None = None  # the language asked for in `open`; None: not sent (the server detects it)
    on_message: Callable[[ReceivedEvent], None] | None = None  # every server message, as it arrives
    on_progress: Callable[[float], None] | None = None  # the seconds of audio sent, after each frame
    close_timeout: float = 120.0  # after `close`, how long to wait for `closed` and the socket's close
    open_timeout: float = DEFAULT_OPEN_TIMEOUT_S  # how long to connect, and then how long to wait for `opened`
    bearer_token: str | None = None  # a JWT, sent as `Authorization: Bearer` (instead of, or with, the key)
    ssl_context: ssl.SSLContext | None = None  # for wss:// (None: the system's default trust)

    def __post_init__(self) -> None:
        if math.isnan(self.speed) or self.speed < 0:
            raise ValueError(f"speed must be 0 (as fast as possible), a positive number or inf, got {self.speed}")
        if self.frame_ms <= 0:
            raise ValueError(f"frame_ms must be positive, got {self.frame_ms}")
        if self.frame_samples * BYTES_PER_SAMPLE > MAX_MESSAGE_BYTES:
            raise ValueError(f"frame_ms {self.frame_ms} makes frames larger than {MAX_MESSAGE_BYTES} bytes")
        if not self.open_timeout > 0 or not self.close_timeout > 0:
            raise ValueError("timeouts must be positive")
        if self.session_id is not None and not self.session_id:
            raise ValueError("session_id must not be empty")

    @property
    def frame_samples(self) -> int:
        """Samples per binary frame."""
        return self.frame_ms * SAMPLE_RATE // 1000
