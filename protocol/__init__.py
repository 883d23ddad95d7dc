"""Sans-I/O AudioHook protocol core.

Bytes and dicts in, actions out: message parsing and validation, the session state machine,
and audio codecs. Nothing here touches sockets, threads, files or models, so every rule can be
tested with plain unit tests and reused by any transport.
"""

from protocol.audio import AudioDecoder, MediaFormat, decode_ulaw
from protocol.errors import ProtocolError
from protocol.messages import ClientMessage, parse_client_message
from protocol.simple import (
    AudioReceived,
    CloseConnection,
    SendMessage,
    SessionAction,
    SessionEnding,
    SessionStarted,
    SimpleSession,
    State,
)

__all__ = [
    "AudioDecoder",
    "AudioReceived",
    "ClientMessage",
    "CloseConnection",
    "MediaFormat",
    "ProtocolError",
    "SendMessage",
    "SessionAction",
    "SessionEnding",
    "SessionStarted",
    "SimpleSession",
    "State",
    "decode_ulaw",
    "parse_client_message",
]
