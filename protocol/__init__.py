"""Sans-I/O AudioHook protocol core.

Bytes and dicts in, actions out: message parsing and validation, the session state machine,
and audio codecs. Nothing here touches sockets, threads, files or models, so every rule can be
tested with plain unit tests and reused by any transport.
"""

from protocol.actions import (
    AudioGap,
    AudioReceived,
    ClientReportedError,
    CloseConnection,
    LanguageChanged,
    SendMessage,
    SessionAction,
    SessionEnding,
    SessionStarted,
)
from protocol.audio import AudioDecoder, MediaFormat, decode_ulaw
from protocol.errors import ProtocolError
from protocol.events import TranscriptUpdate, Word, format_duration, parse_duration
from protocol.messages import ClientMessage, parse_client_message
from protocol.simple import SimpleSession, State

__all__ = [
    "AudioDecoder",
    "AudioGap",
    "AudioReceived",
    "ClientMessage",
    "ClientReportedError",
    "CloseConnection",
    "LanguageChanged",
    "MediaFormat",
    "ProtocolError",
    "SendMessage",
    "SessionAction",
    "SessionEnding",
    "SessionStarted",
    "SimpleSession",
    "State",
    "TranscriptUpdate",
    "Word",
    "decode_ulaw",
    "format_duration",
    "parse_client_message",
    "parse_duration",
]
