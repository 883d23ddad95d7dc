"""Logging set-up: text for people, JSON lines for log pipelines, session context on every line.

Each connection runs in its own asyncio task; `session_context` (a ContextVar) carries its session id,
conversation id and dialect, and `SessionContextFilter` copies them onto every record logged from that
task (and the tasks it starts), so a log pipeline can follow one call.

Logged values come from clients (session ids, reasons, header values): both formatters escape control
characters and lone surrogates in the message and the session context (`safe_text.log_text`), so one
record is always one line that no client string can break or forge, and the JSON lines always
encode. Tracebacks stay as they are (they are the server's own text).
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime
from typing import Any

from audiohook_server.safe_text import log_text, utf8_safe

session_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("session_context", default=None)

CONTEXT_FIELDS = ("session_id", "conversation_id", "dialect")


def bind_session(**fields: str | None) -> None:
    """Add fields to the current task's session context (None values are dropped)."""
    current = dict(session_context.get() or {})
    current.update({k: v for k, v in fields.items() if v is not None})
    session_context.set(current)


class SessionContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = session_context.get() or {}
        for name in CONTEXT_FIELDS:
            setattr(record, name, context.get(name))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, session context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": utf8_safe(record.getMessage()),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value:
                entry[name] = utf8_safe(str(value))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = log_text(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        session = getattr(record, "session_id", None)
        if not session:
            return text
        session = log_text(session)
        return f"{text} [session {session}]" if session not in record.message else text


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(SessionContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if root.level > logging.DEBUG:
        # One line per connection and per utterance from these libraries is noise at INFO.
        logging.getLogger("websockets").setLevel(logging.WARNING)
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    # uvicorn logs each WebSocket upgrade with its query string at INFO ("WebSocket /audiohook?x-api-key=…
    # [accepted]"): query strings carry API keys and tokens, which never go to a log. Its warnings stay.
    logging.getLogger("uvicorn.error").setLevel(max(logging.WARNING, root.level))
