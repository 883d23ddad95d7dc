"""The HTTP live-capture session (`/analyze/live/*`), sans-I/O: chunk numbering, control, lifetime.

A browser microphone, a softphone or a serverless function that cannot hold a WebSocket pushes its
audio as numbered HTTP chunks and reads one Server-Sent-Events stream. This module holds the rules of
one such session, so that the door (server/capture.py) only moves bytes and events:

    waiting-media --first chunk--> ingesting --finalize--> finalizing --pipeline done--> done
          |                            |
          +------- cancel / expiry / a fatal error --------------------> ending --> done

- `chunk_seq` must equal `next_chunk_seq` (0, 1, 2, ...); a gap or a stale number is a 409 that says
  which number is expected. A resend of the last accepted chunk (its acknowledgement was lost) is
  acknowledged again, not appended twice; a *different* chunk under that number is a 409.
- A chunk over `max_chunk_bytes` is a 413; chunks after `finalize` or `cancel` are a 409.
- `control`: `finalize` (no more chunks; the pipeline finishes what it has), `cancel` (abort; the
  consumer gets `error` with the reason), `keepalive` (extends the lifetime); anything else is a 422.
- The session expires `ttl_s` after its last sign of life (a chunk, a keepalive, a consumer
  attached); an expired session is finalized from what it received.
- One events consumer at a time (a second is a 409).

Times are seconds since the epoch (the caller's clock), so the state survives a restart (`to_record`).
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "DEFAULT_SUFFIX",
    "DEFAULT_TTL_S",
    "MAX_TTL_S",
    "MIN_TTL_S",
    "CaptureError",
    "CaptureSession",
    "CaptureState",
    "ChunkAck",
    "StartRequest",
    "iso_utc",
]

MIN_TTL_S = 60
MAX_TTL_S = 3600
DEFAULT_TTL_S = 900
DEFAULT_SUFFIX = ".mp4"
MAX_GOAL_CHARS = 2000
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,10}$")


class CaptureState(enum.Enum):
    WAITING_MEDIA = "waiting_media"
    INGESTING = "ingesting"
    FINALIZING = "finalizing"  # finalize received: no more chunks, the pipeline finishes
    ENDING = "ending"  # cancelled, expired or failed: what was received is being written
    DONE = "done"


class CaptureError(Exception):
    """A request refused: the HTTP status, a message for the client and fields for the JSON body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"detail": self.message, **self.extra}


def iso_utc(seconds: float) -> str:
    """`2025-11-08T18:12:04.991Z`: ISO 8601 UTC with milliseconds, as the published API writes it."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class StartRequest:
    """The validated body of `POST /analyze/live/start` (every field optional)."""

    filename: str | None = None
    suffix: str = DEFAULT_SUFFIX
    ttl_s: int = DEFAULT_TTL_S
    goal: str = ""
    language: str | None = None  # as the client wrote it (checked against the server's languages later)

    @classmethod
    def parse(cls, body: Any) -> StartRequest:
        """From the JSON body (None or an object); CaptureError 422 saying what is wrong."""
        if body is None:
            return cls()
        if not isinstance(body, dict):
            raise CaptureError(422, "the body must be a JSON object")
        filename = body.get("filename")
        if filename is not None and (not isinstance(filename, str) or len(filename) > 255):
            raise CaptureError(422, "'filename' must be a string of at most 255 characters")
        suffix = body.get("suffix")
        if suffix is None:
            guessed = filename.rsplit(".", 1)[-1] if filename and "." in filename else None
            suffix = f".{guessed}" if guessed and _SUFFIX.match(f".{guessed}") else DEFAULT_SUFFIX
        if not isinstance(suffix, str):
            raise CaptureError(422, "'suffix' must be a string like .wav")
        suffix = suffix if suffix.startswith(".") else f".{suffix}"
        if not _SUFFIX.match(suffix):
            raise CaptureError(422, f"'suffix' must look like .wav or .webm, got {suffix[:20]!r}")
        ttl = body.get("ttl_seconds", DEFAULT_TTL_S)
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not MIN_TTL_S <= ttl <= MAX_TTL_S:
            raise CaptureError(422, f"'ttl_seconds' must be an integer from {MIN_TTL_S} to {MAX_TTL_S}")
        goal = body.get("goal", "")
        if goal is None:
            goal = ""
        if not isinstance(goal, str) or len(goal) > MAX_GOAL_CHARS:
            raise CaptureError(422, f"'goal' must be a string of at most {MAX_GOAL_CHARS} characters")
        return cls(filename, suffix.lower(), ttl, goal, requested_language(body.get("language")))


def requested_language(value: object) -> str | None:
    """A `language` field as a client sent it (start body, replay form): None or a short string, checked
    against the server's languages later; CaptureError 422 for anything else."""
    if value is not None and (not isinstance(value, str) or len(value) > 20):
        raise CaptureError(422, "'language' must be a language code such as 'en', 'de' or 'auto'")
    return value


@dataclass(frozen=True)
class ChunkAck:
    received_bytes: int
    next_chunk_seq: int
    duplicate: bool = False  # a resend of the last chunk: acknowledged, not appended
    first: bool = False  # the session's first chunk (ingesting from now on)


