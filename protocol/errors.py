"""Protocol errors: one exception that carries both the AudioHook error code and the WebSocket close code.

The AudioHook codes (400 bad request, 405 not allowed in this state, 413 too large, 415 unsupported
media) go into the `error` message sent to the client; the close code says the same thing to the
WebSocket layer (RFC 6455 §7.4.1).
"""

from __future__ import annotations

# WebSocket close codes used by the server (RFC 6455 §7.4.1).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013


class ProtocolError(Exception):
    """A client broke the protocol; `code` is the AudioHook error code, `close_code` the WebSocket one."""

    def __init__(self, code: int, message: str, close_code: int = CLOSE_POLICY_VIOLATION) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code

    def __repr__(self) -> str:
        return f"ProtocolError({self.code}, {self.message!r}, close_code={self.close_code})"


def close_reason(message: str) -> str:
    """A WebSocket close reason: at most 123 bytes of UTF-8 (cut at 120, never mid-character; text that
    is not valid Unicode, such as a lone surrogate a client sent, is replaced rather than raising)."""
    return message.encode("utf-8", errors="replace")[:120].decode("utf-8", errors="ignore")


def bounded(message: str, limit: int = 300) -> str:
    """Error texts quote what the client sent: keep them short."""
    return message if len(message) <= limit else message[: limit - 1] + "…"
