"""Parsing and validating client text messages into a typed envelope.

Every text frame a client sends goes through `parse_client_message`, which either returns a
`ClientMessage` or raises a `ProtocolError` whose message says exactly what is wrong, so that a
malformed message gets a readable answer instead of a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protocol.errors import ProtocolError
from protocol.text_frames import DEFAULT_LIMITS, MessageLimits, parse_json_object

PROTOCOL_VERSION = "2"  # the AudioHook envelope's `version`, in both dialects
CLIENT_MESSAGE_TYPES = frozenset({"open", "close", "ping", "paused", "resumed", "discarded", "update", "error"})


@dataclass(frozen=True)
class ClientMessage:
    """One validated client message (the AudioHook envelope)."""

    type: str
    id: str
    parameters: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None
    version: str | None = None
    serverseq: int | None = None
    position: str | None = None


def _optional_int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    # bool is an int subclass in Python; `true` is not a sequence number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(400, f"field '{key}' must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ProtocolError(400, f"field '{key}' must not be negative, got {value}")
    return value


def _optional_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(400, f"field '{key}' must be a string, got {type(value).__name__}")
    return value


def parse_client_message(data: str | bytes, limits: MessageLimits = DEFAULT_LIMITS) -> ClientMessage:
    """Parse one text frame; raise `ProtocolError` with a readable message when it is not valid."""
    message = parse_envelope(data, limits)
    check_known_type(message)
    return message


def message_type(obj: dict[str, Any]) -> str:
    """The `type` of a parsed message (every dialect's messages have one), or ProtocolError."""
    msg_type = obj.get("type")
    if msg_type is None:
        raise ProtocolError(400, "message has no 'type' field")
    if not isinstance(msg_type, str):
        raise ProtocolError(400, f"field 'type' must be a string, got {type(msg_type).__name__}")
    return msg_type


def check_known_type(message: ClientMessage) -> None:
    if message.type not in CLIENT_MESSAGE_TYPES:
        known = ", ".join(sorted(CLIENT_MESSAGE_TYPES))
        raise ProtocolError(400, f"unknown message type {message.type[:40]!a} (expected one of: {known})")


def parse_envelope(data: str | bytes, limits: MessageLimits = DEFAULT_LIMITS) -> ClientMessage:
    """Parse the envelope of one text frame, whatever its `type` (sequence numbers count every message)."""
    obj = parse_json_object(data, limits)
    msg_type = message_type(obj)
    session_id = _optional_str(obj, "id")
    if not session_id:
        raise ProtocolError(400, f"{msg_type[:40]!a} message has no session 'id'")

    parameters = obj.get("parameters", {})
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise ProtocolError(400, f"field 'parameters' must be an object, got {type(parameters).__name__}")

    version = obj.get("version")
    if version is not None and not isinstance(version, str | int):
        raise ProtocolError(400, f"field 'version' must be a string, got {type(version).__name__}")

    return ClientMessage(
        type=msg_type,
        id=session_id,
        parameters=parameters,
        seq=_optional_int(obj, "seq"),
        version=None if version is None else str(version),
        serverseq=_optional_int(obj, "serverseq"),
        position=_optional_str(obj, "position"),
    )