@dataclass
class CaptureSession:
    session_id: str
    conversation_id: str
    created_at: float
    ttl_s: int = DEFAULT_TTL_S
    goal: str = ""
    suffix: str = DEFAULT_SUFFIX
    filename: str | None = None
    max_chunk_bytes: int = 1 << 20
    language: str = "auto"  # a supported bare code, or auto
    state: CaptureState = CaptureState.WAITING_MEDIA
    next_chunk_seq: int = 0
    received_bytes: int = 0
    last_activity: float = 0.0
    end_reason: str = ""  # cancelled, expired, failed: why it ended early
    _last_digest: str = field(default="", repr=False)
    _consumer: bool = False

    def __post_init__(self) -> None:
        self.last_activity = self.last_activity or self.created_at

    @property
    def expires_at(self) -> float:
        return self.last_activity + self.ttl_s

    @property
    def accepting_chunks(self) -> bool:
        return self.state in (CaptureState.WAITING_MEDIA, CaptureState.INGESTING)

    def expired(self, now: float) -> bool:
        return self.accepting_chunks and not self._consumer and now >= self.expires_at

    # ---- chunks ----

    def chunk(self, seq: object, data: bytes, now: float) -> ChunkAck:
        """Account one chunk; the caller appends `data` only when the ack is not a duplicate."""
        number = self._seq(seq)
        digest = hashlib.sha256(data).hexdigest()
        if number == self.next_chunk_seq - 1 and self.next_chunk_seq > 0:
            if digest != self._last_digest:
                raise CaptureError(
                    409,
                    f"chunk {number} was already accepted with other content; send chunk {self.next_chunk_seq}",
                    next_chunk_seq=self.next_chunk_seq,
                )
            self.last_activity = now
            return ChunkAck(self.received_bytes, self.next_chunk_seq, duplicate=True)
        if not self.accepting_chunks:
            raise CaptureError(409, f"the session is {self.state.value}: it takes no more chunks")
        if number != self.next_chunk_seq:
            raise CaptureError(
                409,
                f"chunk_seq {number} is out of order: send chunk {self.next_chunk_seq}",
                next_chunk_seq=self.next_chunk_seq,
            )
        if len(data) > self.max_chunk_bytes:
            raise CaptureError(413, f"a chunk of {len(data)} bytes is over the {self.max_chunk_bytes}-byte limit")
        if not data:
            raise CaptureError(422, "the chunk is empty")
        first = self.state is CaptureState.WAITING_MEDIA
        self.state = CaptureState.INGESTING
        self.next_chunk_seq += 1
        self.received_bytes += len(data)
        self._last_digest = digest
        self.last_activity = now
        return ChunkAck(self.received_bytes, self.next_chunk_seq, first=first)

    @staticmethod
    def _seq(seq: object) -> int:
        if isinstance(seq, bool) or not isinstance(seq, int | str):
            raise CaptureError(422, "'chunk_seq' is required: the chunk's number, 0, 1, 2, ...")
        text = str(seq).strip()
        if not text.isdigit() or len(text) > 12:
            raise CaptureError(422, f"'chunk_seq' must be a whole number, got {text[:20]!r}")
        return int(text)

    # ---- control ----

    def control(self, action: object, now: float) -> str:
        """Apply a control action; returns what it did (for the response's `detail`)."""
        if action == "keepalive":
            if self.state is CaptureState.DONE:
                raise CaptureError(409, "the session is done")
            self.last_activity = now
            return f"lifetime extended to {iso_utc(self.expires_at)}"
        if action == "finalize":
            if self.state is CaptureState.FINALIZING:
                return "already finalizing"
            if not self.accepting_chunks:
                raise CaptureError(409, f"the session is {self.state.value}: it cannot be finalized")
            self.state = CaptureState.FINALIZING
            self.last_activity = now
            return "ingest stopped; the last transcripts and the analysis follow on the events stream"
        if action == "cancel":
            if self.state in (CaptureState.ENDING, CaptureState.DONE):
                raise CaptureError(409, f"the session is already {self.state.value}")
            self.end("cancelled")
            return "processing aborted; the events stream gets an error, then done"
        raise CaptureError(422, "'action' must be one of finalize, cancel, keepalive")

    def end(self, reason: str) -> None:
        """Cancelled, expired or failed: no more chunks; what was received is written."""
        if self.state not in (CaptureState.ENDING, CaptureState.DONE):
            self.state = CaptureState.ENDING
            self.end_reason = reason

    def done(self) -> None:
        self.state = CaptureState.DONE

    # ---- the events consumer ----

    def attach_check(self) -> None:
        """CaptureError 409 while another consumer reads the events."""
        if self._consumer:
            raise CaptureError(409, "another consumer is reading this session's events: one at a time")

    def attach(self, now: float) -> None:
        self.attach_check()
        self._consumer = True
        self.last_activity = now

    def detach(self, now: float) -> None:
        self._consumer = False
        self.last_activity = now

    # ---- persistence ----

    def to_record(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "conversation_id": self.conversation_id,
            "created_at": self.created_at,
            "ttl_s": self.ttl_s,
            "goal": self.goal,
            "suffix": self.suffix,
            "filename": self.filename,
            "max_chunk_bytes": self.max_chunk_bytes,
            "language": self.language,
            "state": self.state.value,
            "next_chunk_seq": self.next_chunk_seq,
            "received_bytes": self.received_bytes,
            "last_activity": self.last_activity,
            "end_reason": self.end_reason,
            "last_digest": self._last_digest,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> CaptureSession:
        session = cls(
            session_id=str(record["session_id"]),
            conversation_id=str(record["conversation_id"]),
            created_at=float(record["created_at"]),
            ttl_s=int(record["ttl_s"]),
            goal=str(record.get("goal", "")),
            suffix=str(record.get("suffix", DEFAULT_SUFFIX)),
            filename=record.get("filename"),
            max_chunk_bytes=int(record.get("max_chunk_bytes", 1 << 20)),
            language=str(record.get("language", "auto")),
            state=CaptureState(record["state"]),
            next_chunk_seq=int(record["next_chunk_seq"]),
            received_bytes=int(record["received_bytes"]),
            last_activity=float(record["last_activity"]),
            end_reason=str(record.get("end_reason", "")),
        )
        session._last_digest = str(record.get("last_digest", ""))
        return session
