"""The simple dialect as the client speaks it: the audio it sends, its `open` and `close`, and how it reads replies.

The client sends PCM16 16 kHz mono in binary frames after an `open` that says so, and ends with a
`close`; the server answers with JSON messages whose `parameters` carry transcript entities and the
call analysis. The session, the results and the console all read those messages the same way, so the
wire format and the tolerant readers (a missing or malformed field is not an error) live here.
"""

from __future__ import annotations

import json
from typing import Any, TypeGuard

PROTOCOL_VERSION = "2"
SAMPLE_RATE = 16000
BYTES_PER_SAMPLE = 2
MAX_MESSAGE_BYTES = 4 * 2**20


def open_message(session_id: str, language: str | None, seq: int = 1) -> dict[str, Any]:
    """The simple dialect's `open`: PCM16, 16 kHz, mono; no `language`: the server detects it."""
    media = [{"type": "audio", "codec": "audio/pcm", "rate": SAMPLE_RATE, "channels": ["mono"]}]
    parameters: dict[str, Any] = {"media": media}
    if language is not None:
        parameters["language"] = language
    return {"version": PROTOCOL_VERSION, "type": "open", "id": session_id, "seq": seq, "parameters": parameters}


def close_message(session_id: str, seq: int, reason: str) -> dict[str, Any]:
    """The `close` that ends the session: reason "end", or "disconnect" after the server's `disconnect`."""
    return {
        "version": PROTOCOL_VERSION,
        "type": "close",
        "id": session_id,
        "seq": seq,
        "parameters": {"reason": reason},
    }


def json_object(text: str) -> dict[str, Any] | None:
    """A server text frame as a JSON object; None when it is not JSON or not an object."""
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        return None
    return message if isinstance(message, dict) else None


def parameters_of(message: dict[str, Any]) -> dict[str, Any]:
    """A server message's `parameters`, or `{}` when it has none (or they are not an object)."""
    params = message.get("parameters")
    return params if isinstance(params, dict) else {}


def is_transcript(entity: Any) -> TypeGuard[dict[str, Any]]:
    """Whether an event's entity is a transcript (an entity without a `type` is one)."""
    return isinstance(entity, dict) and entity.get("type", "transcript") == "transcript"
