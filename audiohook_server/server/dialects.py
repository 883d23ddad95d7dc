"""Which sans-I/O session a connection gets, from its handshake or, failing that, its first message.

Genesys announces itself with `Audiohook-*` headers; a client that does not is Genesys when its first
message has the v2 envelope and Genesys `open` parameters, and the simple dialect otherwise. The JWT
door (`/ws/transcribe`) always gets the live dialect. Adding a dialect means adding its session module
in `protocol/` and a line here.
"""

from __future__ import annotations

import uuid

from audiohook_server.auth.handshake import Handshake
from audiohook_server.settings import Settings
from protocol.errors import ProtocolError
from protocol.genesys import GenesysSession
from protocol.live import LiveSession
from protocol.session import Session
from protocol.simple import SimpleSession
from protocol.text_frames import MessageLimits, parse_json_object

__all__ = ["looks_like_genesys", "message_limits", "new_session"]


def message_limits(settings: Settings) -> MessageLimits:
    return MessageLimits(max_text_bytes=settings.max_text_bytes, max_binary_bytes=settings.max_frame_bytes)


def looks_like_genesys(frame: str | bytes, limits: MessageLimits) -> bool:
    """A first message with the v2 envelope and Genesys open parameters (no Audiohook-* headers seen)."""
    try:
        message = parse_json_object(frame, limits)
    except ProtocolError:
        return False
    if message.get("version") != "2" or message.get("type") != "open":
        return False
    parameters = message.get("parameters")
    return isinstance(parameters, dict) and "conversationId" in parameters and "organizationId" in parameters


def new_session(dialect: str, handshake: Handshake, settings: Settings) -> Session:
    limits = message_limits(settings)
    if dialect == "genesys":
        return GenesysSession(
            limits=limits,
            session_id=handshake.session_id,
            organization_id=handshake.organization_id,
            languages=settings.languages,
            supported_languages=settings.genesys_tags,
            default_language=settings.language,
            media_preference=settings.media_preference,
            send_partials=settings.genesys_partials and settings.partials != "off",
            send_analysis_entity=settings.genesys_analytics_entity,
            unauthorized_reason=handshake.unauthorized_reason,
        )
    if dialect == "live":
        language = settings.languages.resolve(settings.language)
        return LiveSession(str(uuid.uuid4()), language=language, details=handshake.auth_details(), limits=limits)
    return SimpleSession(limits=limits, languages=settings.languages, default_language=settings.language)
